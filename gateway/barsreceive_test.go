package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
)

// pharmacySystem is the demo pharmacy's own system: a system token for
// its provider organisation (ODS FDE01).
var pharmacySystem = map[string]any{"scope": "system/MessageHeader.c", "ods": []string{"FDE01"}, "sub": "pharmacy-system", "client_id": "pharmacy"}

// barsResponseMessage is a service's response to the referral of
// allocation, shaped like the standard's servicerequest-response example:
// accepted (ServiceRequest active, response ok) or turned away
// (ServiceRequest revoked, response fatal-error, the reason in an
// OperationOutcome the response details).
func barsResponseMessage(headerID, allocation string, accepted bool, reason string) string {
	hdr := map[string]any{"resourceType": "MessageHeader", "id": headerID,
		"eventCoding": map[string]any{"system": clinicalsystem.BaRSEventSystem, "code": "servicerequest-response"},
		"source":      map[string]any{"name": "Demo Pharmacy", "endpoint": "https://fhir.nhs.uk/Id/dos-service-id|" + pfDoSID},
		"focus":       []any{map[string]any{"reference": "urn:uuid:aaaaaaaa-0000-4000-8000-000000000002"}},
		"response":    map[string]any{"identifier": uuid.NewString(), "code": "ok"}}
	sr := map[string]any{"resourceType": "ServiceRequest", "status": "active", "intent": "order",
		"identifier": []any{map[string]any{"system": nvBase + "/sid/allocation", "value": allocation}},
		"subject":    map[string]any{"display": "the patient"}}
	entries := []any{
		map[string]any{"fullUrl": "urn:uuid:aaaaaaaa-0000-4000-8000-000000000001", "resource": hdr},
		map[string]any{"fullUrl": "urn:uuid:aaaaaaaa-0000-4000-8000-000000000002", "resource": sr},
	}
	if !accepted {
		sr["status"] = "revoked"
		hdr["response"].(map[string]any)["code"] = "fatal-error"
		hdr["response"].(map[string]any)["details"] = map[string]any{"reference": "urn:uuid:aaaaaaaa-0000-4000-8000-000000000003"}
		entries = append(entries, map[string]any{"fullUrl": "urn:uuid:aaaaaaaa-0000-4000-8000-000000000003", "resource": map[string]any{
			"resourceType": "OperationOutcome", "issue": []any{map[string]any{"severity": "error", "code": "business-rule",
				"details": map[string]any{"text": reason}}}}})
	}
	b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "message", "timestamp": "2026-01-05T10:00:00Z", "entry": entries})
	return string(b)
}

func barsPost(g *nvGateway, claims map[string]any, body, correlation string) reply {
	return g.as(claims, "POST", "/$process-message", body, "Content-Type", "application/fhir+json",
		"X-Request-ID", uuid.NewString(), "X-Correlation-ID", correlation)
}

func barsErrorCode(t *testing.T, r reply) string {
	var oo struct {
		ResourceType string
		Issue        []struct {
			Details struct {
				Coding []struct{ System, Code string }
			}
		}
	}
	require.NoError(t, json.Unmarshal(r.body, &oo), "%s", r.body)
	require.Equal(t, "OperationOutcome", oo.ResourceType)
	require.NotEmpty(t, oo.Issue)
	require.NotEmpty(t, oo.Issue[0].Details.Coding, "%s", r.body)
	return oo.Issue[0].Details.Coding[0].Code
}

