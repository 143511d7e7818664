package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/postgres"
	"github.com/signpost-fhir/signpost/fhir/store/sqlite"
	"github.com/signpost-fhir/signpost/gateway"
	"github.com/signpost-fhir/signpost/internal/pgtest"
)

// stores are the real stores every gateway test runs against.
var stores = []struct {
	name string
	open func(t testing.TB) store.Store
}{
	{"sqlite", func(t testing.TB) store.Store {
		s, err := sqlite.Open(context.Background(), t.TempDir())
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"postgres", func(t testing.TB) store.Store {
		s, err := postgres.Open(context.Background(), pgtest.URL(t))
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}},
}

// eachStore runs fn once per store, each with a fresh gateway.
func eachStore(t *testing.T, fn func(t *testing.T, g *testGateway)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			fn(t, newGateway(t, gateway.Options{Store: s.open(t)}))
		})
	}
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testGateway struct {
	t    testing.TB
	srv  *httptest.Server
	base string
	logs *syncBuffer
}

// newGateway serves a gateway with opts; setup runs before Handler (to
// register operations).
func newGateway(t testing.TB, opts gateway.Options, setup ...func(*gateway.Server)) *testGateway {
	logs := &syncBuffer{}
	opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gw := gateway.New(opts)
	for _, f := range setup {
		f(gw)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	return &testGateway{t: t, srv: srv, base: srv.URL + "/fhir", logs: logs}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the reply body strictly.
func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	v, err := fhir.DecodeJSON(r.body)
	require.NoError(t, err, "body: %s", r.body)
	obj, ok := v.(map[string]any)
	require.True(t, ok, "body is not an object: %s", r.body)
	return obj
}

// outcome asserts the reply is an OperationOutcome and returns its first issue.
func (r reply) outcome(t *testing.T) map[string]any {
	t.Helper()
	obj := r.json(t)
	require.Equal(t, "OperationOutcome", obj["resourceType"], "body: %s", r.body)
	issues := obj["issue"].([]any)
	require.NotEmpty(t, issues)
	return issues[0].(map[string]any)
}

func (g *testGateway) do(method, path string, body string, headers ...string) reply {
	g.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	url := path
	if !strings.HasPrefix(path, "http") {
		url = g.base + path
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(g.t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(g.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(g.t, err)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// withoutServerMeta drops what the server owns, for comparisons.
func withoutServerMeta(obj map[string]any, dropID bool) map[string]any {
	c := deepCopy(obj).(map[string]any)
	if dropID {
		delete(c, "id")
	}
	if m, ok := c["meta"].(map[string]any); ok {
		delete(m, "versionId")
		delete(m, "lastUpdated")
		delete(m, "_versionId")
		delete(m, "_lastUpdated")
		if len(m) == 0 {
			delete(c, "meta")
		}
	}
	return c
}

func deepCopy(v any) any {
	b, _ := fhir.EncodeJSON(v)
	out, _ := fhir.DecodeJSON(b)
	return out
}

func mustDecodeTB(t testing.TB, s string) map[string]any {
	t.Helper()
	v, err := fhir.DecodeJSON([]byte(s))
	require.NoError(t, err)
	return v.(map[string]any)
}

// marshalNoEscape is json.Marshal without HTML escaping, so narratives
// stay readable in request bodies.
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// decodeInto decodes and closes a response body.
func decodeInto(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
