package gateway_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Another practice's Subscription (endpoint, channel.header, criteria)
// reaches no one outside the practice: not by instance, type or system
// history, not by a chain or an _include from the caller's own Task.
func TestSubscriptionsStayInTheirPractice(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			g, rc := secretsGateway(t, st)
			adminA := nvAdmin(odsA)
			navA, navB := nvNavigator("expert", odsA), nvNavigator("expert", odsB)
			hook := rc.srv.URL + "/h/practice-a"
			sub := g.created(t, adminA, "Subscription", mustDecode(t, subscriptionJSON("Task?status=requested", hook, "")))
			focused := func(ods string) string {
				return `{"resourceType":"Task","status":"draft","intent":"order","focus":{"reference":"Subscription/` + sub + `"},
				 "owner":{"identifier":{"system":"` + odsSys + `","value":"` + ods + `"}}}`
			}
			taskA := g.created(t, navA, "Task", mustDecode(t, focused(odsA)))
			taskB := g.created(t, navB, "Task", mustDecode(t, focused(odsB)))

			outsiders := map[string]map[string]any{
				"another practice's navigator": navB,
				"another practice's admin":     nvAdmin(odsB),
				"a publisher":                  publisherClaims(odsA, odsB),
				"a token with no practice":     {"scope": "user/*.cruds", "role": "navigator", "sub": "nobody", "client_id": "test-app"},
			}
			for who, claims := range outsiders {
				for _, path := range []string{"/Subscription/" + sub, "/Subscription/" + sub + "/_history", "/Subscription/" + sub + "/_history/1",
					"/Subscription/_history", "/_history", "/Subscription?_id=" + sub} {
					r := g.as(claims, "GET", path, "")
					assert.NotContains(t, string(r.body), `"resourceType":"Subscription"`, "%s: GET %s (%d)", who, path, r.status)
					assert.NotContains(t, string(r.body), "practice-a", "%s: GET %s (%d)", who, path, r.status)
					if r.status == http.StatusOK && path == "/Subscription/"+sub {
						t.Errorf("%s reads the Subscription", who)
					}
				}
			}
			r := g.as(navB, "GET", "/Subscription/"+sub+"/_history", "")
			assert.Equal(t, http.StatusNotFound, r.status, "%s", r.body)

			ids := func(claims map[string]any, query, mode string) []string {
				t.Helper()
				r := g.as(claims, "GET", query, "")
				require.Equal(t, http.StatusOK, r.status, "%s: %s", query, r.body)
				return entryIDs(t, r.json(t), mode)
			}
			// Chains and includes from B's own Task do not reach A's
			// Subscription; from A's Task they do.
			chain := "/Task?focus:Subscription.url=" + url.QueryEscape(hook)
			assert.Empty(t, ids(navB, chain, "match"), "B's chain answers about A's Subscription")
			assert.Equal(t, []string{taskA}, ids(navA, chain, "match"))
			inc := "/Task?_id=" + taskB + "&_include=Task:focus:Subscription"
			assert.Equal(t, []string{taskB}, ids(navB, inc, "match"))
			assert.Empty(t, ids(navB, inc, "include"))
			r = g.as(navB, "GET", "/Subscription?_has:Task:focus:_id="+taskB, "")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.NotContains(t, string(r.body), "practice-a")
		})
	}
}
