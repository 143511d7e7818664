package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
)

// receiver is a loopback FHIR server that counts what it is sent.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
}

func newReceiver(t *testing.T, status int, answer string) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, string(body))
		rc.mu.Unlock()
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) received() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.bodies)
}

func endpointBody(address string, extra string) string {
	return `{"resourceType":"Endpoint","status":"active",` + extra + `
	 "connectionType":{"system":"http://terminology.hl7.org/CodeSystem/endpoint-connection-type","code":"hl7-fhir-rest"},
	 "payloadType":[{"text":"FHIR"}],"address":"` + address + `"}`
}

func odsID(code string) string {
	return `{"system":"` + odsSys + `","value":"` + code + `"}`
}

// navigateDemo creates and navigates a Task of the demo practice Y99999
// and returns its id.
func navigateDemo(t *testing.T, g *nvGateway) string {
	t.Helper()
	nav := nvNavigator("expert", "Y99999")
	id := g.created(t, nav, "Task", withShareConsent(nvTask(nvClinical("phone", "Earache", 3.0), "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow), true))
	res := nvNavigate(t, g, nav, id, nil)
	require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
	return id
}

func deliveryOf(t *testing.T, ob store.Outbox, task string, want store.DeliveryStatus) store.Delivery {
	t.Helper()
	var d store.Delivery
	poll(t, "delivery "+string(want), func() bool {
		ds, err := ob.Deliveries(context.Background(), task)
		require.NoError(t, err)
		require.Len(t, ds, 1)
		d = ds[0]
		return d.Status == want || d.Status == store.DeliveryDead || d.Status == store.DeliveryDelivered
	})
	require.Equal(t, want, d.Status, "last error: %s", d.LastError)
	return d
}

// TestDeliveryTargetCannotBeClaimed: a publisher for practice B (or for an
// identifier system) cannot make an Organization, Endpoint,
// HealthcareService or Location carry practice Y99999's ODS code, on any
// write path; a second Organization with Y99999's code is refused even to
// a publisher for Y99999; Y99999's navigations reach Y99999's clinical
// system only. Should the store hold two Organizations with the code
// nonetheless, the delivery is a dead letter, sent to neither.
func TestDeliveryTargetCannotBeClaimed(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			ob := st.(store.Outbox)
			g := newNavGateway(t, st, nvOptions{delivery: true})
			practice := newReceiver(t, http.StatusOK, `{"resourceType":"Bundle","type":"transaction-response"}`)
			attacker := newReceiver(t, http.StatusOK, `{"resourceType":"Bundle","type":"transaction-response"}`)
			connectDemoPractice(t, st, practice.URL+"/fhir")

			const catalogue = "https://catalogue.example/id"
			pubB := publisherClaims("B22222")
			pubCat := publisherClaims(catalogue)
			pubBoth := publisherClaims("B22222", "Y99999")
			epB := g.created(t, pubB, "Endpoint", mustDecodeTB(t, endpointBody(attacker.URL+"/fhir", `"managingOrganization":{"identifier":`+odsID("B22222")+`},`)))
			orgB := g.created(t, pubB, "Organization", mustDecodeTB(t, `{"resourceType":"Organization","name":"B","identifier":[`+odsID("B22222")+`],"endpoint":[{"reference":"Endpoint/`+epB+`"}]}`))
			claim := func(ids string) string {
				return `{"resourceType":"Organization","name":"Practice Y","identifier":[` + ids + `],"endpoint":[{"reference":"Endpoint/` + epB + `"}]}`
			}
			withID := func(body, id string) string {
				return strings.Replace(body, `{"resourceType":"Organization",`, `{"resourceType":"Organization","id":"`+id+`",`, 1)
			}
			bundle := func(method, url, res string) string {
				return `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:0d7c6a2e-1111-4c1b-9a53-2f6f0e8b7f01","resource":` + res + `,"request":{"method":"` + method + `","url":"` + url + `"}}]}`
			}
			for _, tt := range []struct {
				name, method, path, body string
				caller                   map[string]any
				headers                  []string
			}{
				{"create with a foreign ODS code beside its own", "POST", "/Organization", claim(odsID("B22222") + "," + odsID("Y99999")), pubB, nil},
				{"create with the foreign code first", "POST", "/Organization", claim(odsID("Y99999") + "," + odsID("B22222")), pubB, nil},
				{"update its own to add the code", "PUT", "/Organization/" + orgB, withID(claim(odsID("B22222")+","+odsID("Y99999")), orgB), pubB, nil},
				{"patch the code in", "PATCH", "/Organization/" + orgB, `[{"op":"add","path":"/identifier/-","value":` + odsID("Y99999") + `}]`, pubB, []string{"Content-Type", "application/json-patch+json"}},
				{"in a transaction", "POST", "", bundle("POST", "Organization", claim(odsID("B22222")+","+odsID("Y99999"))), pubB, nil},
				{"in a batch", "POST", "", strings.Replace(bundle("PUT", "Organization/"+orgB, withID(claim(odsID("B22222")+","+odsID("Y99999")), orgB)), `"transaction"`, `"batch"`, 1), pubB, nil},
				{"an identifier system paired with the code", "POST", "/Organization", claim(`{"system":"` + catalogue + `","value":"c1"},` + odsID("Y99999")), pubCat, nil},
				{"a second Organization with a registered code", "POST", "/Organization", claim(odsID("Y99999")), pubBoth, nil},
				{"an Endpoint carrying the code", "POST", "/Endpoint", endpointBody(attacker.URL+"/fhir", `"identifier":[`+odsID("Y99999")+`],"managingOrganization":{"identifier":`+odsID("B22222")+`},`), pubB, nil},
				{"an Endpoint with another's system", "POST", "/Endpoint", endpointBody(attacker.URL+"/fhir", `"identifier":[{"system":"`+catalogue+`","value":"e1"}],"managingOrganization":{"identifier":`+odsID("B22222")+`},`), pubB, nil},
				{"a HealthcareService carrying the code", "POST", "/HealthcareService", `{"resourceType":"HealthcareService","name":"x","identifier":[` + odsID("Y99999") + `],"providedBy":{"identifier":` + odsID("B22222") + `}}`, pubB, nil},
				{"a Location carrying the code", "POST", "/Location", `{"resourceType":"Location","name":"x","identifier":[` + odsID("Y99999") + `],"managingOrganization":{"identifier":` + odsID("B22222") + `}}`, pubB, nil},
			} {
				t.Run(tt.name, func(t *testing.T) {
					path := tt.path
					if path == "" {
						path = "/"
					}
					r := g.as(tt.caller, tt.method, path, tt.body, tt.headers...)
					if strings.Contains(tt.body, `"type":"batch"`) && r.status == http.StatusOK {
						assert.Regexp(t, `"status":"(403|409|422)`, string(r.body), "the batch entry")
						return
					}
					assert.Contains(t, []int{http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity}, r.status, "%s", r.body)
					assert.Equal(t, "OperationOutcome", r.json(t)["resourceType"])
				})
			}
			// The directory is as it was: one Organization carries Y99999.
			q := g.as(pubB, "GET", "/Organization?identifier="+odsSys+"|Y99999", "")
			require.Equal(t, http.StatusOK, q.status, "%s", q.body)
			assert.Len(t, entryIDs(t, q.json(t), "match"), 1, "%s", q.body)

			startDeliverers(t, st, ob, clinicalsystem.Config{Workers: 1, Timeout: 5 * time.Second, Poll: 5 * time.Millisecond,
				Backoff: store.Backoff{Base: 5 * time.Millisecond, Max: 20 * time.Millisecond, MaxAttempts: 3}})
			id := navigateDemo(t, g)
			deliveryOf(t, ob, id, store.DeliveryDelivered)
			assert.Equal(t, 1, practice.received(), "the practice's clinical system got its navigation")
			assert.Equal(t, 0, attacker.received(), "another publisher's endpoint got patient data")

			// Two Organizations with the code, straight into the store: the
			// delivery does not guess.
			impostor, err := fhir.ParseResource([]byte(withID(claim(odsID("Y99999")), "impostor")))
			require.NoError(t, err)
			_, err = st.Create(context.Background(), impostor)
			require.NoError(t, err)
			id = navigateDemo(t, g)
			d := deliveryOf(t, ob, id, store.DeliveryDead)
			assert.Contains(t, d.LastError, "more than one Organization carries ODS code Y99999")
			assert.Equal(t, 1, practice.received(), "an ambiguous delivery was sent")
			assert.Equal(t, 0, attacker.received(), "an ambiguous delivery was sent to the impostor")
			r := g.as(nvNavigator("expert", "Y99999"), "GET", "/Task/"+id+"/$delivery-status", "")
			assert.Contains(t, string(r.body), "more than one Organization", "%s", r.body)
		})
	}
}

