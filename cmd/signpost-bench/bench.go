package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/signpost-fhir/signpost/fhir/store/postgres"
	"github.com/signpost-fhir/signpost/internal/loadclient"
	"github.com/signpost-fhir/signpost/internal/machinestat"
)

// defaultFixture is the Task bench sends unless -fixture names another.
var defaultFixture = loadclient.Fixture

// benchConfig is what `signpost-bench` is told.
type benchConfig struct {
	// Target is a FHIR base URL (…/fhir); empty: bench runs the gateway.
	Target      string
	DatabaseURL string
	Clients     int
	Duration    time.Duration
	Warmup      time.Duration
	// FixturePath is the -fixture file; empty for the embedded Task.
	FixturePath string
	JSON        bool
	// Store is the -store flag: "" (the environment's store), "sqlite",
	// "postgres" or "both" (one after the other, in one run).
	Store string
	// Gateway is the signpost binary bench runs when it has no Target
	// (-gateway); empty: found by gatewayBinary.
	Gateway string
	// Rate, when above 0, is the offered load in requests per second
	// over all clients (-rate): each request is due at a fixed time and
	// its latency counts from then, so a slow answer delays the ones
	// behind it and they count that wait (no coordinated omission). 0:
	// each client sends its next request as soon as the last is answered.
	Rate float64
}

// outboundTimeout bounds every request bench makes.
const outboundTimeout = loadclient.Timeout

func loadBenchConfig(args []string, getenv func(string) string, stderr io.Writer) (benchConfig, error) {
	fs := flag.NewFlagSet("signpost-bench", flag.ContinueOnError)
	target := fs.String("target", "", "FHIR base URL of a running gateway, e.g. http://127.0.0.1:8080/fhir; empty: run one as a child process on a free port, with this environment's DATABASE_URL or SIGNPOST_DATA (a temporary folder when neither is set)")
	dbURL := fs.String("database-url", "", "postgres:// URL for the raw insert ceiling, and the child gateway's store (default DATABASE_URL, DATABASE_URL_FILE)")
	clients := fs.Int("clients", 16, "concurrent clients")
	duration := fs.Duration("duration", 10*time.Second, "measured time of each phase")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured load before each phase; 0 for none")
	fixture := fs.String("fixture", "", "Task JSON file to create (default: an embedded navigation Task)")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	rate := fs.Float64("rate", 0, "offered load in requests per second over all clients (open loop: latency counts from when each request was due); 0: as fast as the clients go (closed loop)")
	gatewayBin := fs.String("gateway", "", "the signpost binary to run the gateway with when there is no -target (default: signpost beside this program, else on PATH, else built from ./cmd/signpost when run inside the source tree)")
	storeFlag := fs.String("store", "", "store of the gateway bench runs: sqlite, postgres (needs the database URL) or both, one after the other (default: postgres with a database URL, else sqlite)")
	// Parse errors are one line, like every other configuration error;
	// the flag list is printed only when asked for with -h.
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fs.Usage()
			return benchConfig{}, errHelp
		}
		return benchConfig{}, usageErr("bench: %v", err)
	}
	if fs.NArg() > 0 {
		return benchConfig{}, usageErr("bench: unexpected argument %q", fs.Arg(0))
	}
	c := benchConfig{Clients: *clients, Duration: *duration, Warmup: *warmup, FixturePath: *fixture, JSON: *asJSON, Store: *storeFlag, Rate: *rate, Gateway: *gatewayBin}
	c.Target = strings.TrimRight(*target, "/")
	switch c.Store {
	case "", "sqlite", "postgres", "both":
	default:
		return c, usageErr("bench: -store %q must be sqlite, postgres or both", c.Store)
	}
	if c.Gateway != "" && c.Target != "" {
		return c, usageErr("bench: -gateway names the binary bench runs; with -target the gateway is already running")
	}
	if c.Store != "" && c.Target != "" {
		return c, usageErr("bench: -store chooses the store of the gateway bench runs; with -target the gateway is already running")
	}
	if c.Target != "" {
		u, err := url.Parse(c.Target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, usageErr("bench: -target %q is not an http(s) FHIR base URL", c.Target)
		}
	}
	var err error
	if c.DatabaseURL, err = secret(*dbURL, "DATABASE_URL", getenv); err != nil {
		return c, err
	}
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return c, usageErr("bench: the database URL must be a postgres:// or postgresql:// URL")
		}
	}
	if (c.Store == "postgres" || c.Store == "both") && c.DatabaseURL == "" {
		return c, usageErr("bench: -store %s needs -database-url or DATABASE_URL", c.Store)
	}
	if c.Rate < 0 || c.Rate > 1e6 {
		return c, usageErr("bench: -rate %g must be between 0 and 1000000 requests per second", c.Rate)
	}
	if c.Clients < 1 || c.Clients > 10000 {
		return c, usageErr("bench: -clients %d must be between 1 and 10000", c.Clients)
	}
	if c.Duration <= 0 {
		return c, usageErr("bench: -duration %s must be positive", c.Duration)
	}
	if c.Warmup < 0 {
		return c, usageErr("bench: -warmup %s must not be negative", c.Warmup)
	}
	return c, nil
}

