package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/postgres"
	"github.com/signpost-fhir/signpost/fhir/store/sqlite"
	"github.com/signpost-fhir/signpost/gateway"
	"github.com/signpost-fhir/signpost/gateway/carerecord"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/gateway/requestid"
	"github.com/signpost-fhir/signpost/internal/gctune"
	"github.com/signpost-fhir/signpost/internal/sealed"
	"github.com/signpost-fhir/signpost/snomed"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit code: 0 done, 1 failed,
// 2 invalid configuration or usage.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) == 1 && isHelpFlag(args[0]) {
		printOverview(stdout)
		return 0
	}
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "help":
		return help(ctx, args, getenv, stdout, stderr)
	case "serve":
		err = serve(ctx, args, getenv, stderr)
	case "bench", "seedtasks":
		err = usageErr("%s is a command of signpost-bench now: go run ./cmd/signpost-bench %s (or the signpost-bench binary)", cmd, map[string]string{"bench": "-h", "seedtasks": "seedtasks -h"}[cmd])
	case "directory":
		err = directoryCmd(ctx, args, getenv, stdout, stderr)
	case "lexicon":
		err = lexiconCmd(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "signpost", version)
	default:
		err = usageErr("unknown command %q (want serve, directory, lexicon, version or help)", cmd)
	}
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "signpost:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "signpost:", err)
		return 1
	}
}

// help answers `signpost help [command]` on stdout: the list of commands,
// or the command's flags.
func help(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printOverview(stdout)
		return 0
	}
	runs, ok := helpArgs(args[0])
	if !ok || len(args) > 1 {
		fmt.Fprintf(stderr, "signpost: help: unknown command %q; `signpost help` lists them\n", args[0])
		return 2
	}
	fmt.Fprintln(stdout, commandSummary(args[0]))
	for _, a := range runs {
		fmt.Fprintln(stdout)
		if code := run(ctx, a, getenv, stdout, stdout); code != 0 {
			return code
		}
	}
	return 0
}

func newLogger(c config, w io.Writer) *slog.Logger {
	o := &slog.HandlerOptions{Level: c.LogLevel}
	var h slog.Handler = slog.NewJSONHandler(w, o)
	if c.LogFormat == "text" {
		h = slog.NewTextHandler(w, o)
	}
	// Lines logged with a request's context (the gateway's, the care
	// record client's) carry its request_id.
	return slog.New(requestid.NewLogHandler(h))
}

