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

			// Value sets the server does not hold, and subsumption.
			for _, bad := range []string{
				q("code:in", "http://example.org/ValueSet/unknown"),
				q("code:in", term.URL("ValueSet", "nothing-here")),
				q("code:below", snomed.System+"|39579001"),
				q("code:above", snomed.System+"|39579001"),
			} {
				r := g.do("GET", "/Condition?"+bad, "")
				assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", bad, r.body)
				r.outcome(t)
			}
			r = g.do("GET", "/Condition?"+q("code:below", snomed.System+"|39579001"), "")
			assert.Contains(t, r.outcome(t)["diagnostics"], "hierarchy")
		})
	}
}

// Without the terminology a value set search is refused, not ignored.
func TestTokenInWithoutTerminology(t *testing.T) {
	eachStore(t, func(t *testing.T, g *testGateway) {
		r := g.do("GET", "/Condition?code:in="+url.QueryEscape(snomed.DefaultBase+"/ValueSet/red-flag-finding"), "")
		assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
		assert.Equal(t, "not-supported", r.outcome(t)["code"])
	})
}
