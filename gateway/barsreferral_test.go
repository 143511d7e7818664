package gateway_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
)

// nhs111System is an NHS 111 provider's system: a system token allowed to
// send messages.
var nhs111System = map[string]any{"scope": "system/MessageHeader.c", "ods": []string{"NHS111"}, "sub": "nhs111-system", "client_id": "nhs111"}

// barsTarget is the NHSD-Target-Identifier naming a practice.
func barsTarget(ods string) string {
	b, _ := json.Marshal(map[string]string{"system": clinicalsystem.ODSSystem, "value": ods})
	return base64.StdEncoding.EncodeToString(b)
}

// exampleReferral is one of the standard's example referral messages,
// edited by edit.
func exampleReferral(t *testing.T, name string, edit func(b map[string]any)) string {
	t.Helper()
	raw, err := os.ReadFile("../testdata/bars/" + name)
	require.NoError(t, err)
	var b map[string]any
	require.NoError(t, json.Unmarshal(raw, &b))
	if edit != nil {
		edit(b)
	}
	out, err := json.Marshal(b)
	require.NoError(t, err)
	return string(out)
}

func entryOf(b map[string]any, typ string) map[string]any {
	for _, e := range b["entry"].([]any) {
		r := e.(map[string]any)["resource"].(map[string]any)
		if r["resourceType"] == typ {
			return r
		}
	}
	return nil
}

func inputsOf(task map[string]any) map[string][]any {
	out := map[string][]any{}
	for _, in := range listAny(task["input"]) {
		m := in.(map[string]any)
		code := fmt.Sprint(listAny(m["type"].(map[string]any)["coding"])[0].(map[string]any)["code"])
		for k, v := range m {
			if strings.HasPrefix(k, "value") {
				out[code] = append(out[code], v)
			}
		}
	}
	return out
}