// openStore opens PostgreSQL when a URL is configured, else the embedded
// SQLite store; both apply their migrations.
//
// The store is told the FHIR base clients use, so a search for an absolute
// reference to this server (http://host/fhir/Patient/1) finds what
// relative ones (Patient/1) find: SIGNPOST_PUBLIC_URL, else the listen
// address.
func openStore(ctx context.Context, c config, log *slog.Logger) (store.Store, string, error) {
	base := c.PublicURL
	if base == "" {
		base = "http://" + c.Addr + "/fhir"
	}
	if c.DatabaseURL != "" {
		s, err := postgres.Open(ctx, c.DatabaseURL, postgres.WithBaseURL(base), postgres.WithLogger(log))
		if err != nil {
			return nil, "postgres", err
		}
		return s, "postgres", nil
	}
	s, err := sqlite.Open(ctx, c.DataDir, sqlite.WithBaseURL(base))
	if err != nil {
		return nil, "sqlite", err
	}
	return s, "sqlite", nil
}

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	c, err := loadConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(c, stderr)
	if gc := gctune.Apply(getenv); gc > 0 {
		log.Debug("garbage collector target", "gogc", gc)
	}
	st, kind, err := openStore(ctx, c, log)
	if err != nil {
		return fmt.Errorf("open %s store: %w", kind, err)
	}
	if pg, ok := st.(*postgres.Store); ok {
		warnings, err := pg.ServerWarnings(ctx)
		if err != nil {
			log.Warn("checking the PostgreSQL server's settings", "error", err.Error())
		}
		for _, w := range warnings {
			log.Warn(w)
		}
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing the store", "error", err.Error())
		}
	}()
	var verifier *auth.Verifier // nil: development mode
	if len(c.OIDCIssuers) > 0 {
		if verifier, err = newVerifier(ctx, c, log); err != nil {
			return err
		}
	}
	// Listening first: a busy address fails start-up at once, and the
	// demo clinical system's Endpoint names the address really bound.
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	defer ln.Close()
	opts := gateway.Options{
		Store:            st,
		Logger:           log,
		PublicBase:       c.PublicURL,
		MaxBodyBytes:     c.MaxBodyBytes,
		MaxBundleEntries: c.MaxBundleEntries,
		RequestTimeout:   c.RequestTimeout,
		Version:          version,
		CanonicalBase:    c.CanonicalBase,
		RateLimit:        c.RateLimit,
		RateBurst:        c.RateBurst,
		TrustedProxies:   c.TrustedProxies,
	}
	if verifier != nil {
		opts.Verifier = verifier
	}
	if c.SecretsKey != nil {
		if opts.Secrets, err = sealed.FromKey(c.SecretsKey); err != nil {
			return err
		}
		log.Info("Endpoint and Subscription headers are sealed with SIGNPOST_SECRETS_KEY")
	} else {
		log.Info("Endpoint and Subscription headers are sealed with the store's generated key; set SIGNPOST_SECRETS_KEY to keep the key out of the database")
	}
	// Development mode listens on loopback only, so /metrics is served
	// beside the API; otherwise only on SIGNPOST_METRICS_ADDR.
	opts.ServeMetrics = verifier == nil
	srv := gateway.New(opts)
	// After the HTTP server has shut down (deferred later, run earlier),
	// before the store closes.
	defer srv.Close()
	srv.SetSubscriptionEndpoints(c.SubscriptionEndpoints)
	log.Info("outbound endpoints allowed (Subscriptions, Endpoints)", "endpoints", c.SubscriptionEndpoints.String())
	term, err := setUpTerminology(ctx, c, st, srv, log)
	if err != nil {
		return err
	}
	if err := srv.RegisterDirectory(ctx, gateway.DirectoryOptions{}); err != nil {
		return fmt.Errorf("directory of services: %w", err)
	}
	navOpts := gateway.NavigationOptions{
		Terminology:  term,
		RepeatWindow: c.RepeatWindow,
		DemoDir:      c.DemoDir,
	}
	var record *carerecord.Client
	if cr := c.CareRecord; cr.URL != "" {
		client, err := carerecord.New(carerecord.Config{BaseURL: cr.URL, Token: cr.Token, TokenURL: cr.TokenURL,
			ClientID: cr.ClientID, ClientSecret: cr.ClientSecret, Scope: cr.Scope, Query: cr.Query,
			ConceptMap: cr.ConceptMap, MaxAge: cr.MaxAge, Timeout: cr.Timeout,
			Logger: log.With("component", "care-record"), Observer: srv.Metrics()}, st, term)
		if err != nil {
			return fmt.Errorf("shared care record: %w", err)
		}
		navOpts.NeedGroups, record = client, client
		log.Info("need groups pulled from the shared care record", "base", cr.URL)
	} else if cr.MaxAgeSet {
		navOpts.NeedGroupMaxAge = cr.MaxAge
	}
	if err := srv.RegisterNavigation(ctx, navOpts); err != nil {
		return fmt.Errorf("care navigation: %w", err)
	}
	if record != nil {
		if err := checkCareRecordMap(ctx, record, c.CareRecord.ConceptMap, log); err != nil {
			return err
		}
	}
	if err := seedDemoHistory(ctx, c, verifier == nil, st, term, log); err != nil {
		return err
	}
	inbox := ""
	if verifier == nil && c.DemoDir != "" {
		// Development mode with the demo content: the demo practice's
		// outcomes are delivered to the gateway's own inbox.
		inbox = "http://" + ln.Addr().String() + gateway.DemoClinicalSystemPath
		if err := srv.ServeDemoClinicalSystem(ctx, inbox); err != nil {
			return err
		}
		// The demo Pharmacy First takes BaRS referrals at the gateway's
		// own receiver, which answers to $process-message.
		if c.DemoBaRS != "off" {
			if err := srv.ServeDemoPharmacyBaRS(ctx, gateway.DemoBaRSOptions{Base: "http://" + ln.Addr().String(), Rule: c.DemoBaRS}); err != nil {
				return err
			}
		}
	}
	if err := srv.RegisterMeasures(ctx); err != nil {
		return fmt.Errorf("success measures: %w", err)
	}
	srv.ServeDashboard()
	// Outcome delivery: decisions are enqueued whatever the worker count;
	// workers run beside the server, stopped after it has drained.
	var deliveries sync.WaitGroup
	dctx, stopDeliveries := context.WithCancel(context.WithoutCancel(ctx))
	defer func() { stopDeliveries(); deliveries.Wait() }()
	if ob, ok := st.(store.Outbox); ok {
		srv.RegisterDelivery(ob)
		if c.DeliveryWorkers > 0 {
			backoff := store.DefaultBackoff
			backoff.MaxAttempts = c.DeliveryMaxAttempts
			d := clinicalsystem.New(st, ob, clinicalsystem.Config{Workers: c.DeliveryWorkers, Timeout: c.DeliveryTimeout,
				Backoff: backoff, Log: log.With("component", "delivery"), Observer: srv.Metrics(),
				AllowSubscriptionEndpoint: c.SubscriptionEndpoints.Allows, AllowEndpointAddress: c.SubscriptionEndpoints.Allows,
				Secrets: opts.Secrets})
			deliveries.Go(func() { d.Run(dctx) })
		}
	}
	summary := srv.SeedSummary()
	if c.DemoDir != "" {
		summary = append(summary, "demo_folder", c.DemoDir, "demo_practice", "Y99999")
	}
	log.Info("seeded at start", summary...)
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    srv.HTTPMaxHeaderBytes(), // past the gateway's own limit, which answers 431 as an OperationOutcome
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if verifier == nil {
		log.Warn("DEVELOPMENT MODE: no SIGNPOST_OIDC_ISSUER is configured, so every caller is treated as a developer with full access to every practice's data; listening on loopback only. Never run this way with real patient data.",
			"addr", ln.Addr().String())
	}
	root := siteRoot(c.PublicURL, ln.Addr().String())
	where := []any{"home", root + "/", "fhir_base", root + "/fhir", "dashboard", root + "/dashboard"}
	if c.PublicURL != "" {
		where[3] = c.PublicURL
	}
	if inbox != "" {
		where = append(where, "demo_inbox", root+gateway.DemoClinicalSystemPath)
	}
	where = append(where, "docs", gateway.DocsURL, "store", kind, "version", version, "oidc_issuers", c.OIDCIssuers, "development_mode", verifier == nil)
	log.Info("signpost listening: open "+root+"/ for the links", where...)
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	if c.MetricsAddr != "" {
		ms, err := serveMetrics(c.MetricsAddr, srv, log, errc)
		if err != nil {
			return err
		}
		defer ms.Close()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// checkCareRecordMap checks at start that SIGNPOST_CARE_RECORD_CONCEPTMAP
// names a usable ConceptMap. One that is not stored yet is a single
// warning, not a failure: ConceptMaps are stored through this gateway's
// API, so on a new database it can only be stored once the gateway runs
// (decisions say the need group is unavailable until then). One that
// cannot be the map (ambiguous, unreadable, mapping nothing to a need
// group) stops start-up with a one-line error.
func checkCareRecordMap(ctx context.Context, record *carerecord.Client, name string, log *slog.Logger) error {
	err := record.CheckConceptMap(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, carerecord.ErrNoConceptMap):
		log.Warn("SIGNPOST_CARE_RECORD_CONCEPTMAP names a ConceptMap not stored in this gateway yet: until it is stored (PUT /fhir/ConceptMap/[id]), every decision says the need group is unavailable",
			"conceptmap", name, "error", err.Error())
		return nil
	case errors.Is(err, carerecord.ErrBadConceptMap):
		return usageErr("SIGNPOST_CARE_RECORD_CONCEPTMAP %q: %v", name, err)
	}
	return fmt.Errorf("checking SIGNPOST_CARE_RECORD_CONCEPTMAP: %w", err)
}

