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

	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/postgres"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/internal/pgtest"
)

// hookCall is one request a subscriber received.
type hookCall struct {
	method, path, auth string
	body               []byte
}

// hookReceiver is a loopback rest-hook subscriber that records what it
// accepts; failing[path] > 0 answers that many requests to path with 500.
type hookReceiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	calls   []hookCall
	failing map[string]int
	refuse  map[string]bool
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{failing: map[string]int{}, refuse: map[string]bool{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		// The subscriber is /h/<name>; notifications go below it.
		parts := strings.SplitN(r.URL.Path, "/", 4)
		prefix := strings.Join(parts[:min(3, len(parts))], "/")
		if h.refuse[prefix] {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if h.failing[prefix] > 0 {
			h.failing[prefix]--
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		h.calls = append(h.calls, hookCall{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization"), body: body})
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// to lists the accepted calls whose path starts with prefix.
func (h *hookReceiver) to(prefix string) []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []hookCall
	for _, c := range h.calls {
		if strings.HasPrefix(c.path, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// quickDelivery is delivery for the tests: two workers, short polls and
// backoff, three attempts.
var quickDelivery = clinicalsystem.Config{Workers: 2, Timeout: 5 * time.Second, Poll: 5 * time.Millisecond,
	Backoff: store.Backoff{Base: 5 * time.Millisecond, Max: 20 * time.Millisecond, MaxAttempts: 3}}

func subscriptionJSON(criteria, endpoint, payload string) string {
	ch := map[string]any{"type": "rest-hook", "endpoint": endpoint, "header": []any{"Authorization: Bearer hook-secret"}}
	if payload != "" {
		ch["payload"] = payload
	}
	b, _ := json.Marshal(map[string]any{"resourceType": "Subscription", "status": "requested", "reason": "test",
		"criteria": criteria, "channel": ch})
	return string(b)
}

// TestRestHookSubscriptions runs R4 rest-hook Subscriptions end to end
// against a loopback subscriber, on both stores: the handshake, the two
// payload forms, tenancy, retries in order, dead letters and status, and
// that nothing is sent for writes that do not match or do not commit.
func TestRestHookSubscriptions(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			st := sc.open(t)
			ob := st.(store.Outbox)
			var failing atomic.Bool
			g := newNavGateway(t, st, nvOptions{delivery: true, wrap: nvFailingCreates("AuditEvent", &failing)})
			rc := newHookReceiver(t)
			startDeliverers(t, st, ob, quickDelivery)

			admin := nvAdmin("Y99999")
			nav := nvNavigator("expert", "Y99999")
			status := func(id string) map[string]any {
				r := g.as(admin, "GET", "/Subscription/"+id, "")
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
				return r.json(t)
			}
			waitStatus := func(id, want string) map[string]any {
				var got map[string]any
				poll(t, "Subscription/"+id+" "+want, func() bool {
					got = status(id)
					return got["status"] == want
				})
				return got
			}

			// Criteria and channel are validated.
			for _, bad := range []string{
				subscriptionJSON("Patient?name=x", rc.srv.URL+"/h/x", ""),
				subscriptionJSON("Task?no-such-param=1", rc.srv.URL+"/h/x", ""),
				subscriptionJSON("Task?status=requested&_sort=date", rc.srv.URL+"/h/x", ""),
				subscriptionJSON("Task?status=requested", "ftp://example.org/x", ""),
				subscriptionJSON("Task?status=requested", rc.srv.URL+"/h/x", "application/fhir+xml"),
				strings.Replace(subscriptionJSON("Task?status=requested", rc.srv.URL+"/h/x", ""), "rest-hook", "websocket", 1),
			} {
				r := g.as(admin, "POST", "/Subscription", bad)
				assert.Equal(t, http.StatusUnprocessableEntity, r.status, "%s: %s", bad, r.body)
			}

			// The handshake: success is active, a dead endpoint is error.
			full := g.created(t, admin, "Subscription", mustDecode(t, subscriptionJSON("Task?status=requested", rc.srv.URL+"/h/full", "application/fhir+json")))
			idOnly := g.created(t, admin, "Subscription", mustDecode(t, subscriptionJSON("Task?status=requested", rc.srv.URL+"/h/idonly", "")))
			never := g.created(t, admin, "Subscription", mustDecode(t, subscriptionJSON("Task?status=cancelled", rc.srv.URL+"/h/never", "")))
			flaky := g.created(t, admin, "Subscription", mustDecode(t, subscriptionJSON("Task?status=requested", rc.srv.URL+"/h/flaky", "application/fhir+json")))
			down := httptest.NewServer(http.NotFoundHandler())
			downURL := down.URL
			down.Close()
			dead := g.created(t, admin, "Subscription", mustDecode(t, subscriptionJSON("Task?status=requested", downURL+"/h", "")))
			for _, id := range []string{full, idOnly, never, flaky} {
				waitStatus(id, "active")
			}
			got := waitStatus(dead, "error")
			assert.Contains(t, got["error"], "handshake")
			// Updated with an endpoint that answers: a new handshake, active.
			got["channel"].(map[string]any)["endpoint"] = rc.srv.URL + "/h/fixed"
			b, _ := json.Marshal(got)
			r := g.as(admin, "PUT", "/Subscription/"+dead, string(b))
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.Equal(t, "requested", r.json(t)["status"])
			assert.NotContains(t, r.json(t), "error")
			waitStatus(dead, "active")
			hs := rc.to("/h/full")
			require.Len(t, hs, 1)
			assert.Equal(t, "POST", hs[0].method)
			assert.Empty(t, hs[0].body, "the handshake has no body")
			assert.Equal(t, "Bearer hook-secret", hs[0].auth)
			// Another practice's caller cannot see it.
			r = g.as(nvAdmin("A00001"), "GET", "/Subscription/"+full, "")
			assert.Equal(t, http.StatusNotFound, r.status, "%s", r.body)

			// A matching create and update: a PUT of each version to the
			// full-payload subscriber, an empty POST to the id-only one.
			s := nvClinical("phone", "Earache", 3.0)
			task := g.created(t, nav, "Task", nvTask(s, "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow))
			updateTask := func(id, note string) {
				t.Helper()
				r := g.as(nav, "GET", "/Task/"+id, "")
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
				obj := r.json(t)
				obj["note"] = []any{map[string]any{"text": note}}
				b, _ := json.Marshal(obj)
				r = g.as(nav, "PUT", "/Task/"+id, string(b))
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			}
			updateTask(task, "first")
			puts := func() []string {
				var out []string
				for _, c := range rc.to("/h/full/Task/" + task) {
					var v struct {
						ID   string
						Meta struct{ VersionID string }
					}
					require.NoError(t, json.Unmarshal(c.body, &v))
					assert.Equal(t, "PUT", c.method)
					assert.Equal(t, task, v.ID)
					out = append(out, v.Meta.VersionID)
				}
				return out
			}
			poll(t, "two full notifications", func() bool { return len(puts()) == 2 })
			assert.Equal(t, []string{"1", "2"}, puts())
			poll(t, "the handshake and two id-only notifications", func() bool { return len(rc.to("/h/idonly")) == 3 })
			for _, c := range rc.to("/h/idonly") {
				assert.Equal(t, "POST", c.method)
				assert.Equal(t, "/h/idonly", c.path)
				assert.Empty(t, c.body)
			}

			// Non-matching, other practice's and rolled-back writes
			// enqueue nothing (checked in the outbox, where the write's
			// transaction would have put it).
			keys := func(sub, id string) []store.Delivery {
				ds, err := ob.Deliveries(ctx, "Subscription/"+sub+"/Task/"+id)
				require.NoError(t, err)
				return ds
			}
			assert.Empty(t, keys(never, task), "criteria Task?status=cancelled matched a requested Task")
			other := g.created(t, nvNavigator("expert", "A00001"), "Task", nvTask(s, "A00001", "9990010005", "", nvNow))
			for _, sub := range []string{full, idOnly, flaky} {
				assert.Empty(t, keys(sub, other), "another practice's Task notified Subscription/%s", sub)
			}
			// (A navigator cannot choose the id of a new Task: the
			// rolled-back write is an update.)
			rolledBack := g.created(t, nav, "Task", nvTask(s, "Y99999", "9990010005", "", nvNow))
			notified := map[string]int{}
			for _, sub := range []string{full, idOnly, flaky} {
				notified[sub] = len(keys(sub, rolledBack))
			}
			failing.Store(true)
			tb, _ := json.Marshal(nvTask(s, "Y99999", "9990010005", "", nvNow))
			r = g.as(nav, "PUT", "/Task/"+rolledBack, strings.Replace(string(tb), `"resourceType":"Task"`, `"resourceType":"Task","id":"`+rolledBack+`"`, 1))
			require.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
			failing.Store(false)
			for _, sub := range []string{full, idOnly, flaky} {
				assert.Len(t, keys(sub, rolledBack), notified[sub], "a rolled-back write notified Subscription/%s", sub)
			}

			// Receiver 500 twice, then OK: each version once, in order.
			rc.mu.Lock()
			rc.failing["/h/full"] = 2
			rc.mu.Unlock()
			updateTask(task, "second")
			updateTask(task, "third")
			poll(t, "four full notifications", func() bool { return len(puts()) == 4 })
			assert.Equal(t, []string{"1", "2", "3", "4"}, puts())
			waitStatus(full, "active")

			// Out of attempts: dead letter and error; requeued and
			// delivered: active again.
			rc.mu.Lock()
			rc.refuse["/h/flaky"] = true
			rc.mu.Unlock()
			updateTask(task, "fifth")
			got = waitStatus(flaky, "error")
			assert.Contains(t, got["error"], "HTTP 500")
			var deadOne store.Delivery
			for _, d := range keys(flaky, task) {
				if d.Status == store.DeliveryDead {
					deadOne = d
				}
			}
			require.NotZero(t, deadOne.ID)
			r = g.as(nav, "GET", "/$dead-letters", "")
			assert.Contains(t, string(r.body), `"display":"notification about Task/`+task+`","reference":"Subscription/`+flaky+`"`, "listed in the practice's dead letters")
			r = g.as(nvNavigator("expert", "A00001"), "GET", "/$dead-letters", "")
			assert.NotContains(t, string(r.body), "Subscription/"+flaky, "not in another practice's")
			rc.mu.Lock()
			rc.refuse["/h/flaky"] = false
			rc.mu.Unlock()
			r = g.as(nav, "POST", "/$redeliver", `{"resourceType":"Parameters","parameter":[{"name":"subscription","valueString":"`+flaky+`"}]}`)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			r = g.as(nvNavigator("expert", "A00001"), "POST", "/$redeliver", `{"resourceType":"Parameters","parameter":[{"name":"subscription","valueString":"`+flaky+`"}]}`)
			assert.Equal(t, http.StatusNotFound, r.status, "another practice's caller: %s", r.body)
			waitStatus(flaky, "active")
			poll(t, "the requeued notification", func() bool {
				return len(rc.to("/h/flaky/Task/"+task)) == 5
			})
			// Deleting notifies too: DELETE for the full payload.
			r = g.as(nav, "DELETE", "/Task/"+task, "")
			require.Less(t, r.status, 300, "%s", r.body)
			poll(t, "the deletion", func() bool {
				c := rc.to("/h/full/Task/" + task)
				return len(c) > 0 && c[len(c)-1].method == "DELETE"
			})
		})
	}
}

// TestSubscriptionsFollowNavigateAndTransactions checks the other write
// paths notify too: the $navigate commit (the Task it updates and the
// allocation ServiceRequest) and a transaction Bundle entry.
func TestSubscriptionsFollowNavigateAndTransactions(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			st := sc.open(t)
			ob := st.(store.Outbox)
			g := newNavGateway(t, st, nvOptions{delivery: true})
			rc := newHookReceiver(t)
			startDeliverers(t, st, ob, quickDelivery)
			admin := nvAdmin("Y99999")
			nav := nvNavigator("expert", "Y99999")
			everyTask := g.created(t, admin, "Subscription", mustDecode(t, subscriptionJSON("Task?_lastUpdated=gt2000-01-01", rc.srv.URL+"/h/done", "application/fhir+json")))
			allocations := g.created(t, admin, "Subscription", mustDecode(t, subscriptionJSON("ServiceRequest?_lastUpdated=gt2000-01-01", rc.srv.URL+"/h/sr", "application/fhir+json")))
			requested := g.created(t, admin, "Subscription", mustDecode(t, subscriptionJSON("Task?status=requested", rc.srv.URL+"/h/req", "")))
			for _, id := range []string{everyTask, allocations, requested} {
				poll(t, "Subscription/"+id+" active", func() bool {
					r := g.as(admin, "GET", "/Subscription/"+id, "")
					return r.json(t)["status"] == "active"
				})
			}

			s := nvClinical("phone", "Earache", 3.0)
			task := g.created(t, nav, "Task", nvTask(s, "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow))
			res := nvNavigate(t, g, nav, task, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
			poll(t, "the Task as the commit wrote it", func() bool {
				for _, c := range rc.to("/h/done/Task/" + task) {
					var v struct{ Meta struct{ VersionID string } }
					if json.Unmarshal(c.body, &v) == nil && v.Meta.VersionID == "2" && c.method == "PUT" {
						return true
					}
				}
				return false
			})
			poll(t, "the allocation", func() bool { return len(rc.to("/h/sr/ServiceRequest/")) > 0 })

			tb, _ := json.Marshal(nvTask(s, "Y99999", "9990010005", "", nvNow))
			var entry map[string]any
			require.NoError(t, json.Unmarshal(tb, &entry))
			bundle, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
				map[string]any{"fullUrl": "urn:uuid:8c5b8f7e-3f0e-4c1e-9d55-0f1c2a3b4d5e", "resource": entry, "request": map[string]any{"method": "POST", "url": "Task"}},
			}})
			r := g.as(nav, "POST", "", string(bundle))
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			loc := fmt.Sprint(responses(t, r.json(t))[0]["location"])
			txTask := strings.Split(strings.TrimPrefix(loc[strings.Index(loc, "Task/"):], "Task/"), "/")[0]
			poll(t, "the transaction's notification", func() bool {
				ds, err := ob.Deliveries(ctx, "Subscription/"+requested+"/Task/"+txTask)
				require.NoError(t, err)
				return len(ds) == 1 && ds[0].Status == store.DeliveryDelivered
			})
		})
	}
}

// TestSubscriptionsSeenAcrossGateways: two gateways on one database, as
// two processes are. One has written a Task of the practice (and so
// looked for its Subscriptions, finding none) when a Subscription is
// made active through the other; its next write is notified.
func TestSubscriptionsSeenAcrossGateways(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			st := sc.open(t)
			ob := st.(store.Outbox)
			a := newNavGateway(t, st, nvOptions{delivery: true})
			b := newNavGateway(t, st, nvOptions{delivery: true})
			rc := newHookReceiver(t)
			startDeliverers(t, st, ob, quickDelivery)
			admin := nvAdmin("Y99999")
			nav := nvNavigator("expert", "Y99999")
			s := nvClinical("phone", "Earache", 3.0)

			before := a.created(t, nav, "Task", nvTask(s, "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow))
			sub := b.created(t, admin, "Subscription", mustDecode(t, subscriptionJSON("Task?_lastUpdated=gt2000-01-01", rc.srv.URL+"/h/x", "")))
			poll(t, "Subscription/"+sub+" active", func() bool {
				return b.as(admin, "GET", "/Subscription/"+sub, "").json(t)["status"] == "active"
			})
			after := a.created(t, nav, "Task", nvTask(s, "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow))
			poll(t, "the notification of the write after the Subscription", func() bool {
				ds, err := ob.Deliveries(ctx, "Subscription/"+sub+"/Task/"+after)
				require.NoError(t, err)
				return len(ds) == 1 && ds[0].Status == store.DeliveryDelivered
			})
			ds, err := ob.Deliveries(ctx, "Subscription/"+sub+"/Task/"+before)
			require.NoError(t, err)
			assert.Empty(t, ds, "the write before it is not notified")
		})
	}
}

// TestWritesDoNotWaitForASecondConnection: a write's transaction reads
// what it needs (the Subscription change counter among it) on its own
// connection. With every connection of a small pool held by a writing
// transaction, a second one from the pool would never come.
func TestWritesDoNotWaitForASecondConnection(t *testing.T) {
	t.Parallel()
	st, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.WithMaxConns(2))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	g := newNavGateway(t, st, nvOptions{delivery: true})
	nav := nvNavigator("expert", "Y99999")
	s := nvClinical("phone", "Earache", 3.0)
	body, err := json.Marshal(nvTask(s, "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow))
	require.NoError(t, err)
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Go(func() { statuses[i] = g.as(nav, "POST", "/Task", string(body)).status })
	}
	wg.Wait()
	for i, st := range statuses {
		assert.Equal(t, http.StatusCreated, st, "create %d", i)
	}
}
