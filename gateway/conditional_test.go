package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const nhs = "https://fhir.nhs.uk/Id/nhs-number"

func patientWith(number string, extra ...string) string {
	return fmt.Sprintf(`{"resourceType":"Patient","identifier":[{"system":%q,"value":%q}]%s}`, nhs, number, strings.Join(extra, ""))
}

func byNumber(number string) string { return "identifier=" + url.QueryEscape(nhs+"|"+number) }

func total(t *testing.T, g *testGateway, query string) int {
	t.Helper()
	r := g.do("GET", query, "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var n int
	_, err := fmt.Sscan(fmt.Sprint(r.json(t)["total"]), &n)
	require.NoError(t, err)
	return n
}

// stored counts the versions clients wrote: system history without the
// AuditEvents the gateway records (reading history records one too).
func stored(t *testing.T, g *testGateway) int {
	t.Helper()
	r := g.do("GET", "/_history?_count=1000", "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	return len(withoutAudit(r.json(t)))
}

// withoutAudit lists a Bundle's entries that are not AuditEvents.
func withoutAudit(bundle map[string]any) []any {
	var out []any
	list, _ := bundle["entry"].([]any)
	for _, e := range list {
		if !strings.Contains(fmt.Sprint(e.(map[string]any)["fullUrl"]), "/AuditEvent/") {
			out = append(out, e)
		}
	}
	return out
}

func TestConditionalCreate(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		crit := nhs + "|9000000009"
		first := g.do("POST", "/Patient", patientWith("9000000009"), "If-None-Exist", "identifier="+crit)
		require.Equal(t, http.StatusCreated, first.status, "%s", first.body)
		id := first.json(t)["id"].(string)

		again := g.do("POST", "/Patient", patientWith("9000000009", `,"active":true`), "If-None-Exist", "identifier="+crit)
		require.Equal(t, http.StatusOK, again.status, "%s", again.body)
		assert.Equal(t, id, again.json(t)["id"], "answered with the existing resource")
		assert.NotContains(t, again.json(t), "active", "nothing was written")
		assert.Equal(t, `W/"1"`, again.header.Get("ETag"))
		assert.Equal(t, g.base+"/Patient/"+id+"/_history/1", again.header.Get("Location"))
		assert.Equal(t, 1, total(t, g, "/Patient/_history"))

		// The header may carry a leading "?" or the type.
		assert.Equal(t, http.StatusOK, g.do("POST", "/Patient", patientWith("9000000009"), "If-None-Exist", "Patient?identifier="+crit).status)

		require.Equal(t, http.StatusCreated, g.do("PUT", "/Patient/twin", `{"resourceType":"Patient","id":"twin","identifier":[{"system":"`+nhs+`","value":"9000000009"}]}`).status)
		several := g.do("POST", "/Patient", patientWith("9000000009"), "If-None-Exist", "identifier="+crit)
		assert.Equal(t, http.StatusPreconditionFailed, several.status)
		assert.Equal(t, "multiple-matches", several.outcome(t)["code"])

		for _, bad := range []string{"colour=blue", "identifier=", "_count=1", "birthdate=yesterday"} {
			r := g.do("POST", "/Patient", patientWith("1"), "If-None-Exist", bad)
			assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", bad, r.body)
		}
		assert.Equal(t, 2, total(t, g, "/Patient/_history"), "refused creates store nothing")
	})
}

// TestConditionalCreateRace: 50 clients create the same patient at once.
// Exactly one creates it; the 49 others are answered with it.
func TestConditionalCreateRace(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		const clients = 50
		type answer struct {
			status int
			id     string
			err    error
		}
		answers := make([]answer, clients)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				req, _ := http.NewRequest("POST", g.base+"/Patient", strings.NewReader(patientWith("9000000106", fmt.Sprintf(`,"name":[{"text":"client %d"}]`, i))))
				req.Header.Set("Content-Type", "application/fhir+json")
				req.Header.Set("If-None-Exist", byNumber("9000000106"))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					answers[i] = answer{err: err}
					return
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				a := answer{status: resp.StatusCode}
				if loc := resp.Header.Get("Location"); loc != "" {
					a.id = strings.Split(strings.TrimPrefix(loc, g.base+"/Patient/"), "/")[0]
				} else {
					a.err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
				}
				answers[i] = a
			}()
		}
		close(start)
		wg.Wait()
		created, found := 0, 0
		ids := map[string]bool{}
		for _, a := range answers {
			require.NoError(t, a.err)
			switch a.status {
			case http.StatusCreated:
				created++
			case http.StatusOK:
				found++
			default:
				t.Errorf("unexpected status %d", a.status)
			}
			ids[a.id] = true
		}
		assert.Equal(t, 1, created)
		assert.Equal(t, clients-1, found)
		assert.Len(t, ids, 1, "every answer points at the one resource")
		assert.Equal(t, 1, total(t, g, "/Patient?"+byNumber("9000000106")))
		assert.Equal(t, 1, total(t, g, "/Patient/_history"))
	})
}

