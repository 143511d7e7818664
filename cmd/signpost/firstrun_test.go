package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/gateway"
	"github.com/signpost-fhir/signpost/internal/pgtest"
)

// devGateway is a gateway run in this process as `go run ./cmd/signpost`
// runs it from the repository's root: development mode (no issuer), the
// default demo content, a free loopback port.
type devGateway struct {
	t    *testing.T
	root string // http://127.0.0.1:port
	log  *serveLog
	stop func()
}

// repoRoot is the repository's root, where `go run ./cmd/signpost` runs.
var repoRoot = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Dir(filepath.Dir(wd))
}()

// startDevGateway runs serve from the repository root with env (on top
// of a fresh data folder) until the test ends.
func startDevGateway(t *testing.T, env map[string]string) *devGateway {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the gateway")
	}
	t.Chdir(repoRoot)
	if env == nil {
		env = map[string]string{}
	}
	if env["SIGNPOST_DATA"] == "" {
		env["SIGNPOST_DATA"] = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := &serveLog{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, securityEnv(env), io.Discard, log) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			assert.Equal(t, 0, <-done, "exit code; log:\n%s", log.String())
		})
	}
	t.Cleanup(stop)
	var root string
	require.Eventually(t, func() bool {
		for _, l := range logLines(log.String()) {
			if strings.HasPrefix(l["msg"].(string), "signpost listening") {
				root, _ = l["fhir_base"].(string)
				root = strings.TrimSuffix(root, "/fhir")
				return true
			}
		}
		select {
		case code := <-done:
			t.Fatalf("the gateway stopped with %d:\n%s", code, log.String())
		default:
		}
		return false
	}, 60*time.Second, 20*time.Millisecond)
	return &devGateway{t: t, root: root, log: log, stop: stop}
}

