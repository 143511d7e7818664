package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway"
	"github.com/signpost-fhir/signpost/internal/sealed"
)

const (
	hookSecret     = "Bearer hook-secret"
	endpointSecret = "Bearer endpoint-secret"
)

// secretsGateway is a gateway with a real issuer, delivery workers and a
// loopback rest-hook receiver on the allow-list.
func secretsGateway(t *testing.T, st store.Store) (*nvGateway, *hookReceiver) {
	rc := newHookReceiver(t)
	list, err := gateway.ParseSubscriptionEndpoints(rc.srv.URL)
	require.NoError(t, err)
	g := newSubscriptionGateway(t, st, &list)
	startDeliverers(t, st, st.(store.Outbox), quickDelivery)
	return g, rc
}

func practiceAdminPublisher(ods string) map[string]any {
	return map[string]any{"scope": "user/*.cruds", "ods": []string{ods}, "role": []any{"admin", "publisher"}, "publisher": []string{ods}, "sub": "admin-publisher-" + ods, "client_id": "test-app"}
}

func endpointJSON(id, ods, address, header string) string {
	return fmt.Sprintf(`{"resourceType":"Endpoint","id":%q,"status":"active",
	 "connectionType":{"system":"http://terminology.hl7.org/CodeSystem/endpoint-connection-type","code":"hl7-fhir-rest"},
	 "payloadType":[{"text":"FHIR"}],"address":%q,"managingOrganization":{"identifier":{"system":%q,"value":%q}},
	 "header":[%q]}`, id, address, odsSys, ods, header)
}

// storedHeader reads the first secret header straight from the store.
func storedHeader(t *testing.T, st store.Store, typ, id string) string {
	t.Helper()
	v, err := st.Read(context.Background(), typ, id)
	require.NoError(t, err)
	var obj map[string]any
	require.NoError(t, json.Unmarshal(v.Body, &obj))
	list, _ := obj["header"].([]any)
	if typ == "Subscription" {
		list, _ = obj["channel"].(map[string]any)["header"].([]any)
	}
	require.NotEmpty(t, list, "%s/%s has no header", typ, id)
	// At rest the value is sealed: no version, no history row, no index
	// holds it in clear.
	raw := list[0].(string)
	name, value, ok := strings.Cut(raw, ": ")
	require.True(t, ok, "%q", raw)
	require.True(t, sealed.IsSealed(value), "%s/%s stores a header in clear: %q", typ, id, raw)
	ks, ok := st.(sealed.KeyStore)
	require.True(t, ok)
	box, err := sealed.FromStore(ks).Box(context.Background())
	require.NoError(t, err)
	opened, err := box.Open(value)
	require.NoError(t, err)
	return name + ": " + opened
}