// loadFixture returns the compacted Task to send. It must be a Task: the
// phases POST it to /Task.
func loadFixture(path string) ([]byte, error) {
	raw := defaultFixture
	if path != "" {
		var err error
		if raw, err = os.ReadFile(path); err != nil {
			return nil, usageErr("bench: -fixture: %v", err)
		}
	}
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, usageErr("bench: fixture %q is not JSON: %v", path, err)
	}
	if head.ResourceType != "Task" {
		return nil, usageErr("bench: fixture %q is a %q, not a Task", path, head.ResourceType)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, usageErr("bench: fixture %q: %v", path, err)
	}
	return buf.Bytes(), nil
}

// errInterrupted ends a bench stopped by Ctrl-C, after the partial figures.
var errInterrupted = errors.New("bench interrupted; the figures above are partial")

// bench is `signpost-bench`: load on a gateway's HTTP API from a process
// of its own, in three phases of -duration each with -clients workers,
// each after a -warmup: (a) create, POST /Task with the fixture; (b) read,
// GET /Task/{id} over the ids created; (c) raw, the same JSON inserted
// straight into PostgreSQL, the ceiling a create cannot beat. It prints
// requests, errors, req/s and latency percentiles per phase and the
// create/raw ratio. Any failed request is reported and makes the exit
// code 1; Ctrl-C stops the load, prints what was measured and stops the
// gateway bench started. With -store both it does all of that twice, on
// a gateway with the embedded store (a temporary folder unless
// SIGNPOST_DATA names one; no raw phase) and then on one with PostgreSQL,
// and prints the two reports one after the other.
func bench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := loadBenchConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	body, err := loadFixture(c.FixturePath)
	if err != nil {
		return err
	}
	if c.Target == "" {
		// Found (or built) once, for both runs of -store both.
		progress := func(format string, args ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", args...) }
		bin, cleanup, err := gatewayBinary(ctx, c.Gateway, progress)
		if err != nil {
			return err
		}
		defer cleanup()
		c.Gateway = bin
	}
	switch c.Store {
	case "sqlite":
		c.DatabaseURL = ""
	case "both":
		lite := c
		lite.DatabaseURL = ""
		err := benchRun(ctx, lite, body, getenv, stdout, stderr)
		if ctx.Err() != nil {
			return err
		}
		if !c.JSON {
			fmt.Fprintln(stdout)
		}
		return errors.Join(err, benchRun(ctx, c, body, getenv, stdout, stderr))
	}
	return benchRun(ctx, c, body, getenv, stdout, stderr)
}

