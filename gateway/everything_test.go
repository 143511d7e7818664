package gateway_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allTypedIDs follows next links and lists "Type/id" of every match.
func (g *testGateway) allTypedIDs(t *testing.T, path string, headers ...string) (ids []string, outcomes []string) {
	t.Helper()
	for n := 0; path != "" && n < 100; n++ {
		r := g.do("GET", path, "", headers...)
		require.Equal(t, http.StatusOK, r.status, "%s: %s", path, r.body)
		b := r.json(t)
		entries, _ := b["entry"].([]any)
		for _, e := range entries {
			m := e.(map[string]any)
			res := m["resource"].(map[string]any)
			switch m["search"].(map[string]any)["mode"] {
			case "match":
				ids = append(ids, res["resourceType"].(string)+"/"+res["id"].(string))
			case "outcome":
				outcomes = append(outcomes, res["issue"].([]any)[0].(map[string]any)["diagnostics"].(string))
			}
		}
		path = ""
		for _, l := range b["link"].([]any) {
			if m := l.(map[string]any); m["relation"] == "next" {
				path = m["url"].(string)
			}
		}
	}
	return ids, outcomes
}

func TestPatientEverything(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		p1 := g.created(t, "Patient", `{"resourceType":"Patient","name":[{"family":"One"}]}`)
		p2 := g.created(t, "Patient", `{"resourceType":"Patient","name":[{"family":"Two"}]}`)
		o1 := g.created(t, "Observation", obsBody("8867-4", p1, ""))
		g.created(t, "Observation", obsBody("8867-4", p2, ""))
		o3 := g.created(t, "Observation", obsBody("29463-7", p2, p1))
		c1 := g.created(t, "Condition", `{"resourceType":"Condition","subject":{"reference":"Patient/`+p1+`"},"code":{"text":"x"}}`)
		f1 := g.created(t, "Flag", `{"resourceType":"Flag","status":"active","code":{"text":"x"},"subject":{"reference":"Patient/`+p1+`"}}`)
		org := g.created(t, "Organization", `{"resourceType":"Organization","name":"Not in the compartment"}`)
		_ = org

		want := []string{"Patient/" + p1, "Condition/" + c1, "Flag/" + f1, "Observation/" + o1, "Observation/" + o3}
		// Every page size gives each resource once, the patient first.
		for _, count := range []int{1, 2, 3, 50} {
			ids, _ := g.allTypedIDs(t, "/Patient/"+p1+"/$everything?_count="+strconv.Itoa(count))
			require.NotEmpty(t, ids)
			assert.Equal(t, "Patient/"+p1, ids[0], "count %d", count)
			assert.ElementsMatch(t, want, ids, "count %d", count)
		}
		// _type.
		ids, _ := g.allTypedIDs(t, "/Patient/"+p1+"/$everything?_type=Observation,Flag")
		assert.ElementsMatch(t, []string{"Flag/" + f1, "Observation/" + o1, "Observation/" + o3}, ids)
		// _since: only what changed at or after it.
		time.Sleep(20 * time.Millisecond)
		since := time.Now().UTC().Format(time.RFC3339Nano)
		time.Sleep(20 * time.Millisecond)
		upd := g.do("PUT", "/Condition/"+c1, `{"resourceType":"Condition","id":"`+c1+`","subject":{"reference":"Patient/`+p1+`"},"code":{"text":"y"}}`)
		require.Equal(t, http.StatusOK, upd.status, "%s", upd.body)
		ids, _ = g.allTypedIDs(t, "/Patient/"+p1+"/$everything?_since="+url.QueryEscape(since))
		assert.Equal(t, []string{"Condition/" + c1}, ids)
		// POST with Parameters.
		r := g.do("POST", "/Patient/"+p1+"/$everything", `{"resourceType":"Parameters","parameter":[{"name":"_type","valueString":"Flag"},{"name":"_count","valueInteger":5}]}`)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, []string{f1}, entryIDs(t, r.json(t), "match"))

		// Refusals.
		for path, status := range map[string]int{
			"/Patient/nobody/$everything":                        http.StatusNotFound,
			"/Patient/" + p1 + "/$everything?_type=Organization": http.StatusBadRequest,
			"/Patient/" + p1 + "/$everything?_type=AuditEvent":   http.StatusBadRequest,
			"/Patient/" + p1 + "/$everything?start=2020-01-01":   http.StatusBadRequest,
			"/Patient/" + p1 + "/$everything?colour=red":         http.StatusBadRequest,
			"/Patient/" + p1 + "/$everything?_since=yesterday":   http.StatusBadRequest,
			"/Patient/" + p1 + "/$everything?_count=0":           http.StatusBadRequest,
			"/Patient/" + p1 + "/$everything?_cursor=garbage":    http.StatusBadRequest,
		} {
			r := g.do("GET", path, "")
			assert.Equal(t, status, r.status, "%s: %s", path, r.body)
			r.outcome(t)
		}
		del := g.do("DELETE", "/Patient/"+p2, "")
		require.Equal(t, http.StatusNoContent, del.status, "%s", del.body)
		assert.Equal(t, http.StatusGone, g.do("GET", "/Patient/"+p2+"/$everything", "").status)
	})
}

func TestPatientEverythingTenancyScopesAudit(t *testing.T) {
	t.Parallel()
	eachSecureStore(t, func(t *testing.T, s *secure) {
		d := seedTenants(t, s)
		// Another practice's patient is the same 404 as none.
		r := s.as(d.navB, "GET", "/Patient/"+d.patA+"/$everything", "")
		assert.Equal(t, http.StatusNotFound, r.status, "%s", r.body)
		none := s.as(d.navB, "GET", "/Patient/no-such-patient/$everything", "")
		assert.Equal(t, r.status, none.status)
		assert.Equal(t, r.outcome(t)["code"], none.outcome(t)["code"])

		// The own practice's patient: its resources, not the other
		// practice's Task for the same patient.
		audits := s.audits(t)
		r = s.as(d.navA, "GET", "/Patient/"+d.patA+"/$everything", "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		b := r.json(t)
		assert.ElementsMatch(t, []string{d.patA, d.obsA, d.taskA}, entryIDs(t, b, "match"))
		assert.Equal(t, audits+1, s.audits(t), "audited once")
		assert.NotContains(t, string(r.body), "left out", "nothing left out for this token")

		// A token that may not read Observation: left out without _type,
		// refused with it.
		narrow := s.token(map[string]any{"scope": "user/Patient.rs user/Task.rs", "ods": []string{odsA}, "role": "navigator", "sub": "narrow"})
		r = s.as(narrow, "GET", "/Patient/"+d.patA+"/$everything", "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.ElementsMatch(t, []string{d.patA, d.taskA}, entryIDs(t, r.json(t), "match"))
		assert.Contains(t, string(r.body), "Observation")
		r = s.as(narrow, "GET", "/Patient/"+d.patA+"/$everything?_type=Observation", "")
		assert.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
		// Without read on Patient: refused.
		noPatient := s.token(map[string]any{"scope": "user/Observation.rs", "ods": []string{odsA}, "role": "navigator", "sub": "np"})
		assert.Equal(t, http.StatusForbidden, s.as(noPatient, "GET", "/Patient/"+d.patA+"/$everything", "").status)
	})
}
