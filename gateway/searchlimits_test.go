package gateway_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What search does not serve is named, with the reason, in the Bundle's
// outcome entry when lenient, and is a 400 under Prefer: handling=strict.
func TestUnservedSearchFeaturesAreNamed(t *testing.T) {
	eachStore(t, func(t *testing.T, g *testGateway) {
		p := g.created(t, "Patient", `{"resourceType":"Patient","name":[{"family":"Chain"}]}`)
		g.created(t, "Observation", obsBody("8867-4", p, ""))
		for query, why := range map[string]string{
			"/Observation?" + url.Values{"subject.organization.name": {"x"}}.Encode():                         "only one level of chaining",
			"/Patient?" + url.Values{"_has:Observation:subject:_has:Provenance:target:agent": {"x"}}.Encode(): "nested _has",
			"/Observation?" + url.Values{"colour": {"red"}}.Encode():                                          "unknown for Observation",
			"/Observation?" + url.Values{"code-value-quantity": {"http://loinc.org|8867-4$gt60"}}.Encode():    "composite parameters are not indexed",
		} {
			r := g.do("GET", query, "")
			require.Equal(t, http.StatusOK, r.status, "%s: %s", query, r.body)
			b := r.json(t)
			var diagnostics []string
			for _, e := range b["entry"].([]any) {
				m := e.(map[string]any)
				if m["search"].(map[string]any)["mode"] != "outcome" {
					continue
				}
				for _, is := range m["resource"].(map[string]any)["issue"].([]any) {
					diagnostics = append(diagnostics, is.(map[string]any)["diagnostics"].(string))
				}
			}
			assert.Contains(t, strings.Join(diagnostics, "\n"), why, query)

			r = g.do("GET", query, "", "Prefer", "handling=strict")
			assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", query, r.body)
			assert.Contains(t, r.outcome(t)["diagnostics"], why, query)
		}
	})
}
