package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/internal/sealed"
)

// TestNavigationOutcomeIsDelivered runs the whole flow: a commit that
// fails enqueues nothing; a commit enqueues its delivery in the same
// transaction; the practice's clinical system (a loopback FHIR server
// found through the practice Organization's Endpoint) first refuses it
// (dead letter, listed), then, after $redeliver, receives the
// transaction Bundle once.
func TestNavigationOutcomeIsDelivered(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			st := sc.open(t)
			ob := st.(store.Outbox)
			var failing atomic.Bool
			g := newNavGateway(t, st, nvOptions{delivery: true, wrap: nvFailingCreates("Provenance", &failing)})

			// The practice's clinical system.
			var mu sync.Mutex
			refusing := true
			var bodies [][]byte
			rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				defer mu.Unlock()
				if r.Header.Get("Authorization") != "Bearer practice-token" || r.URL.Path != "/fhir" {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				if refusing {
					w.WriteHeader(http.StatusUnprocessableEntity)
					io.WriteString(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"not yet"}]}`)
					return
				}
				bodies = append(bodies, body)
				io.WriteString(w, `{"resourceType":"Bundle","type":"transaction-response"}`)
			}))
			t.Cleanup(rc.Close)
			connectDemoPractice(t, st, rc.URL+"/fhir")

			nav := nvNavigator("expert", "Y99999")
			s := nvClinical("phone", "Earache", 3.0)
			id := g.created(t, nav, "Task", nvTask(s, "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow))

			// A commit that fails leaves no outbox row.
			failing.Store(true)
			res := nvNavigate(t, g, nav, id, nil)
			require.Equal(t, http.StatusInternalServerError, res.status, "%s", res.raw)
			ds, err := ob.Deliveries(ctx, id)
			require.NoError(t, err)
			assert.Empty(t, ds, "a rolled-back decision left a delivery")
			failing.Store(false)

			res = nvNavigate(t, g, nav, id, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
			ds, err = ob.Deliveries(ctx, id)
			require.NoError(t, err)
			require.Len(t, ds, 1)
			assert.Equal(t, "Y99999", ds[0].Endpoint)
			assert.Equal(t, store.DeliveryPending, ds[0].Status)
			r := g.as(nav, "GET", "/Task/"+id+"/$delivery-status", "")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.Contains(t, string(r.body), `"valueCode":"pending"`)
			// Another practice's caller sees nothing of it.
			r = g.as(nvNavigator("expert", "A00001"), "GET", "/Task/"+id+"/$delivery-status", "")
			assert.Equal(t, http.StatusNotFound, r.status, "%s", r.body)

			// Workers: the refusal is a dead letter at once.
			startDeliverers(t, st, ob, clinicalsystem.Config{Workers: 2, Timeout: 5 * time.Second, Poll: 5 * time.Millisecond,
				Backoff: store.Backoff{Base: 5 * time.Millisecond, Max: 20 * time.Millisecond, MaxAttempts: 100}})
			poll(t, "the dead letter", func() bool {
				ds, err := ob.Deliveries(ctx, id)
				require.NoError(t, err)
				return ds[0].Status == store.DeliveryDead
			})
			r = g.as(nav, "GET", "/$dead-letters", "")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.Contains(t, string(r.body), "Task/"+id)
			assert.Contains(t, string(r.body), "HTTP 422")
			assert.Contains(t, string(r.body), "processing", "the receiver's issue code is kept")
			assert.NotContains(t, string(r.body), "not yet", "the receiver's body is not echoed")
			r = g.as(nvNavigator("expert", "A00001"), "GET", "/$dead-letters", "")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.NotContains(t, string(r.body), "Task/"+id, "another practice's dead letters are not listed")

			mu.Lock()
			refusing = false
			mu.Unlock()
			r = g.as(nav, "POST", "/$redeliver", `{"resourceType":"Parameters","parameter":[{"name":"task","valueString":"`+id+`"}]}`)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			poll(t, "the delivery", func() bool {
				ds, err := ob.Deliveries(ctx, id)
				require.NoError(t, err)
				return ds[0].Status == store.DeliveryDelivered
			})
			r = g.as(nav, "GET", "/Task/"+id+"/$delivery-status", "")
			assert.Contains(t, string(r.body), `"valueCode":"delivered"`)
			r = g.as(nav, "POST", "/$redeliver", `{"resourceType":"Parameters","parameter":[{"name":"task","valueString":"`+id+`"}]}`)
			assert.Equal(t, http.StatusNotFound, r.status, "nothing dead left: %s", r.body)

			mu.Lock()
			defer mu.Unlock()
			require.Len(t, bodies, 1)
			var b struct {
				Type  string
				Entry []struct {
					FullURL  string
					Resource map[string]any
					Request  struct{ Method, URL, IfNoneExist string }
				}
			}
			require.NoError(t, json.Unmarshal(bodies[0], &b))
			assert.Equal(t, "transaction", b.Type)
			var got []string
			for _, e := range b.Entry {
				got = append(got, fmt.Sprintf("%s %s %t", e.Request.Method, e.Resource["resourceType"], e.Request.IfNoneExist != "" || strings.Contains(e.Request.URL, "?")))
				assert.True(t, strings.HasPrefix(e.FullURL, "urn:uuid:"))
			}
			assert.Equal(t, []string{"PUT Task true", "PUT ServiceRequest true", "POST Provenance true", "PUT Observation true"}, got)
			assert.Contains(t, string(bodies[0]), b.Entry[1].FullURL+`"`, "references point at the Bundle's entries")
		})
	}
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connectDemoPractice makes the FHIR base address the demo practice's
// clinical system: an Endpoint (sending "Authorization: Bearer
// practice-token") listed by the Organization demo-surgery, written
// straight to the store.
func connectDemoPractice(t testing.TB, st store.Store, address string) {
	t.Helper()
	ctx := context.Background()
	// The token is stored sealed with the store's key, as the gateway
	// stores it: every delivery test also proves the deliverer opens it.
	token := sealedAsStored(t, st, "Bearer practice-token")
	ep, err := fhir.ParseResource([]byte(`{"resourceType":"Endpoint","id":"surgery-ep","status":"active",
		"connectionType":{"system":"http://terminology.hl7.org/CodeSystem/endpoint-connection-type","code":"hl7-fhir-rest"},
		"payloadType":[{"text":"FHIR"}],"address":"` + address + `","header":["Authorization: ` + token + `"]}`))
	require.NoError(t, err)
	_, err = st.Create(ctx, ep)
	require.NoError(t, err)
	v, err := st.Read(ctx, "Organization", "demo-surgery")
	require.NoError(t, err)
	org, err := fhir.ParseResource(v.Body)
	require.NoError(t, err)
	org.Object()["endpoint"] = []any{map[string]any{"reference": "Endpoint/surgery-ep"}}
	_, err = st.Update(ctx, org, store.Precondition{})
	require.NoError(t, err)
}

// sealedAsStored is a header value as the gateway stores it: sealed with
// the store's key (as it is when the store keeps one).
func sealedAsStored(t testing.TB, st store.Store, value string) string {
	t.Helper()
	ks, ok := st.(sealed.KeyStore)
	if !ok {
		return value
	}
	box, err := sealed.FromStore(ks).Box(context.Background())
	require.NoError(t, err)
	return box.Seal(value)
}

// startDeliverers runs outcome delivery workers (clinicalsystem) on st and
// ob until the test ends.
func startDeliverers(t testing.TB, st store.Store, ob store.Outbox, cfg clinicalsystem.Config) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		clinicalsystem.New(st, ob, cfg).Run(ctx)
		close(done)
	}()
	t.Cleanup(func() { stop(); <-done })
}
