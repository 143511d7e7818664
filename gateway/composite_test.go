package gateway_test

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func bpBody(id, patient string, systolic, diastolic int) string {
	q := func(v int) string {
		return `{"value":` + strconv.Itoa(v) + `,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}`
	}
	return `{"resourceType":"Observation","id":"` + id + `","status":"final",
	  "code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},"subject":{"reference":"Patient/` + patient + `"},
	  "component":[
	    {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":` + q(systolic) + `},
	    {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":` + q(diastolic) + `}]}`
}

// Composite parameters match their components within one value of the
// expression: component-code-value-quantity=8480-6$gt100 finds a
// component whose code is 8480-6 and whose own value is above 100, not an
// Observation with a systolic component and some other value above 100.
func TestCompositeSearch(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		g.load(t, []string{
			`{"resourceType":"Patient","id":"cp-1","name":[{"family":"High"}]}`,
			`{"resourceType":"Patient","id":"cp-2","name":[{"family":"Crossed"}]}`,
			bpBody("bp-high", "cp-1", 150, 80),
			// Systolic 95, diastolic 120: a systolic code and a value above
			// 100, but not in the same component.
			bpBody("bp-crossed", "cp-2", 95, 120),
			`{"resourceType":"Observation","id":"weight","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},
			  "subject":{"reference":"Patient/cp-1"},"valueQuantity":{"value":82.5,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}}`,
			`{"resourceType":"Observation","id":"smoker","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"72166-2"}]},
			  "subject":{"reference":"Patient/cp-1"},"valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"8517006"}]}}`,
			`{"resourceType":"Observation","id":"note","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8251-1"}]},
			  "subject":{"reference":"Patient/cp-2"},"valueString":"Feels Better today","effectiveDateTime":"2026-03-01"}`,
			`{"resourceType":"Observation","id":"onset","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"11368-8"}]},
			  "subject":{"reference":"Patient/cp-2"},"valueDateTime":"2026-02-14"}`,
			`{"resourceType":"Group","id":"grp","type":"person","actual":false,
			  "characteristic":[{"code":{"coding":[{"system":"http://loinc.org","code":"72166-2"}]},"valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"8517006"}]},"exclude":false},
			                    {"code":{"text":"age"},"valueBoolean":true,"exclude":false}]}`,
			`{"resourceType":"Questionnaire","id":"qn","status":"active","useContext":[
			  {"code":{"system":"http://terminology.hl7.org/CodeSystem/usage-context-type","code":"age"},"valueRange":{"low":{"value":18,"unit":"a","system":"http://unitsofmeasure.org","code":"a"}}},
			  {"code":{"system":"http://terminology.hl7.org/CodeSystem/usage-context-type","code":"focus"},"valueCodeableConcept":{"coding":[{"system":"http://example.org/needs","code":"housing"}]}}]}`,
		})
		q := func(typ, key, value string) string { return "/" + typ + "?" + url.Values{key: {value}}.Encode() }
		tests := []struct {
			path string
			want []string
		}{
			{q("Observation", "component-code-value-quantity", "http://loinc.org|8480-6$gt100"), []string{"bp-high"}},
			{q("Observation", "component-code-value-quantity", "8480-6$lt100"), []string{"bp-crossed"}},
			{q("Observation", "component-code-value-quantity", "http://loinc.org|8462-4$gt100"), []string{"bp-crossed"}},
			{q("Observation", "component-code-value-quantity", "http://loinc.org|8480-6$150|http://unitsofmeasure.org|mm[Hg]"), []string{"bp-high"}},
			{q("Observation", "component-code-value-quantity", "http://loinc.org|8480-6$150|http://unitsofmeasure.org|kg"), nil},
			{q("Observation", "component-code-value-quantity", "8480-6$gt100,8480-6$lt100"), []string{"bp-crossed", "bp-high"}},
			{q("Observation", "component-code-value-quantity", "http://loinc.org|29463-7$gt80"), nil},
			{q("Observation", "code-value-quantity", "http://loinc.org|29463-7$gt80"), []string{"weight"}},
			{q("Observation", "code-value-quantity", "http://loinc.org|29463-7$lt80"), nil},
			{q("Observation", "code-value-quantity", "http://loinc.org|8480-6$gt100"), nil},
			{q("Observation", "combo-code-value-quantity", "http://loinc.org|8480-6$gt100"), []string{"bp-high"}},
			{q("Observation", "combo-code-value-quantity", "http://loinc.org|29463-7$82.5"), []string{"weight"}},
			{q("Observation", "code-value-concept", "http://loinc.org|72166-2$http://snomed.info/sct|8517006"), []string{"smoker"}},
			{q("Observation", "code-value-concept", "http://loinc.org|72166-2$http://snomed.info/sct|266919005"), nil},
			{q("Observation", "combo-code-value-concept", "72166-2$8517006"), []string{"smoker"}},
			{q("Observation", "code-value-string", "http://loinc.org|8251-1$feels"), []string{"note"}},
			{q("Observation", "code-value-string", "http://loinc.org|8251-1$better"), nil},
			{q("Observation", "code-value-date", "http://loinc.org|11368-8$2026-02"), []string{"onset"}},
			{q("Observation", "code-value-date", "http://loinc.org|11368-8$gt2026-03"), nil},
			{q("Patient", "_has:Observation:subject:component-code-value-quantity", "http://loinc.org|8480-6$gt100"), []string{"cp-1"}},
			{q("Group", "characteristic-value", "http://loinc.org|72166-2$http://snomed.info/sct|8517006"), []string{"grp"}},
			{q("Group", "characteristic-value", "http://loinc.org|72166-2$true"), nil},
			{q("Observation", "component-code-value-quantity:missing", "false"), []string{"bp-crossed", "bp-high"}},
			{q("Questionnaire", "context-type-value", "focus$http://example.org/needs|housing"), []string{"qn"}},
			{q("Questionnaire", "context-type-value", "age$http://example.org/needs|housing"), nil},
			{q("Questionnaire", "context-type-quantity", "age$gt20"), []string{"qn"}},
			{q("Questionnaire", "context-type-quantity", "focus$gt20"), nil},
			{q("Observation", "code-value-concept:missing", "false"), []string{"smoker"}},
		}
		for _, tt := range tests {
			for _, prefer := range []string{"handling=strict", "handling=lenient"} {
				r := g.do("GET", tt.path, "", "Prefer", prefer)
				require.Equal(t, http.StatusOK, r.status, "%s: %s", tt.path, r.body)
				got := entryIDs(t, r.json(t), "match")
				sort.Strings(got)
				assert.Equal(t, tt.want, got, "%s (%s)", tt.path, prefer)
			}
		}
		// A value that is not one per component is a 400.
		for _, path := range []string{
			q("Observation", "component-code-value-quantity", "8480-6"),
			q("Observation", "component-code-value-quantity", "8480-6$gt100$x"),
			q("Observation", "component-code-value-quantity", "8480-6$high"),
		} {
			r := g.do("GET", path, "")
			assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", path, r.body)
		}
		// The CapabilityStatement lists the composites served, with their
		// components, and not those it cannot serve.
		r := g.do("GET", "/metadata", "")
		require.Equal(t, http.StatusOK, r.status)
		docs := map[string]string{}
		for _, res := range r.json(t)["rest"].([]any)[0].(map[string]any)["resource"].([]any) {
			m := res.(map[string]any)
			params, _ := m["searchParam"].([]any)
			for _, p := range params {
				sp := p.(map[string]any)
				if sp["type"] == "composite" {
					doc, _ := sp["documentation"].(string)
					docs[m["type"].(string)+"."+sp["name"].(string)] = doc
				}
			}
		}
		assert.Contains(t, docs["Observation.component-code-value-quantity"], "component-code (token) $ component-value-quantity (quantity)")
		for _, code := range []string{"code-value-concept", "code-value-date", "code-value-quantity", "code-value-string", "combo-code-value-concept", "combo-code-value-quantity", "component-code-value-concept"} {
			assert.Contains(t, docs, "Observation."+code)
		}
		assert.Contains(t, docs, "Group.characteristic-value")
		assert.NotContains(t, docs, "DocumentReference.relationship", "a reference component is not served")
		assert.NotContains(t, docs, "MolecularSequence.chromosome-variant-coordinate")

		// Updating a resource replaces its composite rows.
		g.load(t, []string{bpBody("bp-high", "cp-1", 99, 80)})
		r = g.do("GET", q("Observation", "component-code-value-quantity", "http://loinc.org|8480-6$gt100"), "")
		require.Equal(t, http.StatusOK, r.status)
		assert.Empty(t, entryIDs(t, r.json(t), "match"))
	})
}
