package gateway_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
)

const taskBody = `{"resourceType":"Task","status":"requested","intent":"order",
 "_status":{"extension":[{"url":"http://example.org/x","valueString":"kept"}]},
 "code":{"coding":[{"system":"https://signpost.example/fhir/CodeSystem/navigation-task","code":"navigate"}]},
 "for":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}},
 "authoredOn":"2026-11-20T09:30:00+00:00",
 "input":[
  {"type":{"coding":[{"system":"https://signpost.example/fhir/CodeSystem/navigation-input","code":"contact-route"}]},"valueCode":"phone"},
  {"type":{"coding":[{"system":"https://signpost.example/fhir/CodeSystem/navigation-input","code":"asked-before"}]},"valueBoolean":false},
  {"type":{"coding":[{"system":"https://signpost.example/fhir/CodeSystem/navigation-input","code":"duration"}]},"valueDuration":{"value":1.50,"unit":"d","system":"http://unitsofmeasure.org","code":"d"}},
  {"type":{"coding":[{"system":"https://signpost.example/fhir/CodeSystem/navigation-input","code":"problem"}]},"valueString":"cough <3 weeks & tired"}
 ]}`

func TestCreateReadUpdateDeleteHistory(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		sent := mustDecode(t, taskBody)

		created := g.do("POST", "/Task", taskBody)
		require.Equal(t, http.StatusCreated, created.status, "%s", created.body)
		obj := created.json(t)
		id := obj["id"].(string)
		assert.True(t, fhir.ValidID(id))
		assert.Equal(t, g.base+"/Task/"+id+"/_history/1", created.header.Get("Location"))
		assert.Equal(t, `W/"1"`, created.header.Get("ETag"))
		assert.NotEmpty(t, created.header.Get("Last-Modified"))
		assert.Equal(t, "1", obj["meta"].(map[string]any)["versionId"])
		assert.True(t, fhir.Equal(sent, withoutServerMeta(obj, true)), "create changed the resource: %s", created.body)

		read := g.do("GET", "/Task/"+id, "")
		require.Equal(t, http.StatusOK, read.status)
		assert.Equal(t, `W/"1"`, read.header.Get("ETag"))
		assert.Equal(t, created.header.Get("Last-Modified"), read.header.Get("Last-Modified"))
		assert.Contains(t, read.header.Get("Content-Type"), "application/fhir+json")
		assert.True(t, fhir.Equal(sent, withoutServerMeta(read.json(t), true)))
		assert.Contains(t, string(read.body), `"valueDuration":{"code":"d","system":"http://unitsofmeasure.org","unit":"d","value":1.50}`, "decimal text kept")

		notModified := g.do("GET", "/Task/"+id, "", "If-None-Match", `W/"1"`)
		assert.Equal(t, http.StatusNotModified, notModified.status)

		// Update with the right version, then a stale one.
		upd := strings.Replace(taskBody, `"status":"requested"`, fmt.Sprintf(`"id":%q,"status":"accepted"`, id), 1)
		ok := g.do("PUT", "/Task/"+id, upd, "If-Match", `W/"1"`)
		require.Equal(t, http.StatusOK, ok.status, "%s", ok.body)
		assert.Equal(t, `W/"2"`, ok.header.Get("ETag"))
		stale := g.do("PUT", "/Task/"+id, strings.Replace(upd, "accepted", "rejected", 1), "If-Match", `W/"1"`)
		assert.Equal(t, http.StatusPreconditionFailed, stale.status)
		assert.Equal(t, "conflict", stale.outcome(t)["code"])
		assert.Equal(t, "accepted", g.do("GET", "/Task/"+id, "").json(t)["status"], "a 412 changes nothing")

		v1 := g.do("GET", "/Task/"+id+"/_history/1", "")
		require.Equal(t, http.StatusOK, v1.status)
		assert.Equal(t, "requested", v1.json(t)["status"])
		assert.Equal(t, `W/"1"`, v1.header.Get("ETag"))
		assert.Equal(t, http.StatusNotFound, g.do("GET", "/Task/"+id+"/_history/9", "").status)
		assert.Equal(t, http.StatusNotFound, g.do("GET", "/Task/"+id+"/_history/x", "").status)

		del := g.do("DELETE", "/Task/"+id, "")
		assert.Equal(t, http.StatusNoContent, del.status)
		gone := g.do("GET", "/Task/"+id, "")
		assert.Equal(t, http.StatusGone, gone.status)
		assert.Equal(t, "deleted", gone.outcome(t)["code"])
		assert.Equal(t, http.StatusOK, g.do("GET", "/Task/"+id+"/_history/2", "").status, "old versions stay readable")
		assert.Equal(t, http.StatusNoContent, g.do("DELETE", "/Task/"+id, "").status, "deleting twice is fine")

		hist := g.do("GET", "/Task/"+id+"/_history", "")
		require.Equal(t, http.StatusOK, hist.status)
		b := hist.json(t)
		assert.Equal(t, "history", b["type"])
		assert.EqualValues(t, "3", fmt.Sprint(b["total"]))
		entries := b["entry"].([]any)
		require.Len(t, entries, 3)
		methods := []string{}
		for _, e := range entries {
			methods = append(methods, e.(map[string]any)["request"].(map[string]any)["method"].(string))
		}
		assert.Equal(t, []string{"DELETE", "PUT", "POST"}, methods, "newest first")

		// Update as create brings it back as version 4.
		again := g.do("PUT", "/Task/"+id, upd)
		assert.Equal(t, http.StatusOK, again.status)
		assert.Equal(t, `W/"4"`, again.header.Get("ETag"))
	})
}

