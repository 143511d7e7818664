package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/internal/oidctest"
)

// newSubscriptionGateway serves a gateway on st with a real token issuer
// and outcome delivery (so Subscriptions are served), with the rest-hook
// allow-list set unless list is nil.
func newSubscriptionGateway(t *testing.T, st store.Store, list *gateway.SubscriptionEndpoints) *nvGateway {
	t.Helper()
	iss := oidctest.New(t)
	v, err := auth.NewVerifier(context.Background(), auth.Config{Issuers: []string{iss.URL()}, Audience: iss.Audience()})
	require.NoError(t, err)
	g := newGateway(t, gateway.Options{Store: st, Verifier: v}, func(s *gateway.Server) {
		s.RegisterDelivery(st.(store.Outbox))
		if list != nil {
			s.SetSubscriptionEndpoints(*list)
		}
	})
	return &nvGateway{testGateway: g, st: st, iss: iss}
}

// A Subscription whose channel.endpoint is not on the operator's
// allow-list is refused with a 422 naming Subscription.channel.endpoint,
// however it is written (create, update, PATCH, transaction), and nothing
// is stored; one on the list is taken.
func TestSubscriptionEndpointAllowList(t *testing.T) {
	t.Parallel()
	st := stores[0].open(t)
	list, err := gateway.ParseSubscriptionEndpoints("https://hooks.example.org/signpost")
	require.NoError(t, err)
	g := newSubscriptionGateway(t, st, &list)
	admin := nvAdmin("Y99999")
	refused := func(r reply, what string) {
		t.Helper()
		require.Equal(t, http.StatusUnprocessableEntity, r.status, "%s: %s", what, r.body)
		assert.Contains(t, string(r.body), `"expression":["Subscription.channel.endpoint"]`, what)
	}
	stored := func() int {
		t.Helper()
		r := g.as(admin, "GET", "/Subscription?_total=accurate", "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		n, _ := r.json(t)["total"].(json.Number).Int64()
		return int(n)
	}
	for _, endpoint := range []string{
		"http://169.254.169.254/latest/meta-data/", // cloud metadata
		"http://127.0.0.1:5432/",                   // loopback is not on this list
		"https://hooks.example.org.evil.example/signpost",
		"https://hooks.example.org@evil.example/signpost",
		"https://hooks.example.org/signpostx",
		"http://hooks.example.org/signpost", // plain http
	} {
		refused(g.as(admin, "POST", "/Subscription", subscriptionJSON("Task?status=completed", endpoint, "")), endpoint)
	}
	assert.Equal(t, 0, stored(), "nothing stored")

	// In a transaction: the whole Bundle is refused.
	tx, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{map[string]any{
		"resource": mustDecode(t, subscriptionJSON("Task?status=completed", "https://evil.example/hook", "")),
		"request":  map[string]any{"method": "POST", "url": "Subscription"}}}})
	r := g.as(admin, "POST", "", string(tx))
	assert.Equal(t, http.StatusUnprocessableEntity, r.status, "%s", r.body)
	assert.Contains(t, string(r.body), "Subscription.channel.endpoint")
	assert.Equal(t, 0, stored(), "nothing stored")

	// On the list: stored. Moved off it by PUT or PATCH: refused, the
	// stored version unchanged.
	id := g.created(t, admin, "Subscription", mustDecode(t, subscriptionJSON("Task?status=completed", "https://hooks.example.org/signpost/Y99999", "")))
	r = g.as(admin, "GET", "/Subscription/"+id, "")
	require.Equal(t, http.StatusOK, r.status)
	sub := r.json(t)
	sub["channel"].(map[string]any)["endpoint"] = "http://10.0.0.5:8080/admin"
	b, _ := json.Marshal(sub)
	refused(g.as(admin, "PUT", "/Subscription/"+id, string(b)), "PUT")
	refused(g.as(admin, "PATCH", "/Subscription/"+id, `[{"op":"replace","path":"/channel/endpoint","value":"http://10.0.0.5/"}]`,
		"Content-Type", "application/json-patch+json"), "PATCH")
	r = g.as(admin, "GET", "/Subscription/"+id, "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, string(r.body), `"endpoint":"https://hooks.example.org/signpost/Y99999"`)
	assert.Contains(t, string(r.body), `"versionId":"1"`)
	assert.Equal(t, 1, stored())
}

// Without a list set, the gateway allows loopback endpoints only.
func TestSubscriptionEndpointDefaultIsLoopback(t *testing.T) {
	t.Parallel()
	g := newSubscriptionGateway(t, stores[0].open(t), nil)
	admin := nvAdmin("Y99999")
	r := g.as(admin, "POST", "/Subscription", subscriptionJSON("Task?status=completed", "https://hooks.example.org/signpost", ""))
	assert.Equal(t, http.StatusUnprocessableEntity, r.status, "%s", r.body)
	r = g.as(admin, "POST", "/Subscription", subscriptionJSON("Task?status=completed", "http://127.0.0.1:9/hook", ""))
	assert.Equal(t, http.StatusCreated, r.status, "%s", r.body)
}