// TestEndpointAddressIsOnTheOutboundList: Endpoint.address is held to the
// Subscription allow-list on every write path (422 at Endpoint.address,
// nothing stored), and again before each send; what a receiver answers
// reaches API clients only as a status and issue codes.
func TestEndpointAddressIsOnTheOutboundList(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			ob := st.(store.Outbox)
			internal := newReceiver(t, http.StatusBadRequest,
				`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"INTERNAL-SECRET db=10.0.0.7 patient 9990010005"}]}`)
			allowed := newReceiver(t, http.StatusUnprocessableEntity,
				`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"business-rule","diagnostics":"RECEIVER-ECHO of patient 9990010005"}]}`)
			// Only the allowed receiver's base (both are loopback, so the
			// list names the one).
			list, err := gateway.ParseSubscriptionEndpoints(allowed.URL + "/fhir")
			require.NoError(t, err)
			g := navGatewayWithEndpoints(t, st, list)
			pub := publisherClaims("Y99999")
			connectDemoPractice(t, st, allowed.URL+"/fhir")
			setSurgeryEndpoint(t, st, allowed.URL+"/fhir")

			for _, tt := range []struct {
				name, method, path, body string
				headers                  []string
			}{
				{"create", "POST", "/Endpoint", endpointBody(internal.URL+"/fhir", `"managingOrganization":{"identifier":`+odsID("Y99999")+`},`), nil},
				{"create, plain http elsewhere", "POST", "/Endpoint", endpointBody("http://169.254.169.254/latest/meta-data", `"managingOrganization":{"identifier":`+odsID("Y99999")+`},`), nil},
				{"update", "PUT", "/Endpoint/surgery-ep", endpointBody(internal.URL+"/fhir", `"id":"surgery-ep","managingOrganization":{"identifier":`+odsID("Y99999")+`},`), nil},
				{"patch", "PATCH", "/Endpoint/surgery-ep", `[{"op":"replace","path":"/address","value":"` + internal.URL + `/fhir"}]`, []string{"Content-Type", "application/json-patch+json"}},
				{"transaction", "POST", "/", `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":` + endpointBody(internal.URL+"/fhir", `"managingOrganization":{"identifier":`+odsID("Y99999")+`},`) + `,"request":{"method":"POST","url":"Endpoint"}}]}`, nil},
			} {
				t.Run(tt.name, func(t *testing.T) {
					r := g.as(pub, tt.method, tt.path, tt.body, tt.headers...)
					require.Equal(t, http.StatusUnprocessableEntity, r.status, "%s", r.body)
					assert.Contains(t, string(r.body), `Endpoint.address is not an address this gateway may call`, "%s", r.body)
				})
			}
			q := g.as(pub, "GET", "/Endpoint?_count=50", "")
			require.Equal(t, http.StatusOK, q.status)
			assert.NotContains(t, string(q.body), internal.URL, "a refused Endpoint was stored")

			// A stored Endpoint whose address the list does not allow gets
			// nothing: a dead letter with a plain reason.
			setSurgeryEndpoint(t, st, internal.URL+"/fhir")
			startDeliverers(t, st, ob, clinicalsystem.Config{Workers: 1, Timeout: 5 * time.Second, Poll: 5 * time.Millisecond,
				Backoff:              store.Backoff{Base: 5 * time.Millisecond, Max: 20 * time.Millisecond, MaxAttempts: 3},
				AllowEndpointAddress: list.Allows, AllowSubscriptionEndpoint: list.Allows})
			id := navigateDemo(t, g)
			d := deliveryOf(t, ob, id, store.DeliveryDead)
			assert.Contains(t, d.LastError, "not on the gateway's outbound allow-list")
			assert.Equal(t, 0, internal.received(), "an address off the list was called")

			// An allowed receiver's refusal: a status and its issue codes,
			// never its body.
			setSurgeryEndpoint(t, st, allowed.URL+"/fhir")
			id = navigateDemo(t, g)
			deliveryOf(t, ob, id, store.DeliveryDead)
			require.Equal(t, 1, allowed.received())
			nav := nvNavigator("expert", "Y99999")
			for _, path := range []string{"/Task/" + id + "/$delivery-status", "/$dead-letters"} {
				r := g.as(nav, "GET", path, "")
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
				assert.Contains(t, string(r.body), "HTTP 422", path)
				assert.Contains(t, string(r.body), "business-rule", path)
				assert.NotContains(t, string(r.body), "RECEIVER-ECHO", "%s echoes the receiver: %s", path, r.body)
				assert.NotContains(t, string(r.body), "INTERNAL-SECRET", path)
			}
		})
	}
}