func TestUpdateAsCreateAndPrefer(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		body := `{"resourceType":"Patient","id":"pat-1","active":true}`
		r := g.do("PUT", "/Patient/pat-1", body, "Prefer", "return=minimal")
		assert.Equal(t, http.StatusCreated, r.status)
		assert.Empty(t, r.body)
		assert.Equal(t, g.base+"/Patient/pat-1/_history/1", r.header.Get("Location"))

		r = g.do("PUT", "/Patient/pat-1", body, "Prefer", "return=OperationOutcome")
		assert.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, "informational", r.outcome(t)["code"])

		r = g.do("POST", "/Patient", body, "Prefer", "return=representation")
		assert.Equal(t, http.StatusCreated, r.status)
		assert.NotEqual(t, "pat-1", r.json(t)["id"], "the server assigns ids on create")
	})
}

func TestRequestErrorsAreOperationOutcomes(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		big := `{"resourceType":"Patient","active":true,"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">` + strings.Repeat("x", 11<<20) + `</div>"}}`
		tests := []struct {
			name           string
			method, path   string
			body           string
			headers        []string
			status         int
			code           string
			expressionPart string
		}{
			{"unknown id", "GET", "/Task/nope", "", nil, 404, "not-found", ""},
			{"unknown type", "GET", "/Spaceship/1", "", nil, 404, "not-supported", ""},
			{"malformed json", "POST", "/Task", `{"resourceType":"Task",`, nil, 400, "structure", ""},
			{"duplicate member", "POST", "/Task", `{"resourceType":"Task","status":"draft","status":"ready","intent":"order"}`, nil, 400, "structure", ""},
			{"type mismatch", "POST", "/Task", `{"resourceType":"Patient"}`, nil, 400, "invalid", "resourceType"},
			{"no body", "POST", "/Task", "", nil, 400, "structure", ""},
			{"id mismatch", "PUT", "/Patient/a", `{"resourceType":"Patient","id":"b"}`, nil, 400, "invalid", "Patient.id"},
			{"no id on update", "PUT", "/Patient/a", `{"resourceType":"Patient"}`, nil, 400, "required", "Patient.id"},
			{"bad If-Match", "PUT", "/Patient/a", `{"resourceType":"Patient","id":"a"}`, []string{"If-Match", "yesterday"}, 400, "invalid", ""},
			{"xml accepted only", "GET", "/metadata", "", []string{"Accept", "application/fhir+xml"}, 406, "not-supported", ""},
			{"xml format", "GET", "/metadata?_format=xml", "", nil, 406, "not-supported", ""},
			{"xml body", "POST", "/Patient", `<Patient/>`, []string{"Content-Type", "application/fhir+xml"}, 415, "not-supported", ""},
			{"too large", "POST", "/Patient", big, nil, 413, "too-long", ""},
			{"patch that is no patch", "PATCH", "/Patient/a", `{}`, nil, 400, "structure", ""},
			{"delete a type", "DELETE", "/Patient", "", nil, 405, "not-supported", ""},
			{"audit is append-only", "PUT", "/AuditEvent/a", `{"resourceType":"AuditEvent","id":"a"}`, nil, 405, "not-supported", ""},
			{"audit delete", "DELETE", "/AuditEvent/a", "", nil, 405, "not-supported", ""},
			{"bad _count", "GET", "/_history?_count=lots", "", nil, 400, "invalid", "_count"},
			{"bad _since", "GET", "/Task/_history?_since=last-week", "", nil, 400, "invalid", "_since"},
			{"history of unknown", "GET", "/Task/nope/_history", "", nil, 404, "not-found", ""},
			{"outside the base", "GET", "/elsewhere", "", nil, 404, "not-found", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				path := tt.path
				if tt.path == "/elsewhere" {
					path = g.srv.URL + "/elsewhere"
				}
				r := g.do(tt.method, path, tt.body, tt.headers...)
				require.Equal(t, tt.status, r.status, "%s", r.body)
				assert.Contains(t, r.header.Get("Content-Type"), "application/fhir+json")
				is := r.outcome(t)
				assert.Equal(t, tt.code, is["code"])
				if tt.expressionPart != "" {
					assert.Contains(t, fmt.Sprint(is["expression"]), tt.expressionPart)
				}
			})
		}
		// Nothing above was stored.
		assert.Equal(t, 0, stored(t, g), "refused requests store nothing")
	})
}