// A Subscription stored while its endpoint was allowed is not notified
// once the list no longer allows it: two gateways on one store, the
// second with a list without loopback.
func TestSubscriptionEndpointRemovedFromTheList(t *testing.T) {
	t.Parallel()
	st := stores[0].open(t)
	rc := newHookReceiver(t)
	before := newSubscriptionGateway(t, st, nil) // loopback allowed
	admin := nvAdmin("Y99999")
	id := before.created(t, admin, "Subscription", mustDecode(t, subscriptionJSON("Task?status=requested", rc.srv.URL+"/h/gone", "")))
	startDeliverers(t, st, st.(store.Outbox), clinicalsystem.Config{Workers: 1, Poll: 5 * time.Millisecond})
	poll(t, "the handshake", func() bool {
		r := before.as(admin, "GET", "/Subscription/"+id, "")
		return strings.Contains(string(r.body), `"status":"active"`)
	})

	list, err := gateway.ParseSubscriptionEndpoints("https://hooks.example.org")
	require.NoError(t, err)
	after := newSubscriptionGateway(t, st, &list)
	task := map[string]any{"resourceType": "Task", "status": "requested", "intent": "order",
		"for": map[string]any{"identifier": map[string]any{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990010005"}}}
	// The gateways' issuers differ: each caller's token is its own. The
	// notification is enqueued in the write's transaction, or never.
	nav := nvNavigator("expert", "Y99999")
	queued := func(taskID string) int {
		ds, err := st.(store.Outbox).Deliveries(context.Background(), clinicalsystem.SubscriptionNotice{Subscription: id, Type: "Task", ID: taskID}.Key())
		require.NoError(t, err)
		return len(ds)
	}
	assert.Equal(t, 1, queued(before.created(t, nav, "Task", task)), "notified through the first gateway")
	assert.Equal(t, 0, queued(after.created(t, nav, "Task", task)), "not notified through the second")
	assert.Contains(t, after.logs.String(), "subscription endpoint not allowed")
}

// A notification queued while its endpoint was allowed, and sent after
// the operator's list stopped allowing it, is dead-lettered by the
// delivery workers, never sent.
func TestSubscriptionEndpointCheckedWhenSent(t *testing.T) {
	t.Parallel()
	st := stores[0].open(t)
	rc := newHookReceiver(t)
	g := newSubscriptionGateway(t, st, nil) // loopback allowed
	admin := nvAdmin("Y99999")
	id := g.created(t, admin, "Subscription", mustDecode(t, subscriptionJSON("Task?status=requested", rc.srv.URL+"/h/later", "")))
	run := func(cfg clinicalsystem.Config) func() {
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			clinicalsystem.New(st, st.(store.Outbox), cfg).Run(ctx)
			close(done)
		}()
		return func() { stop(); <-done }
	}
	stop := run(clinicalsystem.Config{Workers: 1, Poll: 5 * time.Millisecond})
	poll(t, "the handshake", func() bool {
		r := g.as(admin, "GET", "/Subscription/"+id, "")
		return strings.Contains(string(r.body), `"status":"active"`)
	})
	stop()
	handshakes := len(rc.to("/h/later"))
	require.Equal(t, 1, handshakes)

	task := map[string]any{"resourceType": "Task", "status": "requested", "intent": "order",
		"for": map[string]any{"identifier": map[string]any{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990010005"}}}
	taskID := g.created(t, nvNavigator("expert", "Y99999"), "Task", task)
	key := clinicalsystem.SubscriptionNotice{Subscription: id, Type: "Task", ID: taskID}.Key()
	deliveries := func() []store.Delivery {
		ds, err := st.(store.Outbox).Deliveries(context.Background(), key)
		require.NoError(t, err)
		return ds
	}
	require.Len(t, deliveries(), 1, "queued while the endpoint was allowed")

	list, err := gateway.ParseSubscriptionEndpoints("https://hooks.example.org")
	require.NoError(t, err)
	t.Cleanup(run(clinicalsystem.Config{Workers: 1, Poll: 5 * time.Millisecond, AllowSubscriptionEndpoint: list.Allows}))
	poll(t, "the notification is dead-lettered", func() bool {
		ds := deliveries()
		return len(ds) == 1 && ds[0].Status == store.DeliveryDead
	})
	assert.Contains(t, deliveries()[0].LastError, "not on the allow-list")
	assert.Len(t, rc.to("/h/later"), handshakes, "the endpoint heard nothing more")
}

// A subscriber that answers with a redirect is not followed there (the
// allow-list would be bypassed): the handshake fails, the Subscription is
// error, and the redirect's target hears nothing.
func TestSubscriptionRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	st := stores[0].open(t)
	var followed atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
	t.Cleanup(target.Close)
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/internal", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirecting.Close)
	g := newSubscriptionGateway(t, st, nil)
	admin := nvAdmin("Y99999")
	id := g.created(t, admin, "Subscription", mustDecode(t, subscriptionJSON("Task?status=requested", redirecting.URL+"/hook", "")))
	startDeliverers(t, st, st.(store.Outbox), clinicalsystem.Config{Workers: 1, Poll: 5 * time.Millisecond})
	var sub map[string]any
	poll(t, "the handshake's end", func() bool {
		sub = g.as(admin, "GET", "/Subscription/"+id, "").json(t)
		return sub["status"] != "requested"
	})
	assert.Equal(t, "error", sub["status"])
	assert.Contains(t, sub["error"], "HTTP 307")
	assert.Zero(t, followed.Load(), "the redirect was followed")
}
