package gateway_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSystemSearchWithType(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		p1 := g.created(t, "Patient", `{"resourceType":"Patient","name":[{"family":"One"}]}`)
		o1 := g.created(t, "Observation", obsBody("8867-4", p1, ""))
		org := g.created(t, "Organization", `{"resourceType":"Organization","name":"Org"}`)
		time.Sleep(20 * time.Millisecond)
		mid := time.Now().UTC().Format(time.RFC3339Nano)
		time.Sleep(20 * time.Millisecond)
		p2 := g.created(t, "Patient", `{"resourceType":"Patient","name":[{"family":"Two"}]}`)
		o2 := g.created(t, "Observation", obsBody("8867-4", p2, ""))

		ids, _ := g.allTypedIDs(t, "?_type=Patient,Observation")
		assert.ElementsMatch(t, []string{"Patient/" + p1, "Patient/" + p2, "Observation/" + o1, "Observation/" + o2}, ids)
		for _, count := range []string{"1", "3"} {
			ids, _ = g.allTypedIDs(t, "?_type=Patient,Observation&_count="+count)
			assert.ElementsMatch(t, []string{"Patient/" + p1, "Patient/" + p2, "Observation/" + o1, "Observation/" + o2}, ids, "count %s", count)
		}
		ids, _ = g.allTypedIDs(t, "?_type=Patient,Observation,Organization&_lastUpdated="+url.QueryEscape("ge"+mid))
		assert.ElementsMatch(t, []string{"Patient/" + p2, "Observation/" + o2}, ids)
		ids, _ = g.allTypedIDs(t, "?_type=Organization&_id="+org)
		assert.Equal(t, []string{"Organization/" + org}, ids)

		// Parameters not common to the listed types, and what a system
		// search does not serve, are refused whatever Prefer says.
		for _, q := range []string{
			"?_type=Patient,Observation&family=One",
			"?_type=Patient,Observation&_sort=_lastUpdated",
			"?_type=Patient&_include=Patient:organization",
			"?_type=Patient,Nothing",
			"?_type=Patient&_summary=count",
			"?_type=",
		} {
			r := g.do("GET", q, "")
			assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", q, r.body)
			r.outcome(t)
		}
		r := g.do("GET", "?_type=Patient,Observation&family=One", "")
		assert.Contains(t, r.outcome(t)["diagnostics"], "Observation does not define it")
		// A parameter every listed type has.
		ids, _ = g.allTypedIDs(t, "?_type=Patient&family=Two")
		assert.Equal(t, []string{"Patient/" + p2}, ids)

		// POST [base]/_search: the same search, parameters in the body
		// (and the query string), its next links followed by GET.
		form := "Content-Type"
		post := g.do("POST", "/_search", "_type=Patient,Observation&_count=1", form, "application/x-www-form-urlencoded")
		require.Equal(t, http.StatusOK, post.status, "%s", post.body)
		first := post.json(t)
		ids = matchTypedIDs(first)
		for _, l := range first["link"].([]any) {
			if m := l.(map[string]any); m["relation"] == "next" {
				rest, _ := g.allTypedIDs(t, m["url"].(string))
				ids = append(ids, rest...)
			}
		}
		assert.ElementsMatch(t, []string{"Patient/" + p1, "Patient/" + p2, "Observation/" + o1, "Observation/" + o2}, ids)
		post = g.do("POST", "/_search?_type=Organization", "_id="+org, form, "application/x-www-form-urlencoded")
		require.Equal(t, http.StatusOK, post.status, "%s", post.body)
		assert.Equal(t, []string{"Organization/" + org}, matchTypedIDs(post.json(t)))
		for body, want := range map[string]int{
			"_type=Patient,Observation&family=One": http.StatusBadRequest,
			"family=One":                           http.StatusBadRequest,
			"_type=Patient&family=%zz":             http.StatusBadRequest,
		} {
			r := g.do("POST", "/_search", body, form, "application/x-www-form-urlencoded")
			assert.Equal(t, want, r.status, "%s: %s", body, r.body)
			r.outcome(t)
		}
		assert.Equal(t, http.StatusUnsupportedMediaType, g.do("POST", "/_search", `{"resourceType":"Parameters"}`).status)
		assert.Equal(t, http.StatusMethodNotAllowed, g.do("GET", "/_search?_type=Patient", "").status)
	})
}

func TestSystemSearchTenancyScopesAudit(t *testing.T) {
	t.Parallel()
	eachSecureStore(t, func(t *testing.T, s *secure) {
		d := seedTenants(t, s)
		audits := s.audits(t)
		r := s.as(d.navB, "GET", "?_type=Patient,Observation", "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.ElementsMatch(t, []string{d.patB}, entryIDs(t, r.json(t), "match"), "practice B sees only its own")
		r = s.as(d.navA, "GET", "?_type=Patient,Observation", "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.ElementsMatch(t, []string{d.patA, d.obsA}, entryIDs(t, r.json(t), "match"))
		assert.Equal(t, audits+2, s.audits(t), "each system search of patient data is audited once")
		// The record names the types searched and the parameters.
		r = s.as(d.audit, "GET", "/AuditEvent?_sort=-_lastUpdated&_count=5", "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Contains(t, string(r.body), `"valueString":"Patient,Observation"`)
		assert.Contains(t, string(r.body), `"search-system"`)
		// Organization is not patient data: every practice sees it.
		r = s.as(d.navB, "GET", "?_type=Organization", "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.ElementsMatch(t, []string{d.orgA, d.orgB}, entryIDs(t, r.json(t), "match"))
		// Search on every listed type is needed.
		narrow := s.token(map[string]any{"scope": "user/Patient.rs", "ods": []string{odsA}, "role": "navigator", "sub": "narrow"})
		assert.Equal(t, http.StatusForbidden, s.as(narrow, "GET", "?_type=Patient,Observation", "").status)
		assert.Equal(t, http.StatusOK, s.as(narrow, "GET", "?_type=Patient", "").status)
	})
}

// matchTypedIDs are the type/id of a searchset page's match entries.
func matchTypedIDs(b map[string]any) []string {
	var ids []string
	entries, _ := b["entry"].([]any)
	for _, e := range entries {
		m := e.(map[string]any)
		if m["search"].(map[string]any)["mode"] == "match" {
			res := m["resource"].(map[string]any)
			ids = append(ids, res["resourceType"].(string)+"/"+res["id"].(string))
		}
	}
	return ids
}