// benchRun is one run of bench on one gateway.
func benchRun(ctx context.Context, c benchConfig, body []byte, getenv func(string) string, stdout, stderr io.Writer) error {
	var err error
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", args...) }
	hc := loadclient.NewHTTPClient(c.Clients)
	defer hc.CloseIdleConnections()

	rep := benchReport{
		Target: c.Target, Clients: c.Clients, Rate: c.Rate,
		DurationSeconds: c.Duration.Seconds(), WarmupSeconds: c.Warmup.Seconds(),
		FixtureBytes: len(body), Fixture: c.FixturePath,
	}
	if rep.Fixture == "" {
		rep.Fixture = "embedded navigation Task"
	}

	var gw *childGateway
	if c.Target == "" {
		if c.DatabaseURL != "" {
			u, drop, err := scratchSchema(ctx, c.DatabaseURL, progress)
			if err != nil {
				return err
			}
			defer drop()
			c.DatabaseURL = u
		}
		gw, err = spawnGateway(c.Gateway, c.DatabaseURL, getenv)
		if err != nil {
			return err
		}
		// Stopped on every path; the normal path stops it before the
		// report to learn how it exited.
		defer gw.stop()
		rep.Target, rep.Spawned, rep.Store = gw.base, true, gw.store
		progress("started a gateway at %s (%s store)", gw.base, gw.store)
		if err := loadclient.WaitReady(ctx, hc, gw.root+"/readyz", gw.done, 60*time.Second); err != nil {
			gw.keepLog()
			return fmt.Errorf("the gateway did not become ready: %w (its log: %s)", err, gw.logPath)
		}
	} else if err := loadclient.WaitReady(ctx, hc, c.Target+"/metadata", nil, 10*time.Second); err != nil {
		return fmt.Errorf("%s/metadata: %w", c.Target, err)
	}

	procs := benchProcesses(ctx, gw, c.DatabaseURL)

	fc := &loadclient.Client{Base: rep.Target, HC: hc}
	interrupted := func() bool { return ctx.Err() != nil }

	// (a) creates. Ids created in the warm-up are kept for the reads.
	var ids idSink
	ids.init(c.Clients)
	create := func(ctx context.Context, w int) error {
		id, err := fc.Create(ctx, body)
		if err == nil {
			ids.add(w, id)
		}
		return err
	}
	rep.Phases = append(rep.Phases, runPhase(ctx, "create", c, create, procs, progress))

	// (b) reads over every created id.
	if !interrupted() {
		all := ids.all()
		if len(all) == 0 {
			rep.Phases = append(rep.Phases, phaseResult{Name: "read", Skipped: "no Task was created, so there is nothing to read"})
		} else {
			read := func(ctx context.Context, _ int) error {
				return fc.Read(ctx, all[rand.IntN(len(all))])
			}
			rep.Phases = append(rep.Phases, runPhase(ctx, "read", c, read, procs, progress))
		}
	}

	// (c) the raw insert ceiling.
	if !interrupted() {
		if c.DatabaseURL == "" {
			rep.Phases = append(rep.Phases, phaseResult{Name: "raw", Skipped: "no -database-url or DATABASE_URL: the ceiling is a PostgreSQL insert"})
		} else {
			rep.Phases = append(rep.Phases, rawCeiling(ctx, c, body, procs, progress))
		}
	}
	rep.Interrupted = interrupted()
	rep.ratio()

	// Failures fail the command too, so a script cannot take figures
	// measured against errors for good ones.
	var failure error
	var failed int64
	for _, p := range rep.Phases {
		if p.Failed && failure == nil {
			failure = fmt.Errorf("the %s phase could not run: %s", p.Name, p.Skipped)
		}
		failed += p.Errors + p.WarmupErrors
	}
	if failed > 0 && failure == nil {
		failure = fmt.Errorf("%d requests failed; see the errors above", failed)
	}
	if gw != nil {
		if failed > 0 {
			// The gateway logs the cause of every 5xx: keep it.
			gw.keepLog()
		}
		if err := gw.stop(); err != nil {
			err = fmt.Errorf("stopping the gateway: %w", err)
			if failure != nil {
				err = fmt.Errorf("%v; %w", failure, err)
			}
			failure = err
		}
		if gw.kept() && failure != nil {
			failure = fmt.Errorf("%w (the gateway's log: %s)", failure, gw.logPath)
		}
	}
	if c.JSON {
		if err := writeReportJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		writeReportTable(stdout, rep)
	}
	if rep.Interrupted && failure == nil {
		return errInterrupted
	}
	return failure
}