// TestBaRSResponses: over HTTP on both stores, a service's responses to a
// referral Signpost sent. Malformed or unaddressable messages get the
// standard's OperationOutcome with its status and store nothing; an
// acceptance marks the Task referral-accepted, once however often it is
// sent, with the same answer and the headers mirrored; a turning away
// re-navigates the patient as a decline does (the service not chosen
// again, the allocation revoked with the reason) and the measures count
// it; a caller acting for neither side is refused.
func TestBaRSResponses(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			st := sc.open(t)
			g := newNavGateway(t, st, nvOptions{delivery: true, measures: true})
			connectPharmacyFirstBaRS(t, st, "http://127.0.0.1:1/bars")
			nav := nvNavigator("expert", "Y99999")
			id := g.created(t, nav, "Task", withShareConsent(nvTask(nvClinical("phone", "Earache", 3.0), "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow), true))
			res := nvNavigate(t, g, nav, id, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
			require.Equal(t, "demo-pharmacy-first", res.destination())
			alloc := res.allocation["id"].(string)
			corr := clinicalsystem.CorrelationID(alloc)
			bundles := func() int {
				page, err := st.History(ctx, store.HistoryQuery{Type: "Bundle", Count: 10})
				require.NoError(t, err)
				return page.Total
			}
			taskStatus := func() (string, map[string]any) {
				r := g.as(nav, "GET", "/Task/"+id, "")
				task := r.json(t)
				bs, _ := task["businessStatus"].(map[string]any)
				return fmt.Sprint(listAny(bs["coding"])[0].(map[string]any)["code"]), task
			}

			// Malformed: missing headers, not a message, not addressable.
			r := g.as(pharmacySystem, "POST", "/$process-message", barsResponseMessage(uuid.NewString(), alloc, true, ""), "Content-Type", "application/fhir+json")
			assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			assert.Equal(t, "REC_BAD_REQUEST", barsErrorCode(t, r))
			r = barsPost(g, pharmacySystem, `{"resourceType":"Bundle","type":"collection"}`, corr)
			assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			assert.Equal(t, "REC_BAD_REQUEST", barsErrorCode(t, r))
			assert.Equal(t, corr, r.header.Get("X-Correlation-ID"), "mirrored on errors too")
			unknown := uuid.NewString()
			r = barsPost(g, pharmacySystem, barsResponseMessage(uuid.NewString(), unknown, true, ""), clinicalsystem.CorrelationID(unknown))
			assert.Equal(t, http.StatusUnprocessableEntity, r.status, "%s", r.body)
			assert.Equal(t, "REC_UNPROCESSABLE_ENTITY", barsErrorCode(t, r))
			r = barsPost(g, pharmacySystem, barsResponseMessage(uuid.NewString(), alloc, true, ""), uuid.NewString())
			assert.Equal(t, http.StatusUnprocessableEntity, r.status, "a correlation id not the referral's: %s", r.body)
			assert.Zero(t, bundles(), "a refused message is not stored")
			// A caller acting for neither the practice nor the service.
			r = barsPost(g, map[string]any{"scope": "system/MessageHeader.c", "ods": []string{"ZZZ99"}, "sub": "other", "client_id": "other"},
				barsResponseMessage(uuid.NewString(), alloc, true, ""), corr)
			assert.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
			code, _ := taskStatus()
			assert.Equal(t, "allocated", code)

			// Accepted, twice: one effect, the same answer.
			accept := barsResponseMessage(uuid.NewString(), alloc, true, "")
			reqID := uuid.NewString()
			r1 := g.as(pharmacySystem, "POST", "/$process-message", accept, "Content-Type", "application/fhir+json", "X-Request-ID", reqID, "X-Correlation-ID", corr)
			require.Equal(t, http.StatusOK, r1.status, "%s", r1.body)
			assert.Equal(t, reqID, r1.header.Get("X-Request-ID"))
			assert.Equal(t, corr, r1.header.Get("X-Correlation-ID"))
			code, task := taskStatus()
			assert.Equal(t, "referral-accepted", code)
			version := task["meta"].(map[string]any)["versionId"]
			r2 := barsPost(g, pharmacySystem, accept, corr)
			require.Equal(t, http.StatusOK, r2.status, "%s", r2.body)
			assert.JSONEq(t, string(r1.body), string(r2.body), "the same answer")
			_, task = taskStatus()
			assert.Equal(t, version, task["meta"].(map[string]any)["versionId"], "one effect")
			assert.Equal(t, 1, bundles(), "the message is stored once")
			sr := g.as(nav, "GET", "/ServiceRequest/"+alloc, "").json(t)
			assert.Equal(t, "active", sr["status"])
			assert.Contains(t, fmt.Sprint(sr["note"]), "Referral accepted by")

			// Turned away (a later message): re-navigated as a decline.
			away := barsResponseMessage(uuid.NewString(), alloc, false, "No consultation slots today")
			r = barsPost(g, pharmacySystem, away, corr)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			sr = g.as(nav, "GET", "/ServiceRequest/"+alloc, "").json(t)
			assert.Equal(t, "revoked", sr["status"])
			assert.Contains(t, fmt.Sprint(sr["note"]), "turned away by the service (turned away by Demo Pharmacy (Pharmacy First): No consultation slots today)")
			code, task = taskStatus()
			assert.NotEqual(t, "declined", code, "the Task was navigated again")
			now := ""
			for _, o := range listAny(task["output"]) {
				om := o.(map[string]any)
				if ref, ok := om["valueReference"].(map[string]any); ok && fmt.Sprint(ref["reference"]) != "ServiceRequest/"+alloc {
					if s := fmt.Sprint(ref["reference"]); len(s) > 15 && s[:15] == "ServiceRequest/" {
						now = s
					}
				}
			}
			require.NotEmpty(t, now, "a new allocation")
			next := g.as(nav, "GET", "/"+now, "").json(t)
			assert.NotContains(t, fmt.Sprint(next["performer"]), "demo-pharmacy-first", "the service that turned the patient away is not chosen again")
			// The same turning away again: nothing more.
			_, before := taskStatus()
			r = barsPost(g, pharmacySystem, away, corr)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			_, after := taskStatus()
			assert.Equal(t, before["meta"].(map[string]any)["versionId"], after["meta"].(map[string]any)["versionId"])
			// The cancellation of the referral is enqueued, as for a decline.
			ds, err := st.(store.Outbox).Deliveries(ctx, clinicalsystem.BaRSKey(id))
			require.NoError(t, err)
			assert.Len(t, ds, 2, "the referral and its cancellation")
			// The measures count it as a declined Pharmacy First referral.
			m := g.as(nav, "GET", "/Measure/navigation-pharmacy-first-declined/$evaluate-measure?periodStart=2026-11-20&periodEnd=2026-11-30&subject=Organization/demo-surgery", "")
			require.Equal(t, http.StatusOK, m.status, "%s", m.body)
			pops := msPops(msGroups(msReport(t, m))["navigation-pharmacy-first-declined"])
			assert.Equal(t, 1, pops["numerator"], "the turned-away Pharmacy First referral is counted")
			// Audited: each message taken, and the re-navigation made for
			// the practice.
			page, err := st.History(ctx, store.HistoryQuery{Type: "AuditEvent", Count: 1000})
			require.NoError(t, err)
			var messages, renav int
			for _, v := range page.Versions {
				b := string(v.Body)
				if strings.Contains(b, "$process-message") || strings.Contains(b, "process-message") {
					messages++
				}
				if strings.Contains(b, "navigate") && strings.Contains(b, "bars-response") {
					renav++
				}
			}
			assert.GreaterOrEqual(t, messages, 2, "the accepted and turned-away messages are audited")
			assert.Equal(t, 1, renav, "the re-navigation is audited")
		})
	}
}

// TestDemoPharmacyBaRS: in development mode the demo Pharmacy First takes
// BaRS referrals at the gateway's own receiver, which answers to
// $process-message: with the accept rule the Task ends referral-accepted;
// with the turn-away rule the patient is re-navigated elsewhere and the
// cancellation reaches the receiver. On both stores, over HTTP, with the
// delivery workers running.
func TestDemoPharmacyBaRS(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		for _, rule := range []string{gateway.DemoBaRSAccept, gateway.DemoBaRSTurnAway} {
			t.Run(sc.name+"/"+rule, func(t *testing.T) {
				ctx := context.Background()
				st := sc.open(t)
				ob := st.(store.Outbox)
				term := seededTerminology(t, st)
				// The receiver and its responses need the gateway's address
				// before the gateway exists: a front server forwards to it.
				var h atomic.Pointer[http.Handler]
				front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*h.Load()).ServeHTTP(w, r) }))
				t.Cleanup(front.Close)
				tg := newGateway(t, gateway.Options{Store: st, Now: func() time.Time { return nvNow }}, func(s *gateway.Server) {
					s.RegisterTerminology(term)
					require.NoError(t, s.RegisterNavigation(ctx, gateway.NavigationOptions{Terminology: term, DemoDir: "../testdata/protocols"}))
					s.RegisterDelivery(ob)
					require.NoError(t, s.ServeDemoPharmacyBaRS(ctx, gateway.DemoBaRSOptions{Base: front.URL, Rule: rule}))
				})
				handler := tg.srv.Config.Handler
				h.Store(&handler)
				// Development mode: the token is ignored, every caller is the developer.
				iss, _ := trustedIssuer(t)
				g := &nvGateway{testGateway: tg, st: st, iss: iss}
				dev := nvNavigator("expert", "Y99999")
				startDeliverers(t, st, ob, clinicalsystem.Config{Workers: 1, Timeout: 5 * time.Second, Poll: 5 * time.Millisecond,
					Backoff: store.Backoff{Base: 5 * time.Millisecond, Max: 20 * time.Millisecond, MaxAttempts: 5}})

				id := g.created(t, dev, "Task", withShareConsent(nvTask(nvClinical("phone", "Earache", 3.0), "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow), true))
				res := nvNavigate(t, g, dev, id, nil)
				require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
				require.Equal(t, "demo-pharmacy-first", res.destination())
				alloc := res.allocation["id"].(string)
				status := func() string {
					task := g.do("GET", "/Task/"+id, "").json(t)
					bs, _ := task["businessStatus"].(map[string]any)
					return fmt.Sprint(listAny(bs["coding"])[0].(map[string]any)["code"])
				}
				if rule == gateway.DemoBaRSAccept {
					poll(t, "the pharmacy's acceptance", func() bool { return status() == "referral-accepted" })
					sr := g.do("GET", "/ServiceRequest/"+alloc, "").json(t)
					assert.Equal(t, "active", sr["status"])
				} else {
					poll(t, "the re-navigation", func() bool {
						sr := g.do("GET", "/ServiceRequest/"+alloc, "").json(t)
						return sr["status"] == "revoked"
					})
					sr := g.do("GET", "/ServiceRequest/"+alloc, "").json(t)
					assert.Contains(t, fmt.Sprint(sr["note"]), "No Pharmacy First consultations available today")
					assert.NotEqual(t, "declined", status())
					poll(t, "the cancellation delivered", func() bool {
						ds := barsDeliveries(t, ob, id)
						return len(ds) == 2 && ds[1].Status == store.DeliveryDelivered
					})
				}
				page := g.do("GET", tg.srv.URL+gateway.DemoPharmacyBaRSPath, "")
				require.Equal(t, http.StatusOK, page.status)
				assert.Contains(t, string(page.body), alloc)
				assert.Contains(t, string(page.body), "200 OK", "the response was taken")
			})
		}
	}
}

