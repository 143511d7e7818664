package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir/store/postgres"
	"github.com/signpost-fhir/signpost/gateway"
	"github.com/signpost-fhir/signpost/internal/pgtest"
)

// TestDatabaseRestart stops the gateway's PostgreSQL server and starts it
// again. Meanwhile /readyz answers 503, and reads, writes, batches and
// transactions are answered 503 with a transient OperationOutcome and a
// Retry-After, logged as the database being unavailable (not as an
// internal error); once it is back the same gateway serves again, with
// what was committed before.
func TestDatabaseRestart(t *testing.T) {
	t.Parallel()
	cl := pgtest.NewCluster(t)
	s, err := postgres.Open(context.Background(), cl.URL, postgres.WithMaxConns(4))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	g := newGateway(t, gateway.Options{Store: s})
	ready := func() int {
		resp, err := http.Get(g.srv.URL + "/readyz")
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	patient := `{"resourceType":"Patient","id":"before","name":[{"family":"Before"}]}`
	require.Equal(t, http.StatusCreated, g.do("PUT", "/Patient/before", patient).status)
	require.Equal(t, http.StatusOK, ready())

	for _, mode := range []string{"fast", "immediate"} {
		cl.Stop(t, mode)
		require.Equal(t, http.StatusServiceUnavailable, ready(), "/readyz with the database stopped (%s)", mode)
		entry := `{"request":{"method":"POST","url":"Patient"},"resource":{"resourceType":"Patient","name":[{"family":"During"}]}}`
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/Patient/before", ""},
			{"POST", "/Patient", `{"resourceType":"Patient","name":[{"family":"During"}]}`},
			{"PUT", "/Patient/before", `{"resourceType":"Patient","id":"before","name":[{"family":"During"}]}`},
			{"GET", "/Patient?family=Before", ""},
			{"POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[` + entry + `]}`},
		} {
			r := g.do(c.method, c.path, c.body)
			require.Equal(t, http.StatusServiceUnavailable, r.status, "%s %s with the database stopped (%s): %s", c.method, c.path, mode, r.body)
			require.Equal(t, "transient", r.outcome(t)["code"], "%s %s", c.method, c.path)
			require.NotEmpty(t, r.header.Get("Retry-After"), "%s %s", c.method, c.path)
		}
		// A batch answers each entry: each says 503.
		r := g.do("POST", "", `{"resourceType":"Bundle","type":"batch","entry":[`+entry+`]}`)
		if r.status == http.StatusOK {
			require.Contains(t, string(r.body), `"status":"503`, "batch entry with the database stopped (%s): %s", mode, r.body)
		} else {
			require.Equal(t, http.StatusServiceUnavailable, r.status, "batch with the database stopped (%s): %s", mode, r.body)
		}

		cl.Start(t)
		require.Equal(t, http.StatusOK, ready(), "/readyz after the database came back (%s)", mode)
		r = g.do("GET", "/Patient/before", "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Contains(t, string(r.body), `"Before"`)
		require.Equal(t, http.StatusCreated, g.do("POST", "/Patient", `{"resourceType":"Patient","name":[{"family":"After"}]}`).status)
	}
	logs := g.logs.String()
	require.Contains(t, logs, "request refused: the database is unavailable")
	require.NotContains(t, logs, `"request failed"`, "an unreachable database is logged as such, not as an internal error")
	require.False(t, strings.Contains(logs, "During"), "the log holds a request body")
}
