package gateway_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/gateway"
)

// What clients send that FHIR forbids is refused before it reaches a
// store, and a body that does not arrive is told so.

// TestForbiddenCharactersAreRefused: strings with control characters
// (below U+0020 but tab, line feed and carriage return) or invalid UTF-8
// are a 400, never a 500 and never stored, in bodies and in search
// values, on both stores.
func TestForbiddenCharactersAreRefused(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		patient := func(family string) string {
			return `{"resourceType":"Patient","id":"p1","name":[{"family":"` + family + `"}]}`
		}
		require.Equal(t, http.StatusCreated, g.do("PUT", "/Patient/p1", patient(`Tab\tand\r\nlines`)).status, "tab, CR and LF are allowed")

		t.Run("writes", func(t *testing.T) {
			for _, tt := range []struct {
				name, method, path, body string
				headers                  []string
			}{
				{"NUL in a value", "POST", "/Patient", patient(`Nul\u0000`), nil},
				{"U+0001 in a value", "POST", "/Patient", patient(`a\u0001b`), nil},
				{"U+001F in a value", "PUT", "/Patient/p1", patient(`a\u001fb`), nil},
				{"NUL in an unknown element", "POST", "/Patient", `{"resourceType":"Patient","x-extra":"\u0000"}`, nil},
				{"NUL in a member name", "POST", "/Patient", `{"resourceType":"Patient","gender\u0000":"male"}`, nil},
				{"NUL in an extension", "POST", "/Patient", `{"resourceType":"Patient","extension":[{"url":"https://x.example/e","valueString":"\u0000"}]}`, nil},
				{"JSON Patch value", "PATCH", "/Patient/p1", `[{"op":"replace","path":"/name/0/family","value":"\u0000"}]`, []string{"Content-Type", "application/json-patch+json"}},
				{"transaction entry", "POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Patient"},"resource":` + patient(`\u0000`) + `}]}`, nil},
			} {
				t.Run(tt.name, func(t *testing.T) {
					r := g.do(tt.method, tt.path, tt.body, tt.headers...)
					assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
					if r.status == http.StatusBadRequest {
						assert.Contains(t, r.outcome(t)["diagnostics"], "U+00")
					}
				})
			}
			r := g.do("GET", "/Patient/p1", "")
			require.Equal(t, http.StatusOK, r.status)
			assert.Contains(t, string(r.body), `Tab\tand\r\nlines`, "nothing replaced it")
			assert.Equal(t, "1", r.json(t)["meta"].(map[string]any)["versionId"])
			r = g.do("GET", "/Patient", "")
			require.Equal(t, http.StatusOK, r.status)
			assert.Len(t, r.json(t)["entry"], 1, "nothing else was stored")
		})

		t.Run("search values", func(t *testing.T) {
			for _, tt := range []struct{ name, method, path, body string }{
				{"NUL", "GET", "/Patient?family=%00", ""},
				{"U+0001", "GET", "/Patient?family=a%01b", ""},
				{"invalid UTF-8", "GET", "/Patient?family=%FF%FE", ""},
				{"NUL in a token", "GET", "/Patient?identifier=sys%7C%00", ""},
				{"NUL in a parameter name", "GET", "/Patient?fam%00ily=x", ""},
				{"NUL in _id", "GET", "/Patient?_id=%00", ""},
				{"a read's query", "GET", "/Patient/p1?_format=%00", ""},
				{"history", "GET", "/Patient/_history?_count=%00", ""},
				{"conditional delete", "DELETE", "/Patient?family=%00", ""},
				{"conditional update", "PUT", "/Patient?family=%00", patient("x")},
			} {
				t.Run(tt.name, func(t *testing.T) {
					r := g.do(tt.method, tt.path, tt.body)
					assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
				})
			}
			form := g.do("POST", "/Patient/_search", "family=%00", "Content-Type", "application/x-www-form-urlencoded")
			assert.Equal(t, http.StatusBadRequest, form.status, "%s", form.body)
			cond := g.do("POST", "/Patient", patient("y"), "If-None-Exist", "family=%00")
			assert.Equal(t, http.StatusBadRequest, cond.status, "%s", cond.body)
			batch := g.do("POST", "", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient?family=`+url.QueryEscape("\x00")+`"}}]}`)
			require.Equal(t, http.StatusOK, batch.status, "%s", batch.body)
			assert.Equal(t, "400 Bad Request", responses(t, batch.json(t))[0]["status"])
			ref := g.do("POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Observation"},"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?family=%00"}}}]}`)
			assert.Equal(t, http.StatusBadRequest, ref.status, "a conditional reference is a search: %s", ref.body)
		})
	})
}

// TestSlowBodyIsATimeout: a body that stops arriving before the server's
// read timeout is a 408 OperationOutcome, not a 500.
func TestSlowBodyIsATimeout(t *testing.T) {
	t.Parallel()
	gw := gateway.New(gateway.Options{Store: stores[0].open(t)})
	srv := httptest.NewUnstartedServer(gw.Handler())
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	_, err = io.WriteString(conn, "POST /fhir/Patient HTTP/1.1\r\nHost: signpost\r\nContent-Type: application/fhir+json\r\nContent-Length: 1000\r\n\r\n"+`{"resourceType":"Patient",`)
	require.NoError(t, err)
	// The rest never comes: the server's read timeout ends the wait.
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode, "%s", body)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "application/fhir+json"), resp.Header.Get("Content-Type"))
	r := reply{status: resp.StatusCode, body: body}
	assert.Equal(t, "timeout", r.outcome(t)["code"])
}