// TestBaRSResponseConcurrentDuplicates: the same response sent several
// times at once has one effect, and every copy gets the same answer. On
// both stores.
func TestBaRSResponseConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			st := sc.open(t)
			g := newNavGateway(t, st, nvOptions{delivery: true})
			connectPharmacyFirstBaRS(t, st, "http://127.0.0.1:1/bars")
			nav := nvNavigator("expert", "Y99999")
			id := g.created(t, nav, "Task", withShareConsent(nvTask(nvClinical("phone", "Earache", 3.0), "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow), true))
			res := nvNavigate(t, g, nav, id, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
			alloc := res.allocation["id"].(string)
			before, err := st.Read(ctx, "Task", id)
			require.NoError(t, err)
			msg := barsResponseMessage(uuid.NewString(), alloc, true, "")
			const n = 4
			replies := make([]reply, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					replies[i] = barsPost(g, pharmacySystem, msg, clinicalsystem.CorrelationID(alloc))
				}()
			}
			wg.Wait()
			for _, r := range replies {
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
				assert.JSONEq(t, string(replies[0].body), string(r.body))
			}
			after, err := st.Read(ctx, "Task", id)
			require.NoError(t, err)
			assert.Equal(t, before.VersionID+1, after.VersionID, "one effect")
			page, err := st.History(ctx, store.HistoryQuery{Type: "Bundle", Count: 10})
			require.NoError(t, err)
			assert.Equal(t, 1, page.Total, "stored once")
		})
	}
}
