package gateway_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTransactionBatchedCriteria: the identifier criteria of a
// transaction's conditional entries are searched together; each entry
// must still get exactly what its own search would have found — one
// match, none, several (412), identifiers with search escapes, and
// criteria of other forms beside them.
func TestTransactionBatchedCriteria(t *testing.T) {
	t.Parallel()
	const sys = "https://publisher.example/org"
	org := func(value, name string) string {
		return `{"resourceType":"Organization","identifier":[{"system":"` + sys + `","value":"` + value + `"}],"name":"` + name + `"}`
	}
	byID := func(value string) string {
		v := strings.NewReplacer(`\`, `\\`, `,`, `\,`, `|`, `\|`, `$`, `\$`).Replace(value)
		return "identifier=" + url.QueryEscape(sys+"|"+v)
	}
	eachStore(t, func(t *testing.T, g *testGateway) {
		for _, o := range [][2]string{{"1", "one"}, {"2", "two"}, {"a,b|c", "escaped"}, {"dup", "first"}, {"dup", "second"}} {
			require.Equal(t, http.StatusCreated, g.do("POST", "/Organization", org(o[0], o[1])).status)
		}
		body := txBundle(t, "transaction",
			txEntry{Resource: res(t, org("1", "one renamed")), Request: req("PUT", "Organization?"+byID("1"))},
			txEntry{Resource: res(t, org("new", "new")), Request: req("PUT", "Organization?"+byID("new"))},
			txEntry{Resource: res(t, org("a,b|c", "escaped renamed")), Request: req("PUT", "Organization?"+byID("a,b|c"))},
			txEntry{Resource: res(t, org("2", "ignored")), Request: req("POST", "Organization", "ifNoneExist", byID("2"))},
			txEntry{Resource: res(t, org("3", "three")), Request: req("POST", "Organization", "ifNoneExist", byID("3"))},
			// Another form of criteria, searched on its own.
			txEntry{Resource: res(t, org("4", "four")), Request: req("PUT", "Organization?name=nobody-has-this-name")},
		)
		r := g.do("POST", "/", body)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		var statuses []string
		for _, x := range responses(t, r.json(t)) {
			statuses = append(statuses, x["status"].(string))
		}
		assert.Equal(t, []string{"200 OK", "201 Created", "200 OK", "200 OK", "201 Created", "201 Created"}, statuses)
		names := func(query string) []string {
			b := g.do("GET", "/Organization?"+query, "").json(t)
			var out []string
			for _, e := range asList(b["entry"]) {
				out = append(out, e.(map[string]any)["resource"].(map[string]any)["name"].(string))
			}
			return out
		}
		assert.Equal(t, []string{"one renamed"}, names(byID("1")))
		assert.Equal(t, []string{"escaped renamed"}, names(byID("a,b|c")))
		assert.Equal(t, []string{"two"}, names(byID("2")), "the conditional create found the existing one")
		assert.Equal(t, []string{"new"}, names(byID("new")))

		// Several matches: 412, naming the entry, and nothing is written.
		body = txBundle(t, "transaction",
			txEntry{Resource: res(t, org("1", "one again")), Request: req("PUT", "Organization?"+byID("1"))},
			txEntry{Resource: res(t, org("dup", "x")), Request: req("PUT", "Organization?"+byID("dup"))},
		)
		r = g.do("POST", "/", body)
		require.Equal(t, http.StatusPreconditionFailed, r.status, "%s", r.body)
		assert.Contains(t, r.outcome(t)["diagnostics"], "Bundle.entry[1]")
		assert.Equal(t, []string{"one renamed"}, names(byID("1")))
	})
}

func asList(v any) []any { l, _ := v.([]any); return l }