// Endpoint.header and Subscription.channel.header are never answered, by
// any interaction, while the stored values stay for delivery.
func TestSecretHeadersAreNeverAnswered(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			g, rc := secretsGateway(t, st)
			admin := practiceAdminPublisher(odsA)
			nav := nvNavigator("expert", odsA)

			sub := g.created(t, admin, "Subscription", mustDecode(t, subscriptionJSON("Task?status=requested", rc.srv.URL+"/h/a", "")))
			r := g.as(admin, "PUT", "/Endpoint/ep-a", endpointJSON("ep-a", odsA, rc.srv.URL+"/fhir", "Authorization: "+endpointSecret), "Prefer", "return=representation")
			require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
			assert.NotContains(t, string(r.body), endpointSecret, "create answer")
			org := g.created(t, admin, "Organization", mustDecode(t, `{"resourceType":"Organization","name":"A","identifier":[{"system":"`+odsSys+`","value":"`+odsA+`"}],"endpoint":[{"reference":"Endpoint/ep-a"}]}`))
			require.Equal(t, "Authorization: "+hookSecret, storedHeader(t, st, "Subscription", sub))
			require.Equal(t, "Authorization: "+endpointSecret, storedHeader(t, st, "Endpoint", "ep-a"))

			batch := `{"resourceType":"Bundle","type":"batch","entry":[
			 {"request":{"method":"GET","url":"Subscription/` + sub + `"}},
			 {"request":{"method":"GET","url":"Endpoint/ep-a"}},
			 {"request":{"method":"GET","url":"Endpoint?_id=ep-a"}}]}`
			paths := []struct{ method, path, body string }{
				{"GET", "/Subscription/" + sub, ""},
				{"GET", "/Subscription/" + sub + "/_history/1", ""},
				{"GET", "/Subscription?_id=" + sub, ""},
				{"POST", "/Subscription/_search", ""},
				{"GET", "/Subscription/" + sub + "/_history", ""},
				{"GET", "/Subscription/_history", ""},
				{"GET", "/_history", ""},
				{"GET", "/Endpoint/ep-a", ""},
				{"GET", "/Endpoint/ep-a/_history/1", ""},
				{"GET", "/Endpoint", ""},
				{"GET", "/Endpoint/ep-a/_history", ""},
				{"GET", "/Endpoint/_history", ""},
				{"GET", "/Organization?_id=" + org + "&_include=Organization:endpoint", ""},
				{"GET", "/Endpoint?_id=ep-a&_revinclude=Organization:endpoint", ""},
				{"POST", "/", batch},
			}
			for _, p := range paths {
				var headers []string
				if p.method == "POST" && p.path == "/Subscription/_search" {
					headers = []string{"Content-Type", "application/x-www-form-urlencoded"}
				}
				r := g.as(admin, p.method, p.path, p.body, headers...)
				require.Equal(t, http.StatusOK, r.status, "%s %s: %s", p.method, p.path, r.body)
				assert.NotContains(t, string(r.body), "secret", "%s %s", p.method, p.path)
				assert.Contains(t, string(r.body), "Authorization: ******", "%s %s", p.method, p.path)
				assert.Contains(t, string(r.body), `"code":"MASKED"`, "%s %s", p.method, p.path)
			}

			// A read-modify-write round trip keeps the secrets, by a
			// caller who may not set them (the practice's navigator, a
			// publisher), by PUT, in a transaction and by PATCH.
			got := g.as(nav, "GET", "/Subscription/"+sub, "").json(t)
			got["reason"] = "round trip"
			b, _ := json.Marshal(got)
			r = g.as(nav, "PUT", "/Subscription/"+sub, string(b), "Prefer", "return=representation")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.NotContains(t, string(r.body), "secret")
			assert.Equal(t, "Authorization: "+hookSecret, storedHeader(t, st, "Subscription", sub))
			publisher := g.iss.Token(publisherClaims(odsA))
			ep := g.do("GET", "/Endpoint/ep-a", "", "Authorization", "Bearer "+publisher).json(t)
			ep["name"] = "round trip"
			tx, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
				map[string]any{"resource": ep, "request": map[string]any{"method": "PUT", "url": "Endpoint/ep-a"}}}})
			r = g.do("POST", "/", string(tx), "Authorization", "Bearer "+publisher, "Prefer", "return=representation")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.NotContains(t, string(r.body), "secret")
			assert.Equal(t, "Authorization: "+endpointSecret, storedHeader(t, st, "Endpoint", "ep-a"))
			r = g.as(nav, "PATCH", "/Subscription/"+sub, `[{"op":"replace","path":"/reason","value":"patched"}]`,
				"Content-Type", "application/json-patch+json", "Prefer", "return=representation")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.NotContains(t, string(r.body), "secret")
			assert.Equal(t, "Authorization: "+hookSecret, storedHeader(t, st, "Subscription", sub))
			// A patch cannot test the secret's value.
			r = g.as(admin, "PATCH", "/Subscription/"+sub, `[{"op":"test","path":"/channel/header/0","value":"Authorization: `+hookSecret+`"}]`,
				"Content-Type", "application/json-patch+json")
			assert.NotEqual(t, http.StatusOK, r.status, "a patch's test saw the secret: %s", r.body)

			// The real value still reaches the receiver.
			g.created(t, nav, "Task", mustDecode(t, `{"resourceType":"Task","status":"requested","intent":"order","owner":{"identifier":{"system":"`+odsSys+`","value":"`+odsA+`"}}}`))
			// Without a payload the notification is an empty POST, as the
			// handshake is: two calls.
			poll(t, "a notification", func() bool { return len(rc.to("/h/a")) >= 2 })
			for _, c := range rc.to("/h/a") {
				assert.Equal(t, hookSecret, c.auth)
			}
		})
	}
}