// TestBaRSInboundReferral: over HTTP on both stores, the standard's
// example referrals, addressed to the demo practice (by
// NHSD-Target-Identifier, or by the MessageHeader's destination), become
// navigation Tasks of the practice: contact route referral, the patient
// found or created by NHS number, the message stored and the Task's
// focus, navigated at once; the sender's emergency disposition is never
// downgraded (the decision is held for a clinician). The same message
// twice makes one Task and gets the same answer; malformed or
// unaddressable messages get the standard's OperationOutcome and store
// nothing.
func TestBaRSInboundReferral(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			st := sc.open(t)
			g := newNavGateway(t, st, nvOptions{delivery: true})
			nav := nvNavigator("expert", "Y99999")
			count := func(typ string) int {
				page, err := st.History(ctx, store.HistoryQuery{Type: typ, Count: 10})
				require.NoError(t, err)
				return page.Total
			}
			post := func(body string, headers ...string) reply {
				h := append([]string{"Content-Type", "application/fhir+json", "X-Request-ID", uuid.NewString(), "X-Correlation-ID", uuid.NewString()}, headers...)
				return g.as(nhs111System, "POST", "/$process-message", body, h...)
			}
			tasks0, patients0 := count("Task"), count("Patient")

			// Malformed or unaddressable: the standard's errors, nothing stored.
			example := exampleReferral(t, "referral-999-to-CAS.json", nil)
			r := post(example) // no header, and a destination without endpoint: not R4
			assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			assert.Equal(t, "REC_BAD_REQUEST", barsErrorCode(t, r))
			dos, _ := json.Marshal(map[string]string{"system": "https://fhir.nhs.uk/Id/dos-service-id", "value": "2000001"})
			r = post(example, "NHSD-Target-Identifier", base64.StdEncoding.EncodeToString(dos))
			assert.Equal(t, http.StatusUnprocessableEntity, r.status, "addressed to no practice: %s", r.body)
			assert.Equal(t, "REC_UNPROCESSABLE_ENTITY", barsErrorCode(t, r))
			r = g.as(nhs111System, "POST", "/$process-message", example, "Content-Type", "application/fhir+json", "NHSD-Target-Identifier", barsTarget("Y99999"))
			assert.Equal(t, http.StatusBadRequest, r.status, "no X-Request-ID: %s", r.body)
			assert.Equal(t, "REC_BAD_REQUEST", barsErrorCode(t, r))
			noID := exampleReferral(t, "referral-999-to-CAS.json", func(b map[string]any) { delete(entryOf(b, "MessageHeader"), "id") })
			r = post(noID, "NHSD-Target-Identifier", barsTarget("Y99999"))
			assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			assert.Equal(t, "REC_BAD_REQUEST", barsErrorCode(t, r))
			// The standard's 111 example breaks R4 in several places.
			r = post(exampleReferral(t, "referral-111-to-ED.json", nil), "NHSD-Target-Identifier", barsTarget("Y99999"))
			assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			assert.Equal(t, "REC_BAD_REQUEST", barsErrorCode(t, r))
			r = post(example, "NHSD-Target-Identifier", "%%%not-base64")
			assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			noPatient := exampleReferral(t, "referral-999-to-CAS.json", func(b map[string]any) { delete(entryOf(b, "Patient"), "identifier") })
			r = post(noPatient, "NHSD-Target-Identifier", barsTarget("Y99999"))
			assert.Equal(t, http.StatusUnprocessableEntity, r.status, "no NHS number: %s", r.body)
			assert.Zero(t, count("Bundle"), "a refused message is not stored")
			assert.Equal(t, tasks0, count("Task"))
			assert.Equal(t, patients0, count("Patient"))

			// The 999 example, addressed to Y99999, twice.
			corr := uuid.NewString()
			r1 := post(example, "NHSD-Target-Identifier", barsTarget("Y99999"), "X-Correlation-ID", corr)
			require.Equal(t, http.StatusOK, r1.status, "%s", r1.body)
			assert.Equal(t, corr, r1.header.Get("X-Correlation-ID"))
			ack := r1.json(t)
			assert.Equal(t, "1cbdfb97-5859-48a4-8301-d54eab818d68", listAny(ack["entry"])[0].(map[string]any)["resource"].(map[string]any)["response"].(map[string]any)["identifier"])
			r2 := post(example, "NHSD-Target-Identifier", barsTarget("Y99999"))
			require.Equal(t, http.StatusOK, r2.status, "%s", r2.body)
			assert.Equal(t, string(r1.body), string(r2.body), "the same answer")
			assert.Equal(t, 1, count("Bundle"), "the message is stored once")
			assert.Equal(t, 1, navigationTasks(t, g, nav), "one navigation Task")

			found := g.as(nav, "GET", "/Task?identifier="+nvBase+"/sid/bars-message|1cbdfb97-5859-48a4-8301-d54eab818d68", "").json(t)
			require.Len(t, listAny(found["entry"]), 1, "%v", found)
			task := listAny(found["entry"])[0].(map[string]any)["resource"].(map[string]any)
			in := inputsOf(task)
			assert.Equal(t, []any{"referral"}, in["contact-route"])
			assert.Equal(t, []any{"emergency"}, in["patient-urgency"], "the sender's emergency disposition")
			assert.Contains(t, fmt.Sprint(in["seen-elsewhere"]), "310000008")
			assert.Contains(t, fmt.Sprint(in["problem"]), "Referral from Emergency service")
			focus := task["focus"].(map[string]any)["reference"].(string)
			require.True(t, strings.HasPrefix(focus, "Bundle/"), focus)
			stored, err := st.Read(ctx, "Bundle", strings.TrimPrefix(focus, "Bundle/"))
			require.NoError(t, err, "the whole message is stored")
			assert.Contains(t, string(stored.Body), "1cbdfb97-5859-48a4-8301-d54eab818d68")
			assert.Contains(t, string(stored.Body), "Y99999", "labelled with the practice")
			// The example's NHS number fails its check digit: the Patient
			// keeps it, the Task names the Patient only.
			forRef := task["for"].(map[string]any)
			require.NotEmpty(t, forRef["reference"])
			p := g.as(nav, "GET", "/"+fmt.Sprint(forRef["reference"]), "").json(t)
			assert.Contains(t, fmt.Sprint(p["identifier"]), "3478526985")
			// Navigated, and held for a clinician (never downgraded).
			bs := fmt.Sprint(listAny(task["businessStatus"].(map[string]any)["coding"])[0].(map[string]any)["code"])
			assert.NotEqual(t, "", bs)
			t.Logf("business status %s, outputs %v", bs, task["output"])
			assert.NotEmpty(t, task["output"], "navigated")
			assert.Equal(t, 1, reviewTasks(t, g, nav), "the decision goes to a clinician")

			// The 999 example as a routine referral, addressed by its
			// MessageHeader's destination, about a patient already known
			// (the demo adult: found, not created), with an observation
			// coded as chest pain: the coded red flag decides, whatever the
			// sender's priority.
			patients := count("Patient")
			other := exampleReferral(t, "referral-999-to-CAS.json", func(b map[string]any) {
				h := entryOf(b, "MessageHeader")
				h["id"] = "2d6a3e1c-7f0b-4c3a-9a51-0c2b9f3d4e11"
				h["destination"] = []any{map[string]any{"endpoint": "https://practice.example/bars",
					"receiver": map[string]any{"identifier": map[string]any{"system": clinicalsystem.ODSSystem, "value": "Y99999"}}}}
				entryOf(b, "Patient")["identifier"] = []any{map[string]any{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990010005"}}
				entryOf(b, "ServiceRequest")["priority"] = "routine"
				entryOf(b, "Encounter")["class"] = map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}
				b["entry"] = append(b["entry"].([]any), map[string]any{"fullUrl": "urn:uuid:5b0c7a7e-2f51-4a0e-9c1e-3c1d2e4f5a60",
					"resource": map[string]any{"resourceType": "Observation", "status": "final",
						"code":        map[string]any{"coding": []any{map[string]any{"system": "http://snomed.info/sct", "code": "29857009", "display": "Chest pain"}}},
						"valueString": "Tight feeling in the chest since this morning"}})
			})
			r = post(other)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			found = g.as(nav, "GET", "/Task?identifier="+nvBase+"/sid/bars-message|2d6a3e1c-7f0b-4c3a-9a51-0c2b9f3d4e11", "").json(t)
			require.Len(t, listAny(found["entry"]), 1)
			task = listAny(found["entry"])[0].(map[string]any)["resource"].(map[string]any)
			assert.Equal(t, "9990010005", task["for"].(map[string]any)["identifier"].(map[string]any)["value"])
			assert.Equal(t, patients, count("Patient"), "the patient was found by NHS number")
			in = inputsOf(task)
			assert.Contains(t, fmt.Sprint(in["symptom"]), "29857009", "the coded observation is a symptom")
			assert.Equal(t, []any{"routine"}, in["patient-urgency"])
			assert.Contains(t, fmt.Sprint(in["problem"]), "Tight feeling in the chest")
			require.NotEmpty(t, task["output"], "navigated")
			t.Logf("routine referral: business status %v", task["businessStatus"])
			var alloc string
			for _, o := range listAny(task["output"]) {
				if ref, ok := o.(map[string]any)["valueReference"].(map[string]any); ok && strings.HasPrefix(fmt.Sprint(ref["reference"]), "ServiceRequest/") {
					alloc = fmt.Sprint(ref["reference"])
				}
			}
			require.NotEmpty(t, alloc)
			sr := g.as(nav, "GET", "/"+alloc, "").json(t)
			t.Logf("allocation %v %v", sr["category"], sr["priority"])
			assert.Contains(t, fmt.Sprint(sr["category"]), "emergency", "a red flag: emergency services, never downgraded")

			assert.Equal(t, 2, navigationTasks(t, g, nav))
			// Another practice does not see the Tasks.
			assert.Zero(t, navigationTasks(t, g, nvNavigator("expert", "B82002")))
		})
	}
}