func TestBaseWithAndWithoutTrailingSlashAndFormats(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		for _, p := range []string{"/metadata", "/metadata/", "/metadata?_format=json", "/metadata?_format=application/fhir%2Bjson"} {
			r := g.do("GET", p, "")
			assert.Equal(t, http.StatusOK, r.status, p)
		}
		r := g.do("GET", "/metadata", "", "Accept", "application/json")
		assert.Equal(t, http.StatusOK, r.status)
		assert.Contains(t, r.header.Get("Content-Type"), "application/json")
		r = g.do("POST", "/Patient/", `{"resourceType":"Patient"}`, "Content-Type", "application/json; charset=utf-8")
		assert.Equal(t, http.StatusCreated, r.status, "%s", r.body)
		r = g.do("POST", g.srv.URL+"/fhir/", `{"resourceType":"Bundle","type":"transaction"}`)
		assert.Equal(t, http.StatusOK, r.status, "the base with a slash is routed")
		assert.Equal(t, "transaction-response", r.json(t)["type"])
	})
}

func TestHistoryPagingSinceAndSystemLevel(t *testing.T) {
	t.Parallel()
	// Practitioners and Organizations are not patient data, so writing
	// them records no AuditEvent and system history holds just them.
	eachStore(t, func(t *testing.T, g *testGateway) {
		for i := 0; i < 5; i++ {
			require.Equal(t, 201, g.do("POST", "/Practitioner", `{"resourceType":"Practitioner"}`).status)
		}
		mid := time.Now().UTC()
		time.Sleep(5 * time.Millisecond)
		for i := 0; i < 3; i++ {
			require.Equal(t, 201, g.do("POST", "/Organization", `{"resourceType":"Organization","name":"x"}`).status)
		}
		sys := g.do("GET", "/_history?_count=3", "").json(t)
		assert.EqualValues(t, "8", fmt.Sprint(sys["total"]))
		assert.Len(t, sys["entry"], 3)
		next := link(sys, "next")
		require.NotEmpty(t, next)

		// A write between pages must not shift the next page.
		require.Equal(t, 201, g.do("POST", "/Practitioner", `{"resourceType":"Practitioner"}`).status)
		page2 := g.do("GET", next, "").json(t)
		assert.Len(t, page2["entry"], 3)
		assert.NotEmpty(t, link(page2, "previous"))
		seen := map[string]bool{}
		for _, p := range []map[string]any{sys, page2} {
			for _, e := range p["entry"].([]any) {
				u := e.(map[string]any)["fullUrl"].(string)
				assert.False(t, seen[u], "entry repeated across pages: %s", u)
				seen[u] = true
			}
		}

		typ := g.do("GET", "/Organization/_history", "").json(t)
		assert.EqualValues(t, "3", fmt.Sprint(typ["total"]))
		since := g.do("GET", "/_history?_since="+url.QueryEscape(mid.Format(time.RFC3339Nano)), "").json(t)
		// Reading system history is an access to patient data, audited: the
		// two reads above left two AuditEvents after mid.
		assert.Len(t, withoutAudit(since), 4, "3 organizations and 1 practitioner after mid")
		plus := g.do("GET", "/_history?_since="+strings.Replace(mid.Add(time.Hour).Format("2006-01-02T15:04:05+00:00"), "+", "%2B", 1), "").json(t)
		assert.EqualValues(t, "0", fmt.Sprint(plus["total"]))
	})
}

func link(bundle map[string]any, rel string) string {
	for _, l := range bundle["link"].([]any) {
		m := l.(map[string]any)
		if m["relation"] == rel {
			return m["url"].(string)
		}
	}
	return ""
}

func mustDecode(t *testing.T, s string) map[string]any {
	t.Helper()
	v, err := fhir.DecodeJSON([]byte(s))
	require.NoError(t, err)
	return v.(map[string]any)
}
