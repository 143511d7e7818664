package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
)

// referralVersion is the standard's 999 example as a routine referral of
// the demo adult to Y99999, with MessageHeader id headerID and reason
// (new, update or cancel); edit changes it further.
func referralVersion(t *testing.T, headerID, reason string, edit func(b map[string]any)) string {
	return exampleReferral(t, "referral-999-to-CAS.json", func(b map[string]any) {
		h := entryOf(b, "MessageHeader")
		h["id"] = headerID
		h["reason"] = map[string]any{"coding": []any{map[string]any{"system": "https://fhir.nhs.uk/CodeSystem/message-reason-bars", "code": reason}}}
		h["destination"] = []any{map[string]any{"endpoint": "https://practice.example/bars",
			"receiver": map[string]any{"identifier": map[string]any{"system": clinicalsystem.ODSSystem, "value": "Y99999"}}}}
		entryOf(b, "Patient")["identifier"] = []any{map[string]any{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990010005"}}
		entryOf(b, "ServiceRequest")["priority"] = "routine"
		entryOf(b, "Encounter")["class"] = map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}
		if reason == "cancel" {
			entryOf(b, "ServiceRequest")["status"] = "revoked"
		}
		if edit != nil {
			edit(b)
		}
	})
}

// withChestPain adds an Observation coded as chest pain (a red flag).
func withChestPain(b map[string]any) {
	b["entry"] = append(b["entry"].([]any), map[string]any{"fullUrl": "urn:uuid:5b0c7a7e-2f51-4a0e-9c1e-3c1d2e4f5a60",
		"resource": map[string]any{"resourceType": "Observation", "status": "final",
			"code":        map[string]any{"coding": []any{map[string]any{"system": "http://snomed.info/sct", "code": "29857009", "display": "Chest pain"}}},
			"valueString": "Tight feeling in the chest since this morning"}})
}

// TestBaRSReceivedReferralUpdateAndCancel: over HTTP on both stores, the
// sender of a referral received before updates it (the Task's inputs and
// message link change; a red flag added re-navigates it under the safety
// rules; an update without clinical change does not) and cancels it (the
// Task cancelled, its allocation revoked); another sender, or a
// practice's user token, changes nothing and gets the standard's error;
// the same update or cancellation twice has one effect and the same
// answer; a completed referral is not cancelled (409 REC_CONFLICT).
func TestBaRSReceivedReferralUpdateAndCancel(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			st := sc.open(t)
			g := newNavGateway(t, st, nvOptions{delivery: true})
			nav := nvNavigator("expert", "Y99999")
			post := func(claims map[string]any, body string) reply {
				return g.as(claims, "POST", "/$process-message", body, "Content-Type", "application/fhir+json",
					"X-Request-ID", uuid.NewString(), "X-Correlation-ID", uuid.NewString())
			}
			bundles := func() int {
				page, err := st.History(ctx, store.HistoryQuery{Type: "Bundle", Count: 10})
				require.NoError(t, err)
				return page.Total
			}
			taskOf := func(headerID string) map[string]any {
				found := g.as(nav, "GET", "/Task?identifier="+nvBase+"/sid/bars-message|"+headerID, "").json(t)
				require.Len(t, listAny(found["entry"]), 1, "%v", found)
				return listAny(found["entry"])[0].(map[string]any)["resource"].(map[string]any)
			}
			read := func(path string) map[string]any {
				r := g.as(nav, "GET", path, "")
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
				return r.json(t)
			}
			alloc := func(task map[string]any) string {
				for _, o := range listAny(task["output"]) {
					if ref, ok := o.(map[string]any)["valueReference"].(map[string]any); ok && strings.HasPrefix(fmt.Sprint(ref["reference"]), "ServiceRequest/") {
						return fmt.Sprint(ref["reference"])
					}
				}
				return ""
			}
			meta := func(task map[string]any) string { return fmt.Sprint(task["meta"].(map[string]any)["versionId"]) }

			// A new referral from NHS 111, recorded as NHS111's.
			const h1 = "6a1f6f0e-0b1c-4c59-9a1e-1f2e3d4c5b01"
			r := post(nhs111System, referralVersion(t, h1, "new", nil))
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			task := taskOf(h1)
			id := fmt.Sprint(task["id"])
			assert.Equal(t, "NHS111", task["requester"].(map[string]any)["identifier"].(map[string]any)["value"], "the token's organisation is the sender")
			first := alloc(task)
			require.NotEmpty(t, first, "navigated: %v", task["businessStatus"])
			t.Logf("new referral: %v, %s", task["businessStatus"], first)
			v0, n0 := meta(task), bundles()

			// Another sender, a practice's user token, and a wildcard
			// system token change nothing.
			other := map[string]any{"scope": "system/MessageHeader.c", "ods": []string{"UTC01"}, "sub": "utc-system", "client_id": "utc"}
			upd := referralVersion(t, "6a1f6f0e-0b1c-4c59-9a1e-1f2e3d4c5b02", "update", withChestPain)
			r = post(other, upd)
			assert.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
			assert.Equal(t, "REC_FORBIDDEN", barsErrorCode(t, r))
			r = post(nvNavigator("expert", "B82002"), upd)
			assert.Equal(t, http.StatusForbidden, r.status, "a practice's user token: %s", r.body)
			r = post(map[string]any{"scope": "system/*.cruds", "ods": []string{"NHS111"}, "sub": "wild", "client_id": "wild"}, upd)
			assert.Equal(t, http.StatusForbidden, r.status, "a wildcard scope: %s", r.body)
			cancelOther := referralVersion(t, "6a1f6f0e-0b1c-4c59-9a1e-1f2e3d4c5b09", "cancel", nil)
			r = post(other, cancelOther)
			assert.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
			assert.Equal(t, v0, meta(read("/Task/"+id)), "the Task is unchanged")
			assert.Equal(t, n0, bundles(), "nothing stored")

			// An update with the same content: stored and linked, not
			// navigated again.
			const h2 = "6a1f6f0e-0b1c-4c59-9a1e-1f2e3d4c5b03"
			r = post(nhs111System, referralVersion(t, h2, "update", nil))
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			task = read("/Task/" + id)
			assert.Equal(t, first, alloc(task), "no clinical change: the decision stands")
			assert.Contains(t, fmt.Sprint(task["note"]), "no change to the clinical content")
			assert.Contains(t, fmt.Sprint(task["identifier"]), h2)

			// The sender's update adds a red flag: the inputs change and
			// the Task is navigated again, to emergency services.
			const h3 = "6a1f6f0e-0b1c-4c59-9a1e-1f2e3d4c5b04"
			body3 := referralVersion(t, h3, "update", withChestPain)
			r1 := post(nhs111System, body3)
			require.Equal(t, http.StatusOK, r1.status, "%s", r1.body)
			task = read("/Task/" + id)
			in := inputsOf(task)
			assert.Contains(t, fmt.Sprint(in["symptom"]), "29857009")
			assert.Contains(t, fmt.Sprint(in["problem"]), "Tight feeling in the chest")
			focus := task["focus"].(map[string]any)["reference"].(string)
			stored, err := st.Read(ctx, "Bundle", strings.TrimPrefix(focus, "Bundle/"))
			require.NoError(t, err)
			assert.Contains(t, string(stored.Body), h3, "the Task links the update")
			second := alloc(task)
			require.NotEqual(t, first, second, "navigated again")
			assert.Contains(t, fmt.Sprint(read("/" + second)["category"]), "emergency", "the red flag decides")
			assert.Equal(t, "revoked", read("/" + first)["status"])
			// The same update again: the same answer, no second effect.
			v1, n1 := meta(task), bundles()
			r2 := post(nhs111System, body3)
			require.Equal(t, http.StatusOK, r2.status, "%s", r2.body)
			assert.Equal(t, string(r1.body), string(r2.body))
			assert.Equal(t, v1, meta(read("/Task/"+id)))
			assert.Equal(t, n1, bundles())

			// The sender cancels: the Task is cancelled and says why, its
			// allocation revoked; twice, one effect and the same answer.
			const h4 = "6a1f6f0e-0b1c-4c59-9a1e-1f2e3d4c5b05"
			c1 := post(nhs111System, referralVersion(t, h4, "cancel", nil))
			require.Equal(t, http.StatusOK, c1.status, "%s", c1.body)
			task = read("/Task/" + id)
			assert.Equal(t, "cancelled", task["status"])
			assert.Contains(t, fmt.Sprint(task["businessStatus"]), "referral-cancelled")
			assert.Contains(t, fmt.Sprint(task["statusReason"]), h4)
			assert.Equal(t, "revoked", read("/" + second)["status"])
			v2, n2 := meta(task), bundles()
			c2 := post(nhs111System, referralVersion(t, h4, "cancel", nil))
			require.Equal(t, http.StatusOK, c2.status, "%s", c2.body)
			assert.Equal(t, string(c1.body), string(c2.body))
			assert.Equal(t, v2, meta(read("/Task/"+id)))
			assert.Equal(t, n2, bundles())
			// An update of a cancelled referral.
			r = post(nhs111System, referralVersion(t, "6a1f6f0e-0b1c-4c59-9a1e-1f2e3d4c5b06", "update", nil))
			assert.Equal(t, http.StatusConflict, r.status, "%s", r.body)
			assert.Equal(t, "REC_CONFLICT", barsErrorCode(t, r))

			// A completed referral is not cancelled.
			const h5 = "6a1f6f0e-0b1c-4c59-9a1e-1f2e3d4c5b07"
			otherSR := func(b map[string]any) {
				sr := entryOf(b, "ServiceRequest")
				sr["identifier"] = []any{map[string]any{"system": "https://nhs111.example/referral", "value": "R-42"}}
			}
			r = post(nhs111System, referralVersion(t, h5, "new", otherSR))
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			done := taskOf(h5)
			require.NotEqual(t, id, done["id"], "another referral (its identifier), another Task")
			done["status"] = "completed"
			w := g.as(nav, "PUT", "/Task/"+fmt.Sprint(done["id"]), mustJSON(t, done), "If-Match", `W/"`+meta(done)+`"`)
			require.Equal(t, http.StatusOK, w.status, "%s", w.body)
			r = post(nhs111System, referralVersion(t, "6a1f6f0e-0b1c-4c59-9a1e-1f2e3d4c5b08", "cancel", otherSR))
			assert.Equal(t, http.StatusConflict, r.status, "%s", r.body)
			assert.Equal(t, "REC_CONFLICT", barsErrorCode(t, r))
			assert.Equal(t, "completed", read("/Task/" + fmt.Sprint(done["id"]))["status"])
		})
	}
}

