package gateway_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// created posts body in development mode and returns the new id.
func (g *testGateway) created(t *testing.T, typ, body string) string {
	t.Helper()
	r := g.do("POST", "/"+typ, body)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	return r.json(t)["id"].(string)
}

// followAll follows next links from path and lists the match ids of
// every page.
func (g *testGateway) followAll(t *testing.T, path string, headers ...string) []string {
	t.Helper()
	var ids []string
	for n := 0; path != "" && n < 50; n++ {
		r := g.do("GET", path, "", headers...)
		require.Equal(t, http.StatusOK, r.status, "%s: %s", path, r.body)
		b := r.json(t)
		ids = append(ids, entryIDs(t, b, "match")...)
		path = ""
		links, _ := b["link"].([]any)
		for _, l := range links {
			if m := l.(map[string]any); m["relation"] == "next" {
				path = m["url"].(string)
			}
		}
	}
	return ids
}

func obsBody(code, subject, performer string) string {
	s := `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"` + code + `"}]},"subject":{"reference":"Patient/` + subject + `"}`
	if performer != "" {
		s += `,"performer":[{"reference":"Patient/` + performer + `"}]`
	}
	return s + "}"
}

func TestPatientCompartmentSearch(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		p1 := g.created(t, "Patient", `{"resourceType":"Patient","name":[{"family":"One"}]}`)
		p2 := g.created(t, "Patient", `{"resourceType":"Patient","name":[{"family":"Two"}]}`)
		p3 := g.created(t, "Patient", `{"resourceType":"Patient","name":[{"family":"Three"}],"link":[{"other":{"reference":"Patient/`+p1+`"},"type":"seealso"}]}`)
		o1 := g.created(t, "Observation", obsBody("8867-4", p1, ""))
		g.created(t, "Observation", obsBody("8867-4", p2, ""))
		o3 := g.created(t, "Observation", obsBody("29463-7", p2, p1)) // p1 performed it: in p1's compartment too
		c1 := g.created(t, "Condition", `{"resourceType":"Condition","subject":{"reference":"Patient/`+p1+`"},"code":{"text":"x"}}`)

		ids := g.followAll(t, "/Patient/"+p1+"/Observation")
		assert.ElementsMatch(t, []string{o1, o3}, ids)
		ids = g.followAll(t, "/Patient/"+p1+"/Observation?code=http://loinc.org|8867-4")
		assert.Equal(t, []string{o1}, ids)
		// Paging keeps the compartment: the links are compartment links.
		r := g.do("GET", "/Patient/"+p1+"/Observation?_count=1", "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		for _, l := range r.json(t)["link"].([]any) {
			assert.Contains(t, l.(map[string]any)["url"], "/fhir/Patient/"+p1+"/Observation?")
		}
		assert.ElementsMatch(t, []string{o1, o3}, g.followAll(t, "/Patient/"+p1+"/Observation?_count=1"))
		// A single-parameter type.
		assert.Equal(t, []string{c1}, g.followAll(t, "/Patient/"+p1+"/Condition"))
		assert.Empty(t, g.followAll(t, "/Patient/"+p2+"/Condition"))
		// The patient itself and the patients that link to it.
		assert.ElementsMatch(t, []string{p1, p3}, g.followAll(t, "/Patient/"+p1+"/Patient"))
		assert.ElementsMatch(t, []string{p1}, g.followAll(t, "/Patient/"+p1+"/Patient?family=one"))
		// POST _search with a form body.
		post := g.do("POST", "/Patient/"+p1+"/Observation/_search", url.Values{"code": {"29463-7"}}.Encode(), "Content-Type", "application/x-www-form-urlencoded")
		require.Equal(t, http.StatusOK, post.status, "%s", post.body)
		assert.Equal(t, []string{o3}, entryIDs(t, post.json(t), "match"))

		// A type outside the compartment, an unknown type, a bad id.
		r = g.do("GET", "/Patient/"+p1+"/Organization", "")
		assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
		assert.Contains(t, r.outcome(t)["diagnostics"], "not in the Patient compartment")
		assert.Equal(t, http.StatusNotFound, g.do("GET", "/Patient/"+p1+"/Nothing", "").status)
		assert.Equal(t, http.StatusNotFound, g.do("GET", "/Patient/bad$id/Observation", "").status)
		assert.Equal(t, http.StatusMethodNotAllowed, g.do("DELETE", "/Patient/"+p1+"/Observation", "").status)
		// Strict handling refuses an unknown parameter, as the plain search does.
		r = g.do("GET", "/Patient/"+p1+"/Observation?nonsense=1", "", "Prefer", "handling=strict")
		assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	})
}

func TestPatientCompartmentSearchTenancyScopesAudit(t *testing.T) {
	t.Parallel()
	eachSecureStore(t, func(t *testing.T, s *secure) {
		d := seedTenants(t, s)
		// Practice B sees nothing of A's patient, as with Observation?subject=.
		assert.Empty(t, s.searchIDs(t, d.navB, "/Patient/"+d.patA+"/Observation", "match"))
		assert.Empty(t, s.searchIDs(t, d.navB, "/Observation?subject=Patient/"+d.patA, "match"))
		// Its own Task for A's patient it does see, in both.
		assert.Equal(t, []string{d.taskBforA}, s.searchIDs(t, d.navB, "/Patient/"+d.patA+"/Task", "match"))
		assert.Equal(t, []string{d.taskBforA}, s.searchIDs(t, d.navB, "/Task?patient=Patient/"+d.patA, "match"))
		// Practice A sees its own.
		audits := s.audits(t)
		assert.Equal(t, []string{d.obsA}, s.searchIDs(t, d.navA, "/Patient/"+d.patA+"/Observation", "match"))
		assert.ElementsMatch(t, []string{d.taskA}, s.searchIDs(t, d.navA, "/Patient/"+d.patA+"/Task", "match"))
		assert.Equal(t, audits+2, s.audits(t), "each compartment search is audited once")
		// The audit names the searched type and the compartment parameter.
		r := s.as(d.audit, "GET", "/AuditEvent?_sort=-_lastUpdated&_count=1", "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Contains(t, string(r.body), "Task")
		// Scopes: search on the type is needed.
		noObs := s.token(map[string]any{"scope": "user/Patient.rs user/Task.rs", "ods": []string{odsA}, "role": "navigator", "sub": "no-obs"})
		r = s.as(noObs, "GET", "/Patient/"+d.patA+"/Observation", "")
		assert.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
		assert.Equal(t, http.StatusForbidden, s.as(noObs, "GET", "/Observation?subject=Patient/"+d.patA, "").status)
		assert.False(t, strings.Contains(string(r.body), d.obsA))
	})
}