// navGatewayWithEndpoints is newNavGateway with delivery and the outbound
// allow-list list.
func navGatewayWithEndpoints(t *testing.T, st store.Store, list gateway.SubscriptionEndpoints) *nvGateway {
	t.Helper()
	term := seededTerminology(t, st)
	iss, v := trustedIssuer(t)
	g := newGateway(t, gateway.Options{Store: st, Verifier: v, Now: func() time.Time { return nvNow }}, func(s *gateway.Server) {
		s.RegisterTerminology(term)
		require.NoError(t, s.RegisterNavigation(context.Background(), gateway.NavigationOptions{Terminology: term, DemoDir: "../testdata/protocols"}))
		s.SetSubscriptionEndpoints(list)
		s.RegisterDelivery(st.(store.Outbox))
	})
	return &nvGateway{testGateway: g, st: st, iss: iss, clock: &atomic.Pointer[time.Time]{}}
}

// setSurgeryEndpoint writes, straight to the store, the address of the demo
// practice's Endpoint (connectDemoPractice's), managed by Y99999.
func setSurgeryEndpoint(t *testing.T, st store.Store, address string) {
	t.Helper()
	ctx := context.Background()
	v, err := st.Read(ctx, "Endpoint", "surgery-ep")
	require.NoError(t, err)
	ep, err := fhir.ParseResource(v.Body)
	require.NoError(t, err)
	ep.Object()["address"] = address
	ep.Object()["managingOrganization"] = map[string]any{"identifier": map[string]any{"system": odsSys, "value": "Y99999"}}
	_, err = st.Update(ctx, ep, store.Precondition{})
	require.NoError(t, err)
}