// benchProcesses are the processes whose CPU time bench reports apart:
// the gateway when bench spawned it, the PostgreSQL server's processes
// when the database is on this machine (a loopback address or a Unix
// socket: a remote server's time cannot be read from here), and bench.
//
// The server's processes are its postmaster and that postmaster's
// children, so that another server on the machine (or the clusters
// other tests start and stop) does not count; every process named
// postgres when the postmaster cannot be found.
func benchProcesses(ctx context.Context, gw *childGateway, dbURL string) []procGroup {
	var out []procGroup
	if gw != nil && gw.cmd.Process != nil {
		out = append(out, procGroup{Name: "gateway", Group: machinestat.Group{PID: gw.cmd.Process.Pid}})
	}
	if dbURL != "" && localDatabase(dbURL) {
		g := machinestat.Group{Comm: "postgres"}
		if pm := postmaster(ctx, dbURL); pm > 0 {
			g = machinestat.Group{Tree: pm}
		}
		out = append(out, procGroup{Name: "PostgreSQL", Group: g})
	}
	return append(out, procGroup{Name: "bench", Group: machinestat.Group{PID: os.Getpid()}})
}

// postmaster is the process id of the PostgreSQL server at dbURL (the
// parent of a backend), 0 when it cannot be told.
func postmaster(ctx context.Context, dbURL string) int {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var backend int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		return 0
	}
	return machinestat.Parent(backend)
}

// localDatabase reports whether the database at url (a postgres:// URL
// or key=value DSN) is on this machine.
func localDatabase(url string) bool {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return false
	}
	if strings.HasPrefix(cfg.Host, "/") || cfg.Host == "localhost" {
		return true
	}
	ip := net.ParseIP(cfg.Host)
	return ip != nil && ip.IsLoopback()
}

// runPhase warms up, then measures, one phase, with the CPU time of procs.
// Warm-up errors are not dropped: they are reported with the phase.
func runPhase(ctx context.Context, name string, c benchConfig, do loadFunc, procs []procGroup, progress func(string, ...any)) phaseResult {
	var warm phaseResult
	if c.Warmup > 0 {
		progress("%s: warming up for %s", name, c.Warmup)
		warm = drive(ctx, c.Clients, c.Warmup, c.Rate, do)
	}
	progress("%s: measuring for %s with %d clients", name, c.Duration, c.Clients)
	r := drive(ctx, c.Clients, c.Duration, c.Rate, do, procs...)
	r.Name = name
	r.WarmupErrors, r.WarmupErrorKinds = warm.Errors, warm.ErrorKinds
	for k, s := range warm.ErrorSamples {
		if _, ok := r.ErrorSamples[k]; !ok {
			if r.ErrorSamples == nil {
				r.ErrorSamples = map[string]string{}
			}
			r.ErrorSamples[k] = s
		}
	}
	return r
}

// rawCeiling inserts the fixture into a scratch table, one autocommitted
// row per statement, from the same number of clients: what a create costs
// the database alone, with no HTTP, parsing, validation, history or
// index rows. A create cannot beat it. It connects through the store's
// Open, which also applies the store's migrations, as the gateway would.
func rawCeiling(ctx context.Context, c benchConfig, body []byte, procs []procGroup, progress func(string, ...any)) phaseResult {
	failed := func(err error) phaseResult {
		return phaseResult{Name: "raw", Skipped: err.Error(), Failed: true}
	}
	// The store's own pool, so the ceiling connects exactly as the
	// gateway does; one connection per client, as the HTTP phases have.
	octx, cancel := context.WithTimeout(ctx, outboundTimeout)
	defer cancel()
	st, err := postgres.Open(octx, c.DatabaseURL, postgres.WithMaxConns(int32(c.Clients)))
	if err != nil {
		return failed(err)
	}
	defer st.Close()
	pool := st.Pool()
	if _, err := pool.Exec(octx, `CREATE TABLE IF NOT EXISTS signpost_bench_raw(id text primary key, body json)`); err != nil {
		return failed(err)
	}
	defer func() {
		// The scratch table goes even after Ctrl-C.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outboundTimeout)
		defer cancel()
		if _, err := pool.Exec(dctx, `DROP TABLE IF EXISTS signpost_bench_raw`); err != nil {
			progress("raw: could not drop signpost_bench_raw: %v", err)
		}
	}()
	doc := string(body)
	insert := func(ctx context.Context, _ int) error {
		ctx, cancel := context.WithTimeout(ctx, outboundTimeout)
		defer cancel()
		_, err := pool.Exec(ctx, `INSERT INTO signpost_bench_raw(id, body) VALUES ($1, $2)`, uuid.NewString(), doc)
		return err
	}
	return runPhase(ctx, "raw", c, insert, procs, progress)
}