// siteRoot is the URL the gateway's pages are under: the public FHIR
// base without its /fhir, else the address listened on.
func siteRoot(public, addr string) string {
	if public != "" {
		if root, ok := strings.CutSuffix(public, "/fhir"); ok {
			return root
		}
		if u, err := url.Parse(public); err == nil {
			return u.Scheme + "://" + u.Host
		}
	}
	return "http://" + addr
}

// serveMetrics serves GET /metrics alone on addr, for the Prometheus
// scraper; a failure of the listener after start goes to errc.
func serveMetrics(addr string, srv *gateway.Server, log *slog.Logger, errc chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (metrics): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", srv.MetricsHandler())
	ms := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	log.Info("metrics listening", "url", "http://"+ln.Addr().String()+"/metrics")
	go func() {
		if err := ms.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("metrics: %w", err)
		}
	}()
	return ms, nil
}

// newVerifier builds the token verifier of the configured issuers. An
// issuer that is down does not stop start-up (auth.NewVerifier
// retries it when a token names it); a configuration the verifier refuses
// is a usage error.
func newVerifier(ctx context.Context, c config, log *slog.Logger) (*auth.Verifier, error) {
	v, err := auth.NewVerifier(ctx, auth.Config{
		Issuers:  c.OIDCIssuers,
		Audience: c.OIDCAudience,
		Claims:   c.Claims,
		Logger:   log,
	})
	if err != nil {
		return nil, usageErr("%v", err)
	}
	if err := v.Ready(); err != nil {
		log.Warn("some OIDC issuers are not reachable yet; their tokens get 503 until they are", "error", err.Error())
	}
	return v, nil
}

// setUpTerminology loads the SNOMED CT concepts (shipped, or a deployment's
// RF2 subset), seeds the shipped CodeSystems, ValueSets and ConceptMap into
// the store (keeping an administrator's edits) and serves the terminology
// operations.
func setUpTerminology(ctx context.Context, c config, st store.Store, srv *gateway.Server, log *slog.Logger) (*snomed.Terminology, error) {
	concepts, err := snomed.Shipped()
	if c.SnomedRF2Dir != "" {
		concepts, err = snomed.LoadRF2(c.SnomedRF2Dir, snomed.RF2Options{Version: c.SnomedVersion})
	}
	if err != nil {
		return nil, fmt.Errorf("load SNOMED CT: %w", err)
	}
	term, err := snomed.New(concepts, snomed.Options{Base: c.CanonicalBase})
	if err != nil {
		return nil, usageErr("%v", err)
	}
	if missing := term.MissingCodes(); len(missing) > 0 {
		log.Warn("shipped value sets use SNOMED CT codes the loaded release lacks", "count", len(missing), "codes", missing)
	}
	seeded, err := term.Seed(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("seed terminology resources: %w", err)
	}
	srv.NoteSeeded(ctx, "terminology resource", seeded)
	srv.RegisterTerminology(term)
	return term, nil
}
