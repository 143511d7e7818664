package gateway_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/gateway"
	"github.com/signpost-fhir/signpost/snomed"
)

func conditionBody(patient, system, code string) string {
	return `{"resourceType":"Condition","subject":{"reference":"Patient/` + patient + `"},"code":{"coding":[{"system":"` + system + `","code":"` + code + `"}]}}`
}

func TestTokenInAndNotIn(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			term := seededTerminology(t, st)
			g := newGateway(t, gateway.Options{Store: st}, func(s *gateway.Server) { s.RegisterTerminology(term) })
			p := g.created(t, "Patient", `{"resourceType":"Patient"}`)
			// 39579001 (anaphylactic reaction) is in the shipped red flag
			// value set; 308447003 (referral to physiotherapist) is not.
			red := g.created(t, "Condition", conditionBody(p, snomed.System, "39579001"))
			other := g.created(t, "Condition", conditionBody(p, snomed.System, "308447003"))
			redFlags := term.URL("ValueSet", snomed.RedFlagFindingVS)

			q := func(k, v string) string { return url.Values{k: {v}}.Encode() }
			assert.Equal(t, []string{red}, g.followAll(t, "/Condition?"+q("code:in", redFlags)))
			assert.Equal(t, []string{other}, g.followAll(t, "/Condition?"+q("code:not-in", redFlags)))
			// In a compartment, and as conditional criteria.
			assert.Equal(t, []string{red}, g.followAll(t, "/Patient/"+p+"/Condition?"+q("code:in", redFlags)))
			r := g.do("POST", "/Condition", conditionBody(p, snomed.System, "39579001"), "If-None-Exist", q("code:in", redFlags))
			assert.Equal(t, http.StatusOK, r.status, "the red flag condition matches: %s", r.body)

			// A value set stored under the canonical base, of codes of a
			// system the server does not hold.
			vsURL := term.URL("ValueSet", "heart-codes")
			put := g.do("PUT", "/ValueSet/heart-codes", `{"resourceType":"ValueSet","id":"heart-codes","url":"`+vsURL+`","status":"active",
			  "compose":{"include":[{"system":"http://loinc.org","concept":[{"code":"8867-4"}]}]}}`)
			require.Contains(t, []int{200, 201}, put.status, "%s", put.body)
			o1 := g.created(t, "Observation", obsBody("8867-4", p, ""))
			o2 := g.created(t, "Observation", obsBody("29463-7", p, ""))
			assert.Equal(t, []string{o1}, g.followAll(t, "/Observation?"+q("code:in", vsURL)))
			assert.Equal(t, []string{o2}, g.followAll(t, "/Observation?"+q("code:not-in", vsURL)))
			// Two value sets: any of them.
			assert.ElementsMatch(t, []string{o1}, g.followAll(t, "/Observation?"+q("code:in", vsURL+","+redFlags)))
			// Chained.
			assert.Equal(t, []string{p}, g.followAll(t, "/Patient?"+q("_has:Observation:subject:code:in", vsURL)))

			// Value sets the server does not hold (subsumption:
			// TestTokenBelowAndAbove).
			for _, bad := range []string{
				q("code:in", "http://example.org/ValueSet/unknown"),
				q("code:in", term.URL("ValueSet", "nothing-here")),
			} {
				r := g.do("GET", "/Condition?"+bad, "")
				assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", bad, r.body)
				r.outcome(t)
			}
		})
	}
}

// Without the terminology a value set search is refused, not ignored.
func TestTokenInWithoutTerminology(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		r := g.do("GET", "/Condition?code:in="+url.QueryEscape(snomed.DefaultBase+"/ValueSet/red-flag-finding"), "")
		assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
		assert.Equal(t, "not-supported", r.outcome(t)["code"])
	})
}