// logLines are the JSON lines of the log.
func logLines(s string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// call sends a request to the gateway; body may be empty.
func (g *devGateway) call(method, path, body string) (int, http.Header, string) {
	g.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, g.root+path, rd)
	require.NoError(g.t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(g.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(g.t, err)
	return resp.StatusCode, resp.Header, string(b)
}

// The first start's log is short: one line of what was seeded, one of
// where to go (the home page, the FHIR base, the dashboard, the demo
// inbox, the docs), no line per seeded resource; a restart seeds nothing
// new and says so. GET / answers the page of links, each of which works.
func TestFirstRunSaysWhatWasSeededAndWhereToGo(t *testing.T) {
	data := t.TempDir()
	g := startDevGateway(t, map[string]string{"SIGNPOST_DATA": data})
	lines := logLines(g.log.String())
	var seeded, listening map[string]any
	for _, l := range lines {
		switch msg := l["msg"].(string); {
		case msg == "seeded at start":
			require.Nil(t, seeded, "one summary line")
			seeded = l
		case strings.HasPrefix(msg, "signpost listening"):
			listening = l
		}
		assert.NotEqual(t, "created", l["action"], "a line per seeded resource: %v", l)
	}
	assert.Less(t, len(lines), 15, "start-up log:\n%s", g.log.String())
	require.NotNil(t, seeded, "the summary of what was seeded:\n%s", g.log.String())
	created, _ := seeded["created"].(string)
	for _, want := range []string{"CodeSystem ", "ValueSet ", "ConceptMap ", "HealthcareService ", "Patient 2", "PlanDefinition 1", "Endpoint 1"} {
		assert.Contains(t, created, want)
	}
	assert.Greater(t, seeded["resources"], 70.0)
	require.NotNil(t, listening)
	assert.Equal(t, g.root+"/", listening["home"])
	assert.Equal(t, g.root+"/dashboard", listening["dashboard"])
	assert.Equal(t, g.root+gateway.DemoClinicalSystemPath, listening["demo_inbox"])
	assert.Equal(t, gateway.DocsURL, listening["docs"])
	assert.Contains(t, listening["msg"], g.root+"/")

	status, header, body := g.call("GET", "/", "")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	for _, path := range []string{"/fhir/metadata", "/dashboard", gateway.DemoClinicalSystemPath} {
		assert.Contains(t, body, `href="`+path+`"`)
		status, _, _ := g.call("GET", path, "")
		assert.Equal(t, http.StatusOK, status, path)
	}
	assert.Contains(t, body, gateway.DocsURL)
}

// A restart on the same data: the summary says everything was already
// there, nothing created.
func TestRestartSeedsNothingNew(t *testing.T) {
	env := map[string]string{"SIGNPOST_DATA": t.TempDir(), "SIGNPOST_DEMO_HISTORY": "off"}
	startDevGateway(t, env).stop()
	g := startDevGateway(t, env)
	for _, l := range logLines(g.log.String()) {
		if l["msg"] == "seeded at start" {
			assert.Nil(t, l["created"], "%v", l)
			assert.Contains(t, l["unchanged"], "CodeSystem ")
			// The demo Endpoint follows the port (updated when it moved).
			return
		}
	}
	t.Fatalf("no summary:\n%s", g.log.String())
}

// navigateCommit submits the example Task and commits its decision; it
// returns the Task's id.
func (g *devGateway) navigateCommit() string {
	g.t.Helper()
	task, err := os.ReadFile(filepath.Join(repoRoot, "docs/examples/task-navigate.json"))
	require.NoError(g.t, err)
	status, _, body := g.call("POST", "/fhir/Task", string(task))
	require.Equal(g.t, http.StatusCreated, status, body)
	var created struct{ ID string }
	require.NoError(g.t, json.Unmarshal([]byte(body), &created))
	status, _, body = g.call("POST", "/fhir/Task/"+created.ID+"/$navigate?mode=commit", "")
	require.Equal(g.t, http.StatusOK, status, body)
	assert.Contains(g.t, body, "(committed)")
	return created.ID
}

// deliveryStatus waits until the Task's delivery is no longer pending and
// returns $delivery-status's answer.
func (g *devGateway) deliveryStatus(id string) string {
	g.t.Helper()
	var body string
	require.Eventually(g.t, func() bool {
		var status int
		status, _, body = g.call("GET", "/fhir/Task/"+id+"/$delivery-status", "")
		require.Equal(g.t, http.StatusOK, status, body)
		return strings.Contains(body, `"valueCode":"delivered"`) || strings.Contains(body, `"valueCode":"dead"`)
	}, 60*time.Second, 50*time.Millisecond)
	return body
}

// In development mode a committed decision for a demo patient arrives at
// the demo clinical system (the gateway's own inbox, the demo practice's
// Endpoint) instead of becoming a dead letter, on either store.
func TestDemoCommitArrivesAtTheDemoClinicalSystem(t *testing.T) {
	for _, sc := range []struct {
		name string
		env  func(t *testing.T) map[string]string
	}{
		{"sqlite", func(t *testing.T) map[string]string { return map[string]string{} }},
		{"postgres", func(t *testing.T) map[string]string { return map[string]string{"DATABASE_URL": pgtest.URL(t)} }},
	} {
		t.Run(sc.name, func(t *testing.T) {
			env := sc.env(t)
			env["SIGNPOST_DEMO_HISTORY"] = "off"
			g := startDevGateway(t, env)
			status, _, inbox := g.call("GET", gateway.DemoClinicalSystemPath, "")
			require.Equal(t, http.StatusOK, status)
			assert.Contains(t, inbox, "Nothing has arrived yet")

			id := g.navigateCommit()
			assert.Contains(t, g.deliveryStatus(id), `"valueCode":"delivered"`)
			status, _, inbox = g.call("GET", gateway.DemoClinicalSystemPath, "")
			require.Equal(t, http.StatusOK, status)
			assert.Contains(t, inbox, "1 received")
			assert.Contains(t, inbox, "identifier c-demo-0001")
			assert.Contains(t, inbox, "to Demo Surgery GPs")
			status, _, dead := g.call("GET", "/fhir/$dead-letters", "")
			require.Equal(t, http.StatusOK, status)
			assert.NotContains(t, dead, id)
		})
	}
}

// An outbound allow-list set in development mode is obeyed for the demo
// clinical system too: not on it, the start-up log says so and the
// outcome is a dead letter, not sent.
func TestDemoClinicalSystemObeysTheOutboundList(t *testing.T) {
	g := startDevGateway(t, map[string]string{"SIGNPOST_DEMO_HISTORY": "off", "SIGNPOST_OUTBOUND_ENDPOINTS": "https://hooks.example.org"})
	assert.Contains(t, g.log.String(), "the demo clinical system is not on the outbound allow-list")
	id := g.navigateCommit()
	assert.Contains(t, g.deliveryStatus(id), `"valueCode":"dead"`)
	_, _, inbox := g.call("GET", gateway.DemoClinicalSystemPath, "")
	assert.Contains(t, inbox, "0 received")
}