// Only the owning practice's administrator sets or changes a secret, or
// sends a kept one elsewhere.
func TestSecretHeadersNeedThePracticeAdmin(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			g, rc := secretsGateway(t, st)
			admin := practiceAdminPublisher(odsA)
			nav := nvNavigator("expert", odsA)
			publisher := publisherClaims(odsA)
			otherAdmin := practiceAdminPublisher(odsB)

			r := g.as(nav, "POST", "/Subscription", subscriptionJSON("Task?status=requested", rc.srv.URL+"/h/n", ""))
			assert.Equal(t, http.StatusForbidden, r.status, "a navigator sets a header: %s", r.body)
			r = g.as(publisher, "PUT", "/Endpoint/ep-p", endpointJSON("ep-p", odsA, rc.srv.URL+"/fhir", "Authorization: Bearer mine"))
			assert.Equal(t, http.StatusForbidden, r.status, "a publisher sets a header: %s", r.body)
			r = g.as(otherAdmin, "PUT", "/Endpoint/ep-o", endpointJSON("ep-o", odsA, rc.srv.URL+"/fhir", "Authorization: Bearer mine"))
			assert.Equal(t, http.StatusForbidden, r.status, "another practice's admin sets a header: %s", r.body)

			sub := g.created(t, admin, "Subscription", mustDecode(t, subscriptionJSON("Task?status=requested", rc.srv.URL+"/h/a", "")))
			r = g.as(admin, "PUT", "/Endpoint/ep-a", endpointJSON("ep-a", odsA, rc.srv.URL+"/fhir", "Authorization: "+endpointSecret))
			require.Equal(t, http.StatusCreated, r.status, "%s", r.body)

			change := func(who map[string]any, typ, id string, edit func(map[string]any)) reply {
				t.Helper()
				obj := g.as(admin, "GET", "/"+typ+"/"+id, "").json(t)
				edit(obj)
				b, _ := json.Marshal(obj)
				return g.as(who, "PUT", "/"+typ+"/"+id, string(b))
			}
			channel := func(o map[string]any) map[string]any { return o["channel"].(map[string]any) }
			for name, edit := range map[string]func(map[string]any){
				"new value":      func(o map[string]any) { channel(o)["header"] = []any{"Authorization: Bearer guessed"} },
				"removed":        func(o map[string]any) { delete(channel(o), "header") },
				"sent elsewhere": func(o map[string]any) { channel(o)["endpoint"] = rc.srv.URL + "/h/thief" },
			} {
				r := change(nav, "Subscription", sub, edit)
				assert.Equal(t, http.StatusForbidden, r.status, "navigator, %s: %s", name, r.body)
			}
			r = change(publisher, "Endpoint", "ep-a", func(o map[string]any) { o["header"] = []any{"Authorization: Bearer guessed"} })
			assert.Equal(t, http.StatusForbidden, r.status, "publisher changes the header: %s", r.body)
			r = change(publisher, "Endpoint", "ep-a", func(o map[string]any) { o["address"] = rc.srv.URL + "/thief" })
			assert.Equal(t, http.StatusForbidden, r.status, "publisher sends the header elsewhere: %s", r.body)
			r = change(nav, "Subscription", sub, func(o map[string]any) { channel(o)["header"] = []any{"X-Other: ******"} })
			assert.Equal(t, http.StatusUnprocessableEntity, r.status, "a masked header with nothing stored: %s", r.body)
			assert.Equal(t, "Authorization: "+hookSecret, storedHeader(t, st, "Subscription", sub))
			assert.Equal(t, "Authorization: "+endpointSecret, storedHeader(t, st, "Endpoint", "ep-a"))

			// The administrator may change them.
			r = change(admin, "Subscription", sub, func(o map[string]any) { channel(o)["header"] = []any{"Authorization: Bearer rotated"} })
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.Equal(t, "Authorization: Bearer rotated", storedHeader(t, st, "Subscription", sub))
			r = change(admin, "Endpoint", "ep-a", func(o map[string]any) { o["header"] = []any{"Authorization: Bearer rotated"} })
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.Equal(t, "Authorization: Bearer rotated", storedHeader(t, st, "Endpoint", "ep-a"))
		})
	}
}