// Token :below and :above follow the is-a hierarchy of a code system the
// server holds: the code and its descendants, or its ancestors. A code
// system without one (SNOMED CT as Signpost holds it, a flat local one, one
// the server does not hold) is a 400, never the code alone.
func TestTokenBelowAndAbove(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			term := seededTerminology(t, st)
			g := newGateway(t, gateway.Options{Store: st}, func(s *gateway.Server) { s.RegisterTerminology(term) })
			cs := term.URL("CodeSystem", "social-needs")
			put := g.do("PUT", "/CodeSystem/social-needs", `{"resourceType":"CodeSystem","id":"social-needs","url":"`+cs+`","status":"active",
			  "content":"complete","hierarchyMeaning":"is-a","concept":[
			    {"code":"housing","display":"Housing need","concept":[
			      {"code":"housing-risk","display":"At risk of losing home","concept":[{"code":"eviction","display":"Eviction notice"}]},
			      {"code":"homeless","display":"Homeless"}]},
			    {"code":"money","display":"Money need"},
			    {"code":"debt","display":"Debt","property":[{"code":"parent","valueCode":"money"}]}]}`)
			require.Contains(t, []int{200, 201}, put.status, "%s", put.body)
			flat := term.URL("CodeSystem", "flat-needs")
			put = g.do("PUT", "/CodeSystem/flat-needs", `{"resourceType":"CodeSystem","id":"flat-needs","url":"`+flat+`","status":"active",
			  "content":"complete","concept":[{"code":"a","concept":[{"code":"b"}]}]}`)
			require.Contains(t, []int{200, 201}, put.status, "%s", put.body)

			p := g.created(t, "Patient", `{"resourceType":"Patient"}`)
			ids := map[string]string{}
			for _, code := range []string{"housing", "housing-risk", "eviction", "homeless", "money", "debt"} {
				ids[code] = g.created(t, "Condition", conditionBody(p, cs, code))
			}
			g.created(t, "Condition", conditionBody(p, "http://example.org/other", "eviction"))
			want := func(codes ...string) []string {
				var out []string
				for _, c := range codes {
					out = append(out, ids[c])
				}
				return out
			}
			q := func(k, v string) string { return url.Values{k: {v}}.Encode() }
			for query, codes := range map[string][]string{
				q("code:below", cs+"|housing"):              {"housing", "housing-risk", "eviction", "homeless"},
				q("code:below", cs+"|housing-risk"):         {"housing-risk", "eviction"},
				q("code:below", cs+"|eviction"):             {"eviction"},
				q("code:above", cs+"|eviction"):             {"housing", "housing-risk", "eviction"},
				q("code:above", cs+"|housing"):              {"housing"},
				q("code:below", cs+"|money"):                {"money", "debt"},
				q("code:above", cs+"|debt"):                 {"money", "debt"},
				q("code:below", cs+"|homeless,"+cs+"|debt"): {"homeless", "debt"},
			} {
				for _, prefer := range []string{"handling=strict", "handling=lenient"} {
					assert.ElementsMatch(t, want(codes...), g.followAll(t, "/Condition?"+query, "Prefer", prefer), query)
				}
			}
			assert.Equal(t, []string{p}, g.followAll(t, "/Patient?"+q("_has:Condition:subject:code:below", cs+"|housing-risk")))

			for bad, why := range map[string]string{
				q("code:below", snomed.System+"|39579001"):                             "no is-a relationships",
				q("code:above", snomed.System+"|39579001"):                             "no is-a relationships",
				q("code:below", flat+"|a"):                                             "no is-a hierarchy",
				q("code:below", term.URL("CodeSystem", "navigation-task")+"|navigate"): "no is-a hierarchy",
				q("code:below", "http://loinc.org|8867-4"):                             "needs a code system this server holds",
				q("code:below", term.URL("CodeSystem", "nothing-here")+"|x"):           "not held",
				q("code:below", cs+"|no-such-code"):                                    "is not a code of",
				q("code:below", "housing"):                                             "system|code",
			} {
				for _, prefer := range []string{"handling=strict", "handling=lenient"} {
					r := g.do("GET", "/Condition?"+bad, "", "Prefer", prefer)
					assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", bad, r.body)
					assert.Contains(t, r.outcome(t)["diagnostics"], why, bad)
				}
			}
		})
	}
}
