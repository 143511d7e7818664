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
// outcome entry when lenient, and is a 400 under Prefer: handling=strict;
// what would change the meaning of the search if dropped (a modifier, a
// chain or _has beyond the depth served) is a 400 either way. Nothing is
// silently ignored.
func TestUnservedSearchFeaturesAreNamed(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		p := g.created(t, "Patient", `{"resourceType":"Patient","name":[{"family":"Chain"}]}`)
		g.created(t, "Observation", obsBody("8867-4", p, ""))
		q := func(typ, key, value string) string { return "/" + typ + "?" + url.Values{key: {value}}.Encode() }
		for query, why := range map[string]string{
			q("Observation", "colour", "red"):                                          "unknown for Observation",
			q("Observation", "subject.organization.colour", "x"):                       "no target type of organization has a parameter colour",
			q("Observation", "subject:Patient.organization.partof.colour", "x"):        "no target type of partof has a parameter colour",
			q("Patient", "_has:Observation:subject:_has:Nothing:subject:status", "x"):  "searching Nothing is not supported",
			q("Patient", "_has:Observation:subject:_has:Provenance:colour:agent", "x"): "Provenance has no search parameter colour",
			q("DocumentReference", "relationship", "replaces$DocumentReference/x"):     "a reference component (relatesto) is not supported",
			q("MolecularSequence", "chromosome-variant-coordinate", "1$2$3"):           "cannot evaluate",
			q("Location", "near", "51.5|-0.1|10|km"):                                   "special parameters are not indexed",
			q("Patient", "phonetic", "smith"):                                          "phonetic search is not provided",
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
		for query, why := range map[string]string{
			q("Observation", "subject:Patient.organization.partof.partof.name", "x"):                                    "more than 3 levels",
			q("Patient", "_has:Observation:subject:_has:Provenance:target:_has:Task:focus:_has:Task:focus:status", "x"): "more than 3 levels",
			q("Observation", "code:below", "http://snomed.info/sct|39579001"):                                           "hierarchy",
			q("Observation", "code:above", "http://loinc.org|8867-4"):                                                   "hierarchy",
			q("Observation", "subject.organization.name:below", "x"):                                                    ":below is not supported",
			q("Observation", "code-value-quantity:exact", "8867-4$60"):                                                  ":exact is not supported",
			q("Observation", "code-value-quantity", "8867-4"):                                                           "joined by $",
		} {
			for _, prefer := range []string{"handling=lenient", "handling=strict"} {
				r := g.do("GET", query, "", "Prefer", prefer)
				assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", query, r.body)
				assert.Contains(t, r.outcome(t)["diagnostics"], why, query)
			}
		}
	})
}