func TestConditionalUpdate(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		q := "/Patient?" + byNumber("9000000009")
		created := g.do("PUT", q, patientWith("9000000009"))
		require.Equal(t, http.StatusCreated, created.status, "%s", created.body)
		id := created.json(t)["id"].(string)

		updated := g.do("PUT", q, patientWith("9000000009", `,"active":true`))
		require.Equal(t, http.StatusOK, updated.status, "%s", updated.body)
		assert.Equal(t, id, updated.json(t)["id"])
		assert.Equal(t, `W/"2"`, updated.header.Get("ETag"))

		withID := g.do("PUT", q, fmt.Sprintf(`{"resourceType":"Patient","id":%q,"identifier":[{"system":%q,"value":"9000000009"}],"active":false}`, id, nhs), "If-Match", `W/"2"`)
		assert.Equal(t, http.StatusOK, withID.status, "%s", withID.body)
		stale := g.do("PUT", q, patientWith("9000000009"), "If-Match", `W/"2"`)
		assert.Equal(t, http.StatusPreconditionFailed, stale.status)

		wrongID := g.do("PUT", q, `{"resourceType":"Patient","id":"someone-else","identifier":[{"system":"`+nhs+`","value":"9000000009"}]}`)
		assert.Equal(t, http.StatusBadRequest, wrongID.status)

		// No match: an id of a live resource that does not match is a
		// conflict; a new id is update as create.
		require.Equal(t, http.StatusCreated, g.do("PUT", "/Patient/other", `{"resourceType":"Patient","id":"other"}`).status)
		conflict := g.do("PUT", "/Patient?"+byNumber("9000000017"), `{"resourceType":"Patient","id":"other","identifier":[{"system":"`+nhs+`","value":"9000000017"}]}`)
		assert.Equal(t, http.StatusConflict, conflict.status, "%s", conflict.body)
		asCreate := g.do("PUT", "/Patient?"+byNumber("9000000017"), `{"resourceType":"Patient","id":"chosen","identifier":[{"system":"`+nhs+`","value":"9000000017"}]}`)
		assert.Equal(t, http.StatusCreated, asCreate.status, "%s", asCreate.body)
		assert.Equal(t, "chosen", asCreate.json(t)["id"])

		require.Equal(t, http.StatusCreated, g.do("PUT", "/Patient/twin", `{"resourceType":"Patient","id":"twin","identifier":[{"system":"`+nhs+`","value":"9000000017"}]}`).status)
		several := g.do("PUT", "/Patient?"+byNumber("9000000017"), patientWith("9000000017"))
		assert.Equal(t, http.StatusPreconditionFailed, several.status)

		assert.Equal(t, http.StatusBadRequest, g.do("PUT", "/Patient?colour=blue", patientWith("1")).status, "criteria are parsed strictly")
	})
}

func TestConditionalDelete(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		none := g.do("DELETE", "/Patient?"+byNumber("9000000009"), "")
		assert.Equal(t, http.StatusNoContent, none.status)

		id := g.do("POST", "/Patient", patientWith("9000000009")).json(t)["id"].(string)
		one := g.do("DELETE", "/Patient?"+byNumber("9000000009"), "")
		assert.Equal(t, http.StatusNoContent, one.status)
		assert.Equal(t, `W/"2"`, one.header.Get("ETag"))
		assert.Equal(t, http.StatusGone, g.do("GET", "/Patient/"+id, "").status)

		g.do("POST", "/Patient", patientWith("9000000017"))
		g.do("POST", "/Patient", patientWith("9000000017"))
		several := g.do("DELETE", "/Patient?"+byNumber("9000000017"), "")
		assert.Equal(t, http.StatusPreconditionFailed, several.status)
		assert.Equal(t, 2, total(t, g, "/Patient?"+byNumber("9000000017")), "a 412 deletes nothing")

		info := g.do("DELETE", "/Patient?"+byNumber("1"), "", "Prefer", "return=OperationOutcome")
		assert.Equal(t, http.StatusOK, info.status)
		assert.Contains(t, fmt.Sprint(info.outcome(t)["diagnostics"]), "nothing")
		assert.Equal(t, http.StatusMethodNotAllowed, g.do("DELETE", "/AuditEvent?_id=x", "").status)
	})
}

func TestConditionalReadAndVRead(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		r := g.do("PUT", "/Patient/p", `{"resourceType":"Patient","id":"p"}`)
		require.Equal(t, http.StatusCreated, r.status)
		lastModified := r.header.Get("Last-Modified")
		require.Equal(t, http.StatusOK, g.do("PUT", "/Patient/p", `{"resourceType":"Patient","id":"p","active":true}`).status)
		later := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
		earlier := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
		tests := []struct {
			path    string
			headers []string
			status  int
		}{
			{"/Patient/p", []string{"If-None-Match", `W/"2"`}, http.StatusNotModified},
			{"/Patient/p", []string{"If-None-Match", `"2"`}, http.StatusNotModified},
			{"/Patient/p", []string{"If-None-Match", `W/"1"`}, http.StatusOK},
			{"/Patient/p", []string{"If-Modified-Since", later}, http.StatusNotModified},
			{"/Patient/p", []string{"If-Modified-Since", earlier}, http.StatusOK},
			{"/Patient/p/_history/1", []string{"If-None-Match", `W/"1"`}, http.StatusNotModified},
			{"/Patient/p/_history/1", []string{"If-None-Match", `W/"2"`}, http.StatusOK},
			{"/Patient/p/_history/1", []string{"If-Modified-Since", lastModified}, http.StatusNotModified},
			{"/Patient/p/_history/1", []string{"If-Modified-Since", earlier}, http.StatusOK},
			{"/Patient/p/_history/1", []string{"If-None-Match", `W/"1", W/"7"`}, http.StatusNotModified},
		}
		for _, tt := range tests {
			r := g.do("GET", tt.path, "", tt.headers...)
			assert.Equal(t, tt.status, r.status, "%s %v", tt.path, tt.headers)
			if r.status == http.StatusNotModified {
				assert.Empty(t, r.body)
				assert.NotEmpty(t, r.header.Get("ETag"))
			}
		}
	})
}
