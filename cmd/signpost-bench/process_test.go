package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/signpost-fhir/signpost/internal/cli"
	"github.com/signpost-fhir/signpost/internal/pgtest"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// benchBinary builds signpost-bench and, beside it, signpost (which it
// runs the gateway with), once for all the tests that run them.
func benchBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds signpost and signpost-bench and runs them as processes; skipped with -short")
	}
	binOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			binErr = fmt.Errorf("no go command to build with: %w", err)
			return
		}
		if binDir, err = os.MkdirTemp("", "signpost-bench-test-bin-*"); err != nil {
			binErr = err
			return
		}
		out, err := exec.Command(goTool, "build", "-o", binDir+string(os.PathSeparator), ".", "../signpost").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "signpost-bench")
}

// processStores are the stores a gateway process can run on.
var processStores = []struct {
	name string
	open func(t *testing.T) (dbURL, dataDir string)
}{
	{"sqlite", func(t *testing.T) (string, string) { return "", t.TempDir() }},
	{"postgres", func(t *testing.T) (string, string) { return pgtest.URL(t), "" }},
}

// checkProcessCPU checks that bench told apart the CPU time of the
// gateway it spawned, of the PostgreSQL server on this machine (when the
// store is PostgreSQL) and of itself, within the machine's time.
func checkProcessCPU(t *testing.T, rep reportJSON, postgres bool) {
	t.Helper()
	for _, p := range rep.Phases {
		if p.Skipped != "" {
			continue
		}
		ms := p.ProcessCPUMS
		_, gw := ms["gateway"]
		_, pg := ms["PostgreSQL"]
		if !gw || ms["bench"] <= 0 || pg != postgres || (postgres && ms["PostgreSQL"] <= 0) {
			t.Errorf("%s phase: CPU by process %v; want the gateway's, bench's and, on PostgreSQL only, the server's", p.Phase, ms)
		}
		// The machine's counters and the processes' are read a moment
		// apart, in 10 ms ticks: 30 ms of slack over the phase.
		sum, slack := ms["gateway"]+ms["PostgreSQL"]+ms["bench"], 30/(p.RPS*p.Seconds)
		if p.MachineCPUMS > 0 && sum > p.MachineCPUMS*1.1+slack {
			t.Errorf("%s phase: the processes took %.3f ms a request, the whole machine %.3f", p.Phase, sum, p.MachineCPUMS)
		}
	}
	if c := rep.Phases[0].ProcessCPUMS["gateway"]; c <= 0 || (postgres && c <= rep.Phases[2].ProcessCPUMS["gateway"]) {
		t.Errorf("the gateway's CPU a create %.3f ms, a raw insert %.3f ms: it works for the one, not the other", c, rep.Phases[2].ProcessCPUMS["gateway"])
	}
}

// TestBenchRunsItsOwnGateway runs signpost-bench as a user would, with
// no target: it must find the signpost binary beside it, start a
// gateway, load it without errors, stop it cleanly and print its figures.
func TestBenchRunsItsOwnGateway(t *testing.T) {
	t.Parallel()
	bin := benchBinary(t)
	for _, sc := range processStores {
		t.Run(sc.name, func(t *testing.T) {
			dbURL, dataDir := sc.open(t)
			cmd := exec.Command(bin, "-clients", "4", "-duration", "1s", "-warmup", "200ms", "-json")
			cmd.Env = cli.ChildEnv(os.Environ(), dbURL, dataDir)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("bench: %v\n%s", err, stderr.String())
			}
			var rep reportJSON
			if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
				t.Fatalf("bench -json: %v\n%s", err, stdout.String())
			}
			if !rep.Spawned || rep.Store != sc.name || len(rep.Phases) != 3 {
				t.Fatalf("report %+v", rep)
			}
			for _, p := range rep.Phases[:2] {
				if p.Requests == 0 || p.Errors != 0 || p.WarmupErrors != 0 || p.RPS <= 0 {
					t.Errorf("%s phase: %+v", p.Phase, p)
				}
			}
			raw := rep.Phases[2]
			switch {
			case dbURL == "" && raw.Skipped == "":
				t.Errorf("raw phase ran with no database: %+v", raw)
			case dbURL != "" && (raw.Skipped != "" || raw.Requests == 0 || rep.CreateRawRatio <= 0):
				t.Errorf("raw phase %+v, ratio %v", raw, rep.CreateRawRatio)
			}
			if runtime.GOOS == "linux" {
				checkProcessCPU(t, rep, dbURL != "")
			}
			t.Logf("%s, 4 clients for 1s: create %.0f/s, read %.0f/s, raw %.0f/s", sc.name, rep.Phases[0].RPS, rep.Phases[1].RPS, raw.RPS)
		})
	}
}

// TestBenchBothStoresInOneRun runs bench -store both: two reports, the
// embedded store's (no raw phase) and then PostgreSQL's, each with the
// CPU time per request of its phases.
func TestBenchBothStoresInOneRun(t *testing.T) {
	t.Parallel()
	bin := benchBinary(t)
	dbURL := pgtest.URL(t)
	cmd := exec.Command(bin, "-store", "both", "-clients", "4", "-duration", "1s", "-warmup", "200ms", "-json")
	cmd.Env = cli.ChildEnv(os.Environ(), dbURL, "")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	dec := json.NewDecoder(&stdout)
	for _, want := range []string{"sqlite", "postgres"} {
		var rep reportJSON
		if err := dec.Decode(&rep); err != nil {
			t.Fatalf("the %s report: %v", want, err)
		}
		if !rep.Spawned || rep.Store != want || len(rep.Phases) != 3 {
			t.Fatalf("report %+v, want the %s store's", rep, want)
		}
		for _, p := range rep.Phases[:2] {
			if p.Requests == 0 || p.Errors != 0 || p.WarmupErrors != 0 {
				t.Errorf("%s %s phase: %+v", want, p.Phase, p)
			}
		}
		if raw := rep.Phases[2]; (want == "sqlite") != (raw.Skipped != "") {
			t.Errorf("%s raw phase: %+v", want, raw)
		}
		if runtime.GOOS == "linux" {
			checkProcessCPU(t, rep, want == "postgres")
		}
	}
	if dec.More() {
		t.Error("more than two reports")
	}
	// The PostgreSQL run had a schema of its own, dropped at the end: the
	// database it was given holds nothing of it.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var tables, schemas int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`signpost_bench_[0-9a-f]{12}`).FindAllString(stderr.String(), -1)
	if len(names) != 1 {
		t.Fatalf("bench named %d schemas of its own, want 1:\n%s", len(names), stderr.String())
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, names[0]).Scan(&schemas); err != nil {
		t.Fatal(err)
	}
	if tables != 0 || schemas != 0 {
		t.Errorf("after the run: %d tables in the schema bench was given, and its own schema %s left %d times; want none", tables, names[0], schemas)
	}
}