// TestODSClaimsDoNotRace: writers racing to register Organizations with
// one new ODS code, some also carrying a second code in the other order,
// end with exactly one Organization per code; every other writer gets a
// 409 (never a 500 or a deadlock), on both stores.
func TestODSClaimsDoNotRace(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			g := newNavGateway(t, st, nvOptions{delivery: true})
			pub := publisherClaims("R11111", "R22222")
			bodies := []string{
				`{"resourceType":"Organization","name":"one","identifier":[` + odsID("R11111") + `]}`,
				`{"resourceType":"Organization","name":"both","identifier":[` + odsID("R11111") + `,` + odsID("R22222") + `]}`,
				`{"resourceType":"Organization","name":"both reversed","identifier":[` + odsID("R22222") + `,` + odsID("R11111") + `]}`,
				`{"resourceType":"Organization","name":"two","identifier":[` + odsID("R22222") + `]}`,
			}
			const writers = 12
			statuses := make([]int, writers)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					statuses[i] = g.as(pub, "POST", "/Organization", bodies[i%len(bodies)]).status
				}()
			}
			close(start)
			wg.Wait()
			created := 0
			for _, s := range statuses {
				assert.Contains(t, []int{http.StatusCreated, http.StatusConflict}, s)
				if s == http.StatusCreated {
					created++
				}
			}
			assert.GreaterOrEqual(t, created, 1)
			for _, code := range []string{"R11111", "R22222"} {
				q := g.as(pub, "GET", "/Organization?identifier="+odsSys+"|"+code, "")
				require.Equal(t, http.StatusOK, q.status, "%s", q.body)
				assert.Len(t, entryIDs(t, q.json(t), "match"), 1, "Organizations carrying %s: %s", code, q.body)
			}
		})
	}
}
