package main

// End-to-end tests of the signpost binary as an operator runs it: built
// once, started as a process on a free port, stopped with real signals.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/signpost-fhir/signpost/internal/cli"
	"github.com/signpost-fhir/signpost/internal/loadclient"
	"github.com/signpost-fhir/signpost/internal/pgtest"
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	// The tests marked parallel here spend their time waiting on child
	// processes (gateways, node, Chromium, PostgreSQL), not on the CPU:
	// unless -parallel is given, four of them run at once rather than
	// GOMAXPROCS (two on the development machine).
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", strconv.Itoa(max(4, runtime.GOMAXPROCS(0))))
	}
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// signpostBinary builds the command once for all the tests that run it.
func signpostBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the signpost binary and runs it as a process; skipped with -short")
	}
	binOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			binErr = fmt.Errorf("no go command to build signpost with: %w", err)
			return
		}
		if binDir, err = os.MkdirTemp("", "signpost-test-bin-*"); err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(binDir, "signpost")
		out, err := exec.Command(goTool, "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// storeCase is a store a gateway process can run on; env gives the store
// for one test and the same store again on every call within it.
type storeCase struct {
	name string
	open func(t *testing.T) (dbURL, dataDir string)
}

var processStores = []storeCase{
	{"sqlite", func(t *testing.T) (string, string) { return "", t.TempDir() }},
	{"postgres", func(t *testing.T) (string, string) { return pgtest.URL(t), "" }},
}

// lockedBuffer collects a process's log while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// gatewayProcess is one `signpost serve` child.
type gatewayProcess struct {
	cmd        *exec.Cmd
	addr       string
	root, base string
	log        *lockedBuffer
	done       chan struct{}
	waitErr    error
}

// startGateway runs the binary on a free port against the given store
// (env adds KEY=value settings) and waits until /readyz says it can serve.
func startGateway(t *testing.T, bin, dbURL, dataDir string, env ...string) *gatewayProcess {
	t.Helper()
	addr, err := cli.FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	g := &gatewayProcess{addr: addr, root: "http://" + addr, log: &lockedBuffer{}, done: make(chan struct{})}
	g.base = g.root + "/fhir"
	g.cmd = exec.Command(bin, "serve", "-addr", addr)
	// Request lines at info level would swamp the log shown on failure.
	g.cmd.Env = append(append(cli.ChildEnv(os.Environ(), dbURL, dataDir), "SIGNPOST_LOG_LEVEL=warn", "SIGNPOST_LOG_FORMAT=text"), env...)
	g.cmd.Stdout, g.cmd.Stderr = g.log, g.log
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		g.waitErr = g.cmd.Wait()
		close(g.done)
	}()
	t.Cleanup(func() {
		select {
		case <-g.done:
		default:
			_ = g.cmd.Process.Kill()
			<-g.done
		}
		if t.Failed() {
			t.Logf("gateway %s log:\n%s", addr, g.log.String())
		}
	})
	hc := &http.Client{Timeout: 5 * time.Second}
	if err := loadclient.WaitReady(context.Background(), hc, g.root+"/readyz", g.done, time.Minute); err != nil {
		t.Fatalf("gateway on %s not ready: %v\n%s", addr, err, g.log.String())
	}
	return g
}

// wait returns the exit error once the process has gone, failing the test
// if that takes longer than limit.
func (g *gatewayProcess) wait(t *testing.T, limit time.Duration) error {
	t.Helper()
	select {
	case <-g.done:
		return g.waitErr
	case <-time.After(limit):
		t.Fatalf("the gateway is still running %s later", limit)
		return nil
	}
}