// TestBaRSReferralSender: who may send a referral to a practice. A
// system client holding system/MessageHeader.c, its token's organisation
// recorded as the sender; a message naming another sender, a user token
// (a practice forging a referral to another), a wildcard scope or a token
// of no single organisation is refused with the standard's 403 and
// nothing is stored.
func TestBaRSReferralSender(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			st := sc.open(t)
			g := newNavGateway(t, st, nvOptions{delivery: true})
			count := func(typ string) int {
				page, err := st.History(ctx, store.HistoryQuery{Type: typ, Count: 10})
				require.NoError(t, err)
				return page.Total
			}
			post := func(claims map[string]any, body string) reply {
				return g.as(claims, "POST", "/$process-message", body, "Content-Type", "application/fhir+json",
					"X-Request-ID", uuid.NewString(), "X-Correlation-ID", uuid.NewString())
			}
			tasks, patients := count("Task"), count("Patient")
			namedSender := func(ods string) func(b map[string]any) {
				return func(b map[string]any) {
					for _, e := range b["entry"].([]any) {
						res := e.(map[string]any)["resource"].(map[string]any)
						if res["resourceType"] == "Organization" && res["name"] == "Sender Organization" {
							res["identifier"] = []any{map[string]any{"system": clinicalsystem.ODSSystem, "value": ods}}
						}
					}
				}
			}
			const hid = "7b2e7f1f-1c2d-4d6a-8b2f-2a3b4c5d6e01"
			for name, claims := range map[string]map[string]any{
				"another sender named": nhs111System,
				"a practice user":      nvNavigator("expert", "B82002"),
				"a wildcard scope":     {"scope": "system/*.cruds", "ods": []string{"NHS111"}, "sub": "wild", "client_id": "wild"},
				"no organisation":      {"scope": "system/MessageHeader.c", "sub": "anon", "client_id": "anon"},
				"two organisations":    {"scope": "system/MessageHeader.c", "ods": []string{"NHS111", "UTC01"}, "sub": "two", "client_id": "two"},
			} {
				var edit func(map[string]any)
				if name == "another sender named" {
					edit = namedSender("UTC01")
				}
				r := post(claims, referralVersion(t, hid, "new", edit))
				assert.Equal(t, http.StatusForbidden, r.status, "%s: %s", name, r.body)
				assert.Equal(t, "REC_FORBIDDEN", barsErrorCode(t, r), name)
			}
			assert.Zero(t, count("Bundle"))
			assert.Equal(t, tasks, count("Task"))
			assert.Equal(t, patients, count("Patient"))

			// The message names the token's own organisation: taken, and
			// that organisation recorded.
			two := map[string]any{"scope": "system/MessageHeader.c", "ods": []string{"NHS111", "UTC01"}, "sub": "two", "client_id": "two"}
			r := post(two, referralVersion(t, hid, "new", namedSender("UTC01")))
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			found := g.as(nvNavigator("expert", "Y99999"), "GET", "/Task?identifier="+nvBase+"/sid/bars-message|"+hid, "").json(t)
			require.Len(t, listAny(found["entry"]), 1)
			task := listAny(found["entry"])[0].(map[string]any)["resource"].(map[string]any)
			assert.Equal(t, "UTC01", task["requester"].(map[string]any)["identifier"].(map[string]any)["value"])
		})
	}
}

