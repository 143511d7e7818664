package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/internal/loadclient"
	"github.com/signpost-fhir/signpost/internal/machinestat"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadBenchConfigDefaults(t *testing.T) {
	c, err := loadBenchConfig(nil, envOf(map[string]string{"DATABASE_URL": "postgres://db/x"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := benchConfig{DatabaseURL: "postgres://db/x", Clients: 16, Duration: 10 * time.Second, Warmup: 2 * time.Second}
	if c != want {
		t.Errorf("defaults: got %+v, want %+v", c, want)
	}
	c, err = loadBenchConfig([]string{"-target", "http://gw:8080/fhir/", "-database-url", "postgresql://other/y", "-clients", "3", "-duration", "1m", "-warmup", "0", "-fixture", "f.json", "-json"}, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want = benchConfig{Target: "http://gw:8080/fhir", DatabaseURL: "postgresql://other/y", Clients: 3, Duration: time.Minute, FixturePath: "f.json", JSON: true}
	if c != want {
		t.Errorf("flags: got %+v, want %+v", c, want)
	}
}

// TestLoadBenchConfigStore checks -store: the values it takes, and the
// combinations refused before any gateway starts.
func TestLoadBenchConfigStore(t *testing.T) {
	pg := envOf(map[string]string{"DATABASE_URL": "postgres://db/x"})
	for _, v := range []string{"sqlite", "postgres", "both"} {
		c, err := loadBenchConfig([]string{"-store", v}, pg, io.Discard)
		if err != nil || c.Store != v {
			t.Errorf("-store %s: %+v, %v", v, c, err)
		}
	}
	if c, err := loadBenchConfig([]string{"-store", "sqlite"}, envOf(nil), io.Discard); err != nil || c.Store != "sqlite" {
		t.Errorf("-store sqlite without a database: %+v, %v", c, err)
	}
	refused := []struct {
		args []string
		env  func(string) string
	}{
		{[]string{"-store", "mysql"}, pg},
		{[]string{"-store", "both"}, envOf(nil)},
		{[]string{"-store", "postgres"}, envOf(nil)},
		{[]string{"-store", "sqlite", "-target", "http://gw:8080/fhir"}, pg},
	}
	for _, tc := range refused {
		if _, err := loadBenchConfig(tc.args, tc.env, io.Discard); err == nil {
			t.Errorf("%v: accepted", tc.args)
		}
	}
}

func TestLoadFixture(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := loadFixture(write("task.json", "{\n  \"resourceType\": \"Task\",\n  \"status\": \"requested\"\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"resourceType":"Task","status":"requested"}` {
		t.Errorf("fixture not compacted: %s", got)
	}
	for name, path := range map[string]string{
		"missing":  filepath.Join(dir, "nope.json"),
		"not JSON": write("bad.json", "{"),
		"Patient":  write("patient.json", `{"resourceType":"Patient"}`),
	} {
		if _, err := loadFixture(path); !errors.Is(err, errUsage) {
			t.Errorf("%s: err = %v, want a usage error", name, err)
		}
	}
}

// The embedded Task is what every bench sends: it must be a new
// navigation request, valid R4, and about 2 KB.
func TestEmbeddedFixture(t *testing.T) {
	body, err := loadFixture("")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(body); n < 1500 || n > 3500 {
		t.Errorf("embedded fixture is %d bytes compacted, want about 2 KB", n)
	}
	r, err := fhir.ParseResource(body)
	if err != nil {
		t.Fatal(err)
	}
	if issues := fhir.Validate(r, fhir.ValidateOptions{Strict: true}); len(issues) > 0 {
		t.Errorf("embedded fixture is not clean R4: %+v", issues)
	}
	var task struct{ Status, Intent string }
	if err := json.Unmarshal(body, &task); err != nil {
		t.Fatal(err)
	}
	if r.Type() != "Task" || task.Status != "requested" || task.Intent != "order" {
		t.Errorf("a %s with status %q intent %q; want a requested Task order", r.Type(), task.Status, task.Intent)
	}
}

func TestErrorKind(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&loadclient.StatusError{Status: 503, Diagnostics: "transient: busy"}, "HTTP 503"},
		{fmt.Errorf("create: %w", &loadclient.StatusError{Status: 422}), "HTTP 422"},
		{&url.Error{Op: "Post", URL: "http://x", Err: refused}, "connection refused"},
		{&url.Error{Op: "Post", URL: "http://x", Err: reset}, "connection reset"},
		{&url.Error{Op: "Post", URL: "http://x", Err: io.EOF}, "connection closed"},
		{fmt.Errorf("insert: %w", context.DeadlineExceeded), "timeout"},
		{&pgconn.PgError{Code: "53300"}, "SQLSTATE 53300"},
		{loadclient.ErrNoLocation, "201 without Location"},
		{errors.New("something else"), "other"},
	} {
		if got := errorKind(tc.err); got != tc.want {
			t.Errorf("errorKind(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestDriveCountsEverything(t *testing.T) {
	var calls atomic.Int64
	do := func(ctx context.Context, w int) error {
		n := calls.Add(1)
		time.Sleep(time.Millisecond)
		if n%3 == 0 {
			return &loadclient.StatusError{Status: 500}
		}
		return nil
	}
	r := drive(context.Background(), 3, 100*time.Millisecond, 0, do)
	if r.Requests != calls.Load() {
		t.Errorf("requests %d, calls %d: every completed request counts", r.Requests, calls.Load())
	}
	if r.Errors == 0 || r.Errors != r.ErrorKinds["HTTP 500"] || len(r.ErrorKinds) != 1 {
		t.Errorf("errors %d, kinds %v", r.Errors, r.ErrorKinds)
	}
	if r.ErrorSamples["HTTP 500"] != "HTTP 500" {
		t.Errorf("samples %v", r.ErrorSamples)
	}
	if int64(r.Latency.Count()) != r.OK() || r.OK() != r.Requests-r.Errors {
		t.Errorf("latency holds %d, ok %d", r.Latency.Count(), r.OK())
	}
	if r.Elapsed < 100*time.Millisecond || r.Elapsed > 2*time.Second {
		t.Errorf("elapsed %v", r.Elapsed)
	}
	if r.Latency.Quantile(0.5) < time.Millisecond {
		t.Errorf("p50 %v is below the 1ms each request slept", r.Latency.Quantile(0.5))
	}
}

// With -rate, requests are sent when due and no sooner, and a request
// held up by a slow one before it counts the wait from its due time.
func TestDriveOpenLoopCountsFromTheDueTime(t *testing.T) {
	// Fast answers: exactly the due requests are sent, 40 in 200 ms at
	// 200/s, however fast the target would go.
	var calls atomic.Int64
	r := drive(context.Background(), 2, 200*time.Millisecond, 200, func(ctx context.Context, w int) error {
		calls.Add(1)
		return nil
	})
	if r.Requests != 40 || calls.Load() != 40 {
		t.Errorf("sent %d (counted %d), want the 40 due", calls.Load(), r.Requests)
	}
	if r.Offered != 200 {
		t.Errorf("offered %v", r.Offered)
	}
	// Slow answers: one client, a request due every 10 ms, each taking
	// 20 ms. Request k starts at 20k ms at the earliest but was due at
	// 10k ms, so from the fifth on its latency is at least 3.5 times
	// what it took.
	r = drive(context.Background(), 1, 300*time.Millisecond, 100, func(ctx context.Context, w int) error {
		time.Sleep(20 * time.Millisecond)
		return nil
	})
	if r.Requests < 5 {
		t.Fatalf("only %d requests", r.Requests)
	}
	if m := r.Latency.Max(); m < 70*time.Millisecond {
		t.Errorf("max latency %v: the wait behind slower requests is not counted", m)
	}
}

func TestDriveStopsOnCancelWithoutCountingTheCut(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var started sync.WaitGroup
	started.Add(4)
	do := func(ctx context.Context, w int) error {
		started.Done()
		<-ctx.Done()
		return ctx.Err()
	}
	go func() {
		started.Wait()
		cancel()
	}()
	t0 := time.Now()
	r := drive(ctx, 4, time.Hour, 0, do)
	if time.Since(t0) > 5*time.Second {
		t.Fatalf("drive took %v after cancel", time.Since(t0))
	}
	if r.Requests != 0 || r.Errors != 0 {
		t.Errorf("requests %d errors %d: requests cut by Ctrl-C are not the target's errors", r.Requests, r.Errors)
	}
}

// fakeFHIR answers creates (every failEvery-th with a 503) and reads, as a
// gateway would, for testing bench without one.
func fakeFHIR(t *testing.T, failEvery int64) *httptest.Server {
	var mu sync.Mutex
	tasks := map[string]bool{}
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/fhir/metadata":
			w.WriteHeader(http.StatusOK)
		case r.Method == http.MethodPost && r.URL.Path == "/fhir/Task":
			body, _ := io.ReadAll(r.Body)
			if !json.Valid(body) || r.Header.Get("Content-Type") != "application/fhir+json" {
				http.Error(w, "bad body", http.StatusBadRequest)
				return
			}
			i := n.Add(1)
			if failEvery > 0 && i%failEvery == 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write(fhir.Outcome(fhir.Issue{Severity: fhir.SeverityError, Code: fhir.CodeTransient, Diagnostics: "store busy"}))
				return
			}
			id := fmt.Sprintf("t%d", i)
			mu.Lock()
			tasks[id] = true
			mu.Unlock()
			w.Header().Set("Location", "http://"+r.Host+"/fhir/Task/"+id+"/_history/1")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write(body)
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/fhir/Task/"):
			mu.Lock()
			ok := tasks[strings.TrimPrefix(r.URL.Path, "/fhir/Task/")]
			mu.Unlock()
			if !ok {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write([]byte(`{"resourceType":"Task"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBenchAgainstATarget(t *testing.T) {
	srv := fakeFHIR(t, 0)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"bench", "-target", srv.URL + "/fhir", "-clients", "4", "-duration", "200ms", "-warmup", "50ms"}, envOf(nil), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"target " + srv.URL + "/fhir (running)",
		"phase    requests  errors     req/s       p50       p90       p99       max",
		"\ncreate ", "\nread ",
		"raw     skipped: no -database-url",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "errors:") || strings.Contains(out, "create/raw") {
		t.Errorf("no errors and no raw phase, yet:\n%s", out)
	}
}

func TestBenchReportsErrors(t *testing.T) {
	srv := fakeFHIR(t, 4)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"bench", "-target", srv.URL + "/fhir", "-clients", "2", "-duration", "200ms", "-warmup", "0", "-json"}, envOf(nil), &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit %d with failed requests, want 1; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "requests failed") {
		t.Errorf("stderr does not say requests failed:\n%s", stderr.String())
	}
	var rep reportJSON
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("-json output: %v\n%s", err, stdout.String())
	}
	if len(rep.Phases) != 3 {
		t.Fatalf("phases %+v", rep.Phases)
	}
	c := rep.Phases[0]
	if c.Phase != "create" || c.Errors == 0 || c.ErrorKinds["HTTP 503"] != c.Errors || c.Requests <= c.Errors {
		t.Errorf("create phase %+v: a quarter of creates fail with 503", c)
	}
	if s := c.ErrorSamples["HTTP 503"]; !strings.Contains(s, "store busy") {
		t.Errorf("sample %q lacks the OperationOutcome's diagnostics", s)
	}
	if want := float64(c.Requests-c.Errors) / c.Seconds; c.RPS < want*0.99 || c.RPS > want*1.01 {
		t.Errorf("rps %v, want successful requests per second %v", c.RPS, want)
	}
	if c.LatencyMS["p50"] <= 0 || c.LatencyMS["max"] < c.LatencyMS["p99"] {
		t.Errorf("latencies %v", c.LatencyMS)
	}
	r := rep.Phases[1]
	if r.Phase != "read" || r.Errors != 0 || r.Requests == 0 {
		t.Errorf("read phase %+v", r)
	}
	if rep.Phases[2].Phase != "raw" || rep.Phases[2].Skipped == "" || rep.CreateRawRatio != 0 {
		t.Errorf("raw phase %+v ratio %v", rep.Phases[2], rep.CreateRawRatio)
	}
}

func TestWriteReportTable(t *testing.T) {
	mk := func(name string, ok, errs int64, lat time.Duration) phaseResult {
		p := phaseResult{Name: name, Requests: ok + errs, Errors: errs, Elapsed: time.Second}
		for range ok {
			p.Latency.Record(lat)
		}
		return p
	}
	create := mk("create", 500, 2, 2*time.Millisecond)
	create.ErrorKinds = map[string]int64{"HTTP 503": 2}
	create.ErrorSamples = map[string]string{"HTTP 503": "HTTP 503: transient: busy"}
	create.WarmupErrors, create.WarmupErrorKinds = 1, map[string]int64{"connection refused": 1}
	// 1.5 s of the cores' time over 500 successful creates.
	create.CPU = machinestat.Span{BusySeconds: 1.5, StealSeconds: 0.02, OK: true}
	create.Procs = []procCPU{{Name: "gateway", Seconds: 0.4}, {Name: "PostgreSQL", Seconds: 0.9}, {Name: "bench", Seconds: 0.1}}
	rep := benchReport{
		Target: "http://127.0.0.1:1/fhir", Spawned: true, Store: "postgres", Clients: 16,
		DurationSeconds: 10, WarmupSeconds: 2, Fixture: "embedded navigation Task", FixtureBytes: 2546,
		Phases: []phaseResult{create, mk("read", 4000, 0, 500*time.Microsecond), mk("raw", 2000, 0, 800*time.Microsecond)},
	}
	rep.ratio()
	var b bytes.Buffer
	writeReportTable(&b, rep)
	out := b.String()
	for _, want := range []string{
		"target http://127.0.0.1:1/fhir (spawned, postgres store)\n",
		"16 clients, 10s per phase after 2s warm-up; fixture: embedded navigation Task, 2546 bytes\n",
		"create        502       2       500    2.00ms    2.00ms    2.00ms    2.00ms\n",
		"read         4000       0      4000    0.50ms    0.50ms    0.50ms    0.50ms\n",
		"create/raw 0.25: a create runs at 25% of the rate of a bare single-row insert\n",
		"  create: 2 x HTTP 503 (e.g. HTTP 503: transient: busy)\n",
		"  create warm-up: 1 x connection refused\n",
		fmt.Sprintf("machine CPU per request, all %d cores, whatever ran on them: create 3.00 ms (stolen by the hypervisor: %.1f%%)\n", runtime.NumCPU(), 2/float64(runtime.NumCPU())),
		"CPU per request by process, ms: create: gateway 0.80, PostgreSQL 1.80, bench 0.20\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestLocalDatabase(t *testing.T) {
	for url, want := range map[string]bool{
		"postgres://u@127.0.0.1:5432/db":      true,
		"postgres://u@localhost/db":           true,
		"postgres://u@[::1]:5432/db":          true,
		"host=/var/run/postgresql dbname=db":  true,
		"postgres://u@db.example.org:5432/db": false,
		"postgres://u@10.1.2.3/db":            false,
		"postgres://u@127.0.0.1:notaport/db":  false,
	} {
		assert.Equal(t, want, localDatabase(url), url)
	}
}