// taskWithMarker is the fixture with an identifier unique to one request,
// so that what reads back can be matched to what was sent.
func taskWithMarker(marker string) []byte {
	var m map[string]any
	if err := json.Unmarshal(loadclient.Fixture, &m); err != nil {
		panic(err) // the embedded fixture is checked by TestEmbeddedFixture
	}
	m["identifier"] = []any{map[string]any{"system": "https://signpost.example/fhir/sid/test-marker", "value": marker}}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// withoutServerElements decodes a resource and drops what the server
// owns: id and meta (versionId, lastUpdated, and the tags and security
// labels the gateway stamps).
func withoutServerElements(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	delete(m, "id")
	delete(m, "meta")
	return m, nil
}

// differentElements names the top-level elements in which a and b differ.
func differentElements(a, b map[string]any) []string {
	var names []string
	for k, v := range a {
		if !reflect.DeepEqual(v, b[k]) {
			names = append(names, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	return names
}

func getTask(ctx context.Context, hc *http.Client, base, id string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/Task/"+id, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestCrashKeepsEveryAcknowledgedCreate kills the gateway with SIGKILL
// while clients are creating Tasks, restarts it on the same store, and
// reads back every Task whose create was answered 201: an acknowledged
// write must have been committed durably before the answer went out.
func TestCrashKeepsEveryAcknowledgedCreate(t *testing.T) {
	t.Parallel()
	bin := signpostBinary(t)
	for _, sc := range processStores {
		t.Run(sc.name, func(t *testing.T) {
			dbURL, dataDir := sc.open(t)
			gw := startGateway(t, bin, dbURL, dataDir)
			const clients = 8
			hc := loadclient.NewHTTPClient(clients)
			fc := &loadclient.Client{Base: gw.base, HC: hc}

			var mu sync.Mutex
			acked := map[string][]byte{}
			var failed atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range clients {
				wg.Go(func() {
					for seq := 0; ; seq++ {
						select {
						case <-stop:
							return
						default:
						}
						body := taskWithMarker(fmt.Sprintf("crash-%d-%d", w, seq))
						id, err := fc.Create(context.Background(), body)
						if err != nil {
							failed.Add(1)
							continue
						}
						mu.Lock()
						acked[id] = body
						mu.Unlock()
					}
				})
			}
			time.Sleep(time.Second)
			mu.Lock()
			before := len(acked)
			mu.Unlock()
			if err := gw.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if err := gw.wait(t, 10*time.Second); err == nil {
				t.Error("the gateway exited 0 after SIGKILL")
			}
			close(stop)
			wg.Wait()
			hc.CloseIdleConnections()
			if before == 0 {
				t.Fatal("no create was acknowledged in the second before the kill; the test proves nothing")
			}
			if failed.Load() == 0 {
				t.Error("no request failed: the clients were not running when the gateway was killed")
			}

			again := startGateway(t, bin, dbURL, dataDir)
			ids := make(chan string)
			var lost, differ atomic.Int64
			var rwg sync.WaitGroup
			for range clients {
				rwg.Go(func() {
					for id := range ids {
						status, got, err := getTask(context.Background(), hc, again.base, id)
						if err != nil || status != http.StatusOK {
							if lost.Add(1) <= 5 {
								t.Errorf("Task/%s was acknowledged with 201 but reads back %d %v: %s", id, status, err, loadclient.Truncate(string(got), 300))
							}
							continue
						}
						want, err1 := withoutServerElements(acked[id])
						have, err2 := withoutServerElements(got)
						if err := errors.Join(err1, err2); err != nil || !reflect.DeepEqual(want, have) {
							if differ.Add(1) <= 5 {
								t.Errorf("Task/%s reads back different from what was sent (%v), in %v:\nsent %s\ngot  %s",
									id, err, differentElements(want, have), acked[id], got)
							}
							continue
						}
						var head struct{ ID string }
						if err := json.Unmarshal(got, &head); err != nil || head.ID != id {
							t.Errorf("Task/%s reads back with id %q", id, head.ID)
						}
					}
				})
			}
			for id := range acked {
				ids <- id
			}
			close(ids)
			rwg.Wait()
			t.Logf("%s: %d creates acknowledged with 201 before SIGKILL, %d failed or cut off by it; after restart %d read back intact, %d lost, %d different",
				sc.name, len(acked), failed.Load(), int64(len(acked))-lost.Load()-differ.Load(), lost.Load(), differ.Load())
		})
	}
}

// TestGracefulShutdown sends SIGTERM while a create is half sent and a
// stream of reads runs: the listener closes, the create in flight
// completes with 201, no request fails before the listener closed, and
// the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	bin := signpostBinary(t)
	gw := startGateway(t, bin, "", t.TempDir())
	hc := loadclient.NewHTTPClient(8)
	defer hc.CloseIdleConnections()
	fc := &loadclient.Client{Base: gw.base, HC: hc}
	ctx := context.Background()
	readID, err := fc.Create(ctx, loadclient.Fixture)
	if err != nil {
		t.Fatal(err)
	}

	// The stream: reads, each worker pausing a little between them.
	type outcome struct {
		start, end time.Time
		status     int
		err        error
	}
	var mu sync.Mutex
	var outcomes []outcome
	streamStop := make(chan struct{})
	var swg sync.WaitGroup
	for range 4 {
		swg.Go(func() {
			for {
				select {
				case <-streamStop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				o := outcome{start: time.Now()}
				o.status, _, o.err = getTask(ctx, hc, gw.base, readID)
				o.end = time.Now()
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
			}
		})
	}

	// The request in flight: its body is sent in two halves with SIGTERM
	// in between, so the gateway is inside the handler when told to stop.
	body := taskWithMarker("in-flight-at-sigterm")
	pr, pw := io.Pipe()
	wroteHeaders := make(chan struct{})
	trace := &httptrace.ClientTrace{WroteHeaders: func() { close(wroteHeaders) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, gw.base+"/Task", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	type result struct {
		resp *http.Response
		err  error
	}
	slow := make(chan result, 1)
	go func() {
		// Its own connection, not one of the stream's. A body of unknown
		// length goes chunked, and each chunk is flushed as it comes.
		resp, err := (&http.Client{Transport: &http.Transport{}, Timeout: time.Minute}).Do(req)
		slow <- result{resp, err}
	}()
	if _, err := pw.Write(body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wroteHeaders:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request's headers were not written within 10s")
	}
	// Time for the first chunk to reach the handler.
	time.Sleep(300 * time.Millisecond)

	sigterm := time.Now()
	if err := gw.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The listener closes first; only then does the rest of the body go.
	closedBy := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", gw.addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(closedBy) {
			t.Fatal("the listener is still open 10s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-gw.done:
		t.Fatalf("the gateway exited (%v) with a request in flight", gw.waitErr)
	default:
	}
	if _, err := pw.Write(body[len(body)/2:]); err != nil {
		t.Fatalf("sending the rest of the in-flight body: %v", err)
	}
	pw.Close()
	r := <-slow
	if r.err != nil {
		t.Fatalf("the request in flight at SIGTERM failed: %v", r.err)
	}
	b, _ := io.ReadAll(r.resp.Body)
	r.resp.Body.Close()
	if r.resp.StatusCode != http.StatusCreated {
		t.Errorf("the request in flight at SIGTERM got %d, want 201: %s", r.resp.StatusCode, b)
	}
	if _, ok := loadclient.IDFromLocation(r.resp.Header.Get("Location"), "Task"); !ok {
		t.Errorf("the request in flight at SIGTERM got Location %q", r.resp.Header.Get("Location"))
	}

	if err := gw.wait(t, 30*time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", err)
	}
	stopped := time.Since(sigterm)
	close(streamStop)
	swg.Wait()

	var okBefore, okAfter, refused int
	for _, o := range outcomes {
		switch {
		case o.err == nil && o.status == http.StatusOK:
			if o.end.Before(sigterm) {
				okBefore++
			} else {
				okAfter++
			}
		case o.err == nil:
			t.Errorf("a read during shutdown got %d, want 200 or a refused connection", o.status)
		case o.end.Before(sigterm):
			t.Errorf("a read failed before SIGTERM: %v", o.err)
		case isConnectionError(o.err):
			refused++
		default:
			t.Errorf("a read during shutdown failed with %v, want 200 or a refused connection", o.err)
		}
	}
	if okBefore == 0 {
		t.Error("the stream had no successful read before SIGTERM")
	}
	t.Logf("stream: %d reads before SIGTERM, %d completed after it, %d could not connect once the listener closed; the create in flight got %d; exit 0 %s after SIGTERM",
		okBefore, okAfter, refused, r.resp.StatusCode, stopped.Round(time.Millisecond))
}

// isConnectionError is a request that never reached a listening gateway,
// or reached a connection the gateway closed as idle.
func isConnectionError(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