// TestBaRSReceivedReferralUpdateAwaitingClinician: on both stores, an
// update of a referral whose decision waits for a clinician's review
// changes the Task's inputs but does not navigate it again (only a
// clinician navigates it now, as for any Task under review): the
// decision held for the clinician stands, and the Task says the update
// came.
func TestBaRSReceivedReferralUpdateAwaitingClinician(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			g := newNavGateway(t, st, nvOptions{delivery: true})
			nav := nvNavigator("expert", "Y99999")
			post := func(body string) reply {
				return g.as(nhs111System, "POST", "/$process-message", body, "Content-Type", "application/fhir+json",
					"X-Request-ID", uuid.NewString(), "X-Correlation-ID", uuid.NewString())
			}
			emergency := func(b map[string]any) { entryOf(b, "ServiceRequest")["priority"] = "stat" }
			const h1 = "8c3f8a2a-2d3e-4e7b-9c3a-3b4c5d6e7f01"
			r := post(referralVersion(t, h1, "new", emergency))
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			found := g.as(nav, "GET", "/Task?identifier="+nvBase+"/sid/bars-message|"+h1, "").json(t)
			require.Len(t, listAny(found["entry"]), 1)
			task := listAny(found["entry"])[0].(map[string]any)["resource"].(map[string]any)
			id := fmt.Sprint(task["id"])
			bs := fmt.Sprint(task["businessStatus"])
			require.True(t, strings.Contains(bs, "review-requested") || strings.Contains(bs, "escalated"), "held for a clinician: %s", bs)
			before := fmt.Sprint(task["output"])

			r = post(referralVersion(t, "8c3f8a2a-2d3e-4e7b-9c3a-3b4c5d6e7f02", "update", func(b map[string]any) { emergency(b); withChestPain(b) }))
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			task = g.as(nav, "GET", "/Task/"+id, "").json(t)
			assert.Contains(t, fmt.Sprint(inputsOf(task)["symptom"]), "29857009", "the inputs follow the update")
			assert.Equal(t, before, fmt.Sprint(task["output"]), "not navigated again: the clinician decides")
			assert.Contains(t, fmt.Sprint(task["note"]), "the clinician's review takes the update")
			assert.Equal(t, bs, fmt.Sprint(task["businessStatus"]))
		})
	}
}