// reviewTasks counts the clinician-review Tasks of Y99999.
func reviewTasks(t *testing.T, g *nvGateway, nav map[string]any) int {
	t.Helper()
	r := g.as(nav, "GET", "/Task?code="+nvBase+"/CodeSystem/navigation-task|clinician-review", "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	return len(listAny(r.json(t)["entry"]))
}

// navigationTasks counts the navigation Tasks the caller sees.
func navigationTasks(t *testing.T, g *nvGateway, nav map[string]any) int {
	t.Helper()
	r := g.as(nav, "GET", "/Task?code="+nvBase+"/CodeSystem/navigation-task|navigate", "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	return len(listAny(r.json(t)["entry"]))
}

// TestBaRSReferralConcurrentDuplicates: on both stores, copies of the same
// referral arriving at once make one Task and one Patient, and all get the
// same answer.
func TestBaRSReferralConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			st := sc.open(t)
			g := newNavGateway(t, st, nvOptions{delivery: true})
			nav := nvNavigator("expert", "Y99999")
			patients := func() int {
				page, err := st.History(ctx, store.HistoryQuery{Type: "Patient", Count: 10})
				require.NoError(t, err)
				return page.Total
			}
			before := patients()
			msg := exampleReferral(t, "referral-999-to-CAS.json", nil)
			const n = 4
			replies := make([]reply, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					replies[i] = g.as(nhs111System, "POST", "/$process-message", msg, "Content-Type", "application/fhir+json",
						"X-Request-ID", uuid.NewString(), "X-Correlation-ID", uuid.NewString(), "NHSD-Target-Identifier", barsTarget("Y99999"))
				}()
			}
			wg.Wait()
			for _, r := range replies {
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
				assert.Equal(t, string(replies[0].body), string(r.body))
			}
			assert.Equal(t, 1, navigationTasks(t, g, nav), "one Task")
			assert.Equal(t, before+1, patients(), "one Patient")
			page, err := st.History(ctx, store.HistoryQuery{Type: "Bundle", Count: 10})
			require.NoError(t, err)
			assert.Equal(t, 1, page.Total, "stored once")
		})
	}
}
