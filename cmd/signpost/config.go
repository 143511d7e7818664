package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/internal/cli"
	"github.com/signpost-fhir/signpost/internal/sealed"
)

// config is everything the gateway is told at start-up. Each field comes
// from an environment variable, which a flag of the same meaning
// overrides; secrets also have a _FILE variant.
type config struct {
	Addr         string
	DataDir      string
	DatabaseURL  string
	PublicURL    string
	MaxBodyBytes int64
	// MaxBundleEntries bounds the entries of one batch or transaction.
	MaxBundleEntries int
	RequestTimeout   time.Duration
	ShutdownTimeout  time.Duration
	LogLevel         slog.Level
	LogFormat        string
	// CanonicalBase is the base of the local code systems' URLs.
	CanonicalBase string
	// SnomedRF2Dir, when set, replaces the shipped SNOMED CT subset with
	// a deployment's RF2 Snapshot subset.
	SnomedRF2Dir  string
	SnomedVersion string
	// RepeatWindow is how far back earlier contacts about the same
	// problem count towards safety rule 2.
	RepeatWindow time.Duration
	// DemoDir is the folder of demonstration content (the Y99999
	// protocol, a directory, patients) seeded at start; empty seeds none.
	DemoDir string
	// DemoHistory is "auto", "on" or "off": whether the demo history of
	// navigations is seeded with the demo content (demo.go).
	DemoHistory string
	// DemoBaRS is the demo Pharmacy First's BaRS receiver in development
	// mode: "accept", "turn-away" or "off".
	DemoBaRS string
	// CareRecord is the shared care record the need group is pulled
	// from; its URL empty: the stored need-group Observations only.
	CareRecord careRecordConfig

	// OIDCIssuers are the trusted token issuers; none is development
	// mode (loopback only, every caller a developer with full access).
	OIDCIssuers  []string
	OIDCAudience string
	// Claims overrides the claim names read from tokens.
	Claims auth.ClaimNames
	// ReadTimeout, WriteTimeout and IdleTimeout bound each connection of
	// the HTTP server (slow clients cannot hold it for ever).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
	// RateLimit is each client's sustained requests per second (0: no
	// limit) and RateBurst how many it may send at once.
	RateLimit float64
	RateBurst int
	// DeliveryWorkers deliver outcomes to clinical systems (0: none in
	// this process; another process sharing the database delivers);
	// DeliveryMaxAttempts is the attempt limit before a dead letter and
	// DeliveryTimeout bounds one attempt.
	DeliveryWorkers     int
	DeliveryMaxAttempts int
	DeliveryTimeout     time.Duration
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed.
	TrustedProxies []string
	// MetricsAddr, when set, is a listen address of its own serving only
	// GET /metrics (Prometheus), for a scraper on a network API clients
	// do not reach. Development mode also serves /metrics on Addr.
	MetricsAddr string
	// SubscriptionEndpoints is the outbound allow-list: the URLs
	// rest-hook Subscriptions may notify and Endpoint addresses may name
	// (SIGNPOST_OUTBOUND_ENDPOINTS, or its former name
	// SIGNPOST_SUBSCRIPTION_ENDPOINTS), else loopback in development mode
	// and none with an issuer.
	SubscriptionEndpoints gateway.SubscriptionEndpoints
	// SecretsKey seals Endpoint and Subscription header values at rest
	// (SIGNPOST_SECRETS_KEY or SIGNPOST_SECRETS_KEY_FILE: 32 bytes as
	// base64 or hex). Nil: the store's own generated key.
	SecretsKey []byte
}

// Defaults of the rate limit with an issuer configured: generous for one
// client (a directory sync, a practice's integration), low enough that a
// runaway loop or a token-guessing script is slowed to a crawl.
const (
	defaultRateLimit = "100"
	defaultRateBurst = "200"
)

// errUsage marks configuration errors: one line on stderr, exit code 2.
var errUsage = cli.ErrUsage

func usageErr(format string, args ...any) error { return cli.Usage(format, args...) }

// loadConfig reads the environment, then the flags in args.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("signpost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", env("SIGNPOST_ADDR", "127.0.0.1:8080"), "listen address (SIGNPOST_ADDR)")
	data := fs.String("data", env("SIGNPOST_DATA", "./data"), "folder of the embedded store (SIGNPOST_DATA)")
	dbURL := fs.String("database-url", "", "postgres:// URL; switches to PostgreSQL (DATABASE_URL, DATABASE_URL_FILE)")
	public := fs.String("public-url", env("SIGNPOST_PUBLIC_URL", ""), "FHIR base URL as clients see it (SIGNPOST_PUBLIC_URL); default derived from each request")
	maxBody := fs.String("max-body-bytes", env("SIGNPOST_MAX_BODY_BYTES", "10485760"), "largest request body accepted (SIGNPOST_MAX_BODY_BYTES)")
	maxEntries := fs.String("max-bundle-entries", env("SIGNPOST_MAX_BUNDLE_ENTRIES", "1000"), "most entries of one batch or transaction (SIGNPOST_MAX_BUNDLE_ENTRIES)")
	reqTimeout := fs.String("request-timeout", env("SIGNPOST_REQUEST_TIMEOUT", "30s"), "deadline of every request (SIGNPOST_REQUEST_TIMEOUT)")
	deliveryWorkers := fs.String("delivery-workers", env("SIGNPOST_DELIVERY_WORKERS", strconv.Itoa(clinicalsystem.DefaultWorkers)), "outcome delivery workers in this process, 0 for none (SIGNPOST_DELIVERY_WORKERS)")
	deliveryAttempts := fs.String("delivery-max-attempts", env("SIGNPOST_DELIVERY_MAX_ATTEMPTS", strconv.Itoa(store.DefaultBackoff.MaxAttempts)), "attempts before an outcome delivery is a dead letter (SIGNPOST_DELIVERY_MAX_ATTEMPTS)")
	deliveryTimeout := fs.String("delivery-timeout", env("SIGNPOST_DELIVERY_TIMEOUT", "10s"), "deadline of one delivery attempt (SIGNPOST_DELIVERY_TIMEOUT)")
	shutTimeout := fs.String("shutdown-timeout", env("SIGNPOST_SHUTDOWN_TIMEOUT", "20s"), "time in-flight requests get to finish on SIGTERM (SIGNPOST_SHUTDOWN_TIMEOUT)")
	level := fs.String("log-level", env("SIGNPOST_LOG_LEVEL", "info"), "debug, info, warn or error (SIGNPOST_LOG_LEVEL)")
	format := fs.String("log-format", env("SIGNPOST_LOG_FORMAT", "json"), "json or text (SIGNPOST_LOG_FORMAT)")
	canonical := fs.String("canonical-base", env("SIGNPOST_CANONICAL_BASE", "https://signpost.example/fhir"), "base URL of the local code systems (SIGNPOST_CANONICAL_BASE)")
	rf2 := fs.String("snomed-rf2", env("SIGNPOST_SNOMED_RF2", ""), "folder of an RF2 Snapshot subset replacing the shipped SNOMED CT concepts (SIGNPOST_SNOMED_RF2)")
	sctVersion := fs.String("snomed-version", env("SIGNPOST_SNOMED_VERSION", ""), "edition/version URI of that RF2 subset (SIGNPOST_SNOMED_VERSION)")
	issuers := fs.String("oidc-issuer", env("SIGNPOST_OIDC_ISSUER", ""), "trusted OIDC issuer URL(s), comma-separated (SIGNPOST_OIDC_ISSUER); empty: development mode, loopback only")
	audience := fs.String("oidc-audience", env("SIGNPOST_OIDC_AUDIENCE", ""), "audience every token must carry (SIGNPOST_OIDC_AUDIENCE); required with an issuer")
	claimScope := fs.String("claim-scope", env("SIGNPOST_CLAIM_SCOPE", ""), "claim holding the SMART scopes (SIGNPOST_CLAIM_SCOPE; default scope)")
	claimODS := fs.String("claim-ods", env("SIGNPOST_CLAIM_ODS", ""), "claim holding the practice ODS code(s) (SIGNPOST_CLAIM_ODS; default ods)")
	claimTier := fs.String("claim-tier", env("SIGNPOST_CLAIM_TIER", ""), "claim holding the navigator tier (SIGNPOST_CLAIM_TIER; default tier)")
	claimRole := fs.String("claim-role", env("SIGNPOST_CLAIM_ROLE", ""), "claim holding the roles (SIGNPOST_CLAIM_ROLE; default role)")
	claimPublisher := fs.String("claim-publisher", env("SIGNPOST_CLAIM_PUBLISHER", ""), "claim holding the directory publisher scope (SIGNPOST_CLAIM_PUBLISHER; default publisher)")
	claimClient := fs.String("claim-client-id", env("SIGNPOST_CLAIM_CLIENT_ID", ""), "claim holding the OAuth client id (SIGNPOST_CLAIM_CLIENT_ID; default client_id, else azp)")
	readTimeout := fs.String("read-timeout", env("SIGNPOST_READ_TIMEOUT", "30s"), "longest time to read a request, body included (SIGNPOST_READ_TIMEOUT)")
	writeTimeout := fs.String("write-timeout", env("SIGNPOST_WRITE_TIMEOUT", "60s"), "longest time from the end of the request headers to the end of the response (SIGNPOST_WRITE_TIMEOUT); more than the request timeout")
	idleTimeout := fs.String("idle-timeout", env("SIGNPOST_IDLE_TIMEOUT", "120s"), "how long an idle keep-alive connection is kept (SIGNPOST_IDLE_TIMEOUT)")
	rateLimit := fs.String("rate-limit", env("SIGNPOST_RATE_LIMIT", ""), "requests per second per client, 0 for none (SIGNPOST_RATE_LIMIT; default "+defaultRateLimit+", none in development mode)")
	rateBurst := fs.String("rate-burst", env("SIGNPOST_RATE_BURST", defaultRateBurst), "requests a client may send at once (SIGNPOST_RATE_BURST)")
	proxies := fs.String("trusted-proxies", env("SIGNPOST_TRUSTED_PROXIES", ""), "comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For is believed (SIGNPOST_TRUSTED_PROXIES)")
	repeatWindow := fs.String("repeat-window", env("SIGNPOST_REPEAT_WINDOW", "672h"), "how far back earlier contacts about the same problem count (SIGNPOST_REPEAT_WINDOW)")
	demoDir := fs.String("demo-dir", env("SIGNPOST_DEMO_DIR", "auto"), "demonstration content to seed: a folder, \"none\", or \"auto\" = testdata/protocols in development mode (SIGNPOST_DEMO_DIR)")
	demoHistory := fs.String("demo-history", env("SIGNPOST_DEMO_HISTORY", "auto"), "demo history of navigations for the dashboard: auto (with the default demo content in development mode), on or off (SIGNPOST_DEMO_HISTORY)")
	demoBaRS := fs.String("demo-bars", env("SIGNPOST_DEMO_BARS", "accept"), "in development mode with the demo content, the demo Pharmacy First's BaRS receiver answers each referral: accept, turn-away, or off for no receiver (SIGNPOST_DEMO_BARS)")
	metricsAddr := fs.String("metrics-addr", env("SIGNPOST_METRICS_ADDR", ""), "listen address serving only GET /metrics, for the Prometheus scraper (SIGNPOST_METRICS_ADDR); empty: none (development mode serves /metrics on the API address)")
	subEndpoints := fs.String("subscription-endpoints", env("SIGNPOST_SUBSCRIPTION_ENDPOINTS", ""), "the former name of -outbound-endpoints (SIGNPOST_SUBSCRIPTION_ENDPOINTS), still honoured")
	outEndpoints := fs.String("outbound-endpoints", env("SIGNPOST_OUTBOUND_ENDPOINTS", ""), "comma-separated URL prefixes the gateway may send to (rest-hook Subscription endpoints, Endpoint addresses), https unless loopback, or \"none\" (SIGNPOST_OUTBOUND_ENDPOINTS, formerly SIGNPOST_SUBSCRIPTION_ENDPOINTS); default: loopback in development mode, none with an issuer")
	careRecord := careRecordFlags(fs, env)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: signpost [serve] [flags]\n\nflags (each also read from the environment variable it names):")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config{}, errHelp
		}
		return config{}, usageErr("%v", err)
	}
	if fs.NArg() > 0 {
		return config{}, usageErr("unexpected argument %q", fs.Arg(0))
	}
	var c config
	c.Addr = *addr
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		return c, usageErr("SIGNPOST_ADDR %q is not host:port", c.Addr)
	}
	c.DataDir = *data
	if strings.TrimSpace(c.DataDir) == "" {
		return c, usageErr("SIGNPOST_DATA is empty")
	}
	var err error
	if c.DatabaseURL, err = secret(*dbURL, "DATABASE_URL", getenv); err != nil {
		return c, err
	}
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			// Never echo the URL: it may hold a password.
			return c, usageErr("DATABASE_URL must be a postgres:// or postgresql:// URL")
		}
	}
	c.PublicURL = strings.TrimRight(*public, "/")
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, usageErr("SIGNPOST_PUBLIC_URL %q is not an http(s) URL", c.PublicURL)
		}
	}
	if c.MaxBodyBytes, err = strconv.ParseInt(*maxBody, 10, 64); err != nil || c.MaxBodyBytes < 1024 {
		return c, usageErr("SIGNPOST_MAX_BODY_BYTES %q must be an integer of at least 1024", *maxBody)
	}
	if c.MaxBundleEntries, err = strconv.Atoi(*maxEntries); err != nil || c.MaxBundleEntries < 1 {
		return c, usageErr("SIGNPOST_MAX_BUNDLE_ENTRIES %q must be a positive integer", *maxEntries)
	}
	if c.RequestTimeout, err = positiveDuration("SIGNPOST_REQUEST_TIMEOUT", *reqTimeout); err != nil {
		return c, err
	}
	if c.ShutdownTimeout, err = positiveDuration("SIGNPOST_SHUTDOWN_TIMEOUT", *shutTimeout); err != nil {
		return c, err
	}
	if c.DeliveryWorkers, err = strconv.Atoi(*deliveryWorkers); err != nil || c.DeliveryWorkers < 0 {
		return c, usageErr("SIGNPOST_DELIVERY_WORKERS %q must be a whole number, 0 or more", *deliveryWorkers)
	}
	if c.DeliveryMaxAttempts, err = strconv.Atoi(*deliveryAttempts); err != nil || c.DeliveryMaxAttempts < 1 {
		return c, usageErr("SIGNPOST_DELIVERY_MAX_ATTEMPTS %q must be a whole number, 1 or more", *deliveryAttempts)
	}
	if c.DeliveryTimeout, err = positiveDuration("SIGNPOST_DELIVERY_TIMEOUT", *deliveryTimeout); err != nil {
		return c, err
	}
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return c, usageErr("SIGNPOST_LOG_LEVEL %q must be debug, info, warn or error", *level)
	}
	c.CanonicalBase = strings.TrimRight(*canonical, "/")
	if u, err := url.Parse(c.CanonicalBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, usageErr("SIGNPOST_CANONICAL_BASE %q is not an http(s) URL", c.CanonicalBase)
	}
	c.SnomedRF2Dir, c.SnomedVersion = *rf2, *sctVersion
	if c.SnomedRF2Dir != "" {
		if fi, err := os.Stat(c.SnomedRF2Dir); err != nil || !fi.IsDir() {
			return c, usageErr("SIGNPOST_SNOMED_RF2 %q is not a folder", c.SnomedRF2Dir)
		}
	}
	c.LogFormat = *format
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return c, usageErr("SIGNPOST_LOG_FORMAT %q must be json or text", c.LogFormat)
	}
	c.OIDCIssuers = auth.SplitIssuers(*issuers)
	c.OIDCAudience = strings.TrimSpace(*audience)
	c.Claims = auth.ClaimNames{Scope: *claimScope, ODS: *claimODS, Tier: *claimTier, Role: *claimRole, Publisher: *claimPublisher, ClientID: *claimClient}
	if len(c.OIDCIssuers) > 0 && c.OIDCAudience == "" {
		return c, usageErr("SIGNPOST_OIDC_AUDIENCE is required with SIGNPOST_OIDC_ISSUER (the aud tokens for this gateway carry, typically its FHIR base URL)")
	}
	if len(c.OIDCIssuers) == 0 && c.OIDCAudience != "" {
		return c, usageErr("SIGNPOST_OIDC_AUDIENCE is set but SIGNPOST_OIDC_ISSUER is not")
	}
	if len(c.OIDCIssuers) == 0 {
		if host, _, _ := net.SplitHostPort(c.Addr); !isLoopbackHost(host) {
			return c, usageErr("no SIGNPOST_OIDC_ISSUER: development mode (every caller has full access) listens on loopback only, not on %q; configure an issuer or listen on 127.0.0.1", c.Addr)
		}
	}
	if c.RepeatWindow, err = positiveDuration("SIGNPOST_REPEAT_WINDOW", *repeatWindow); err != nil {
		return c, err
	}
	if c.CareRecord, err = careRecord.load(getenv); err != nil {
		return c, err
	}
	switch *demoDir {
	case "none", "":
	case "auto":
		// The README's run command shows the demo practice; a deployment
		// with an issuer never seeds demonstration data unasked.
		if fi, err := os.Stat("testdata/protocols"); len(c.OIDCIssuers) == 0 && err == nil && fi.IsDir() {
			c.DemoDir = "testdata/protocols"
		}
	default:
		if fi, err := os.Stat(*demoDir); err != nil || !fi.IsDir() {
			return c, usageErr("SIGNPOST_DEMO_DIR %q is not a folder", *demoDir)
		}
		c.DemoDir = *demoDir
	}
	switch c.DemoHistory = strings.TrimSpace(*demoHistory); c.DemoHistory {
	case "":
		c.DemoHistory = "auto"
	case "auto", "on", "off":
	default:
		return c, usageErr("SIGNPOST_DEMO_HISTORY %q: want auto, on or off", *demoHistory)
	}
	switch c.DemoBaRS = strings.TrimSpace(*demoBaRS); c.DemoBaRS {
	case "":
		c.DemoBaRS = "accept"
	case "accept", "turn-away", "off":
	default:
		return c, usageErr("SIGNPOST_DEMO_BARS %q: want accept, turn-away or off", *demoBaRS)
	}
	if c.ReadTimeout, err = positiveDuration("SIGNPOST_READ_TIMEOUT", *readTimeout); err != nil {
		return c, err
	}
	if c.WriteTimeout, err = positiveDuration("SIGNPOST_WRITE_TIMEOUT", *writeTimeout); err != nil {
		return c, err
	}
	if c.WriteTimeout <= c.RequestTimeout {
		return c, usageErr("SIGNPOST_WRITE_TIMEOUT (%s) must be longer than SIGNPOST_REQUEST_TIMEOUT (%s), or answers to slow requests are cut off", c.WriteTimeout, c.RequestTimeout)
	}
	if c.IdleTimeout, err = positiveDuration("SIGNPOST_IDLE_TIMEOUT", *idleTimeout); err != nil {
		return c, err
	}
	limit := *rateLimit
	if limit == "" {
		limit = "0" // development mode: one local developer, or a bench
		if len(c.OIDCIssuers) > 0 {
			limit = defaultRateLimit
		}
	}
	if c.RateLimit, err = strconv.ParseFloat(limit, 64); err != nil || c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) {
		return c, usageErr("SIGNPOST_RATE_LIMIT %q must be a number of requests per second, 0 for no limit", limit)
	}
	if c.RateBurst, err = strconv.Atoi(*rateBurst); err != nil || c.RateBurst < 1 {
		return c, usageErr("SIGNPOST_RATE_BURST %q must be a positive integer", *rateBurst)
	}
	if c.MetricsAddr = *metricsAddr; c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" {
			return c, usageErr("SIGNPOST_METRICS_ADDR %q is not host:port", c.MetricsAddr)
		}
		if c.MetricsAddr == c.Addr {
			return c, usageErr("SIGNPOST_METRICS_ADDR must differ from SIGNPOST_ADDR")
		}
	}
	list, setting := strings.TrimSpace(*outEndpoints), "SIGNPOST_OUTBOUND_ENDPOINTS"
	if old := strings.TrimSpace(*subEndpoints); list == "" {
		list, setting = old, "SIGNPOST_SUBSCRIPTION_ENDPOINTS"
	} else if old != "" && old != list {
		// Two lists would leave which one holds to chance.
		return c, usageErr("SIGNPOST_OUTBOUND_ENDPOINTS and SIGNPOST_SUBSCRIPTION_ENDPOINTS (its former name) differ: set one")
	}
	switch {
	case list == "none":
	case list != "":
		if c.SubscriptionEndpoints, err = gateway.ParseSubscriptionEndpoints(list); err != nil {
			return c, usageErr("%s: %v", setting, err)
		}
	case len(c.OIDCIssuers) == 0:
		c.SubscriptionEndpoints = gateway.LoopbackSubscriptionEndpoints()
	}
	key, err := secret("", "SIGNPOST_SECRETS_KEY", getenv)
	if err != nil {
		return c, err
	}
	if key != "" {
		if c.SecretsKey, err = sealed.ParseKey(key); err != nil {
			return c, usageErr("SIGNPOST_SECRETS_KEY: %v", err)
		}
	}
	for _, p := range strings.Split(*proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				return c, usageErr("SIGNPOST_TRUSTED_PROXIES: %q is not an IP address or CIDR", p)
			}
		}
		c.TrustedProxies = append(c.TrustedProxies, p)
	}
	return c, nil
}

// isLoopbackHost reports whether a listen host is loopback only: a
// loopback IP or "localhost". An empty host listens on every interface.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// secret reads a flag value, else NAME, else the file NAME_FILE names.
func secret(flagValue, name string, getenv func(string) string) (string, error) {
	return cli.Secret(flagValue, name, getenv)
}

// validConceptMapRef tells whether s can name a ConceptMap: an id, or an
// absolute http(s) URL, optionally with |version.
func validConceptMapRef(s string) bool {
	if !strings.Contains(s, "/") {
		return fhir.ValidID(s)
	}
	u, _, _ := strings.Cut(s, "|")
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != ""
}

func positiveDuration(name, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, usageErr("%s %q must be a positive duration such as 30s", name, v)
	}
	return d, nil
}

// careRecordConfig configures the shared care record client
// (gateway/carerecord); secrets come from the environment or _FILE only.
type careRecordConfig struct {
	URL                              string
	Token                            string
	TokenURL, ClientID, ClientSecret string
	Scope, Query, ConceptMap         string
	MaxAge, Timeout                  time.Duration
	// MaxAgeSet tells whether SIGNPOST_NEED_GROUP_MAX_AGE was given: it
	// then also bounds the stored need groups without a care record.
	MaxAgeSet bool
}

type careRecordFlagValues struct {
	url, tokenURL, clientID, scope, query, conceptMap, maxAge, timeout *string
}

func careRecordFlags(fs *flag.FlagSet, env func(k, def string) string) careRecordFlagValues {
	return careRecordFlagValues{
		url:        fs.String("care-record-url", env("SIGNPOST_CARE_RECORD_URL", ""), "FHIR base URL of the shared care record the need group is pulled from (SIGNPOST_CARE_RECORD_URL); empty: stored need groups only"),
		tokenURL:   fs.String("care-record-token-url", env("SIGNPOST_CARE_RECORD_TOKEN_URL", ""), "OAuth2 token endpoint of the client-credentials grant (SIGNPOST_CARE_RECORD_TOKEN_URL)"),
		clientID:   fs.String("care-record-client-id", env("SIGNPOST_CARE_RECORD_CLIENT_ID", ""), "OAuth2 client id (SIGNPOST_CARE_RECORD_CLIENT_ID)"),
		scope:      fs.String("care-record-scope", env("SIGNPOST_CARE_RECORD_SCOPE", ""), "OAuth2 scope asked for (SIGNPOST_CARE_RECORD_SCOPE)"),
		query:      fs.String("care-record-query", env("SIGNPOST_CARE_RECORD_QUERY", ""), "search relative to the record's base, {nhs} standing for the NHS number (SIGNPOST_CARE_RECORD_QUERY)"),
		conceptMap: fs.String("care-record-conceptmap", env("SIGNPOST_CARE_RECORD_CONCEPTMAP", ""), "ConceptMap (canonical URL or id in the store) from the record's codes to patient-need-group (SIGNPOST_CARE_RECORD_CONCEPTMAP)"),
		maxAge:     fs.String("need-group-max-age", env("SIGNPOST_NEED_GROUP_MAX_AGE", ""), "age at which a cached need group is pulled again (SIGNPOST_NEED_GROUP_MAX_AGE; default 24h with a care record, else the stored need group's 8760h)"),
		timeout:    fs.String("care-record-timeout", env("SIGNPOST_CARE_RECORD_TIMEOUT", "2s"), "bound of one need-group lookup, retries included (SIGNPOST_CARE_RECORD_TIMEOUT)"),
	}
}

func (f careRecordFlagValues) load(getenv func(string) string) (careRecordConfig, error) {
	cr := careRecordConfig{URL: strings.TrimRight(*f.url, "/"), TokenURL: *f.tokenURL, ClientID: *f.clientID,
		Scope: *f.scope, Query: *f.query, ConceptMap: *f.conceptMap}
	var err error
	if *f.maxAge != "" {
		if cr.MaxAge, err = positiveDuration("SIGNPOST_NEED_GROUP_MAX_AGE", *f.maxAge); err != nil {
			return cr, err
		}
		cr.MaxAgeSet = true
	}
	if cr.Timeout, err = positiveDuration("SIGNPOST_CARE_RECORD_TIMEOUT", *f.timeout); err != nil {
		return cr, err
	}
	if cr.Token, err = secret("", "SIGNPOST_CARE_RECORD_TOKEN", getenv); err != nil {
		return cr, err
	}
	if cr.ClientSecret, err = secret("", "SIGNPOST_CARE_RECORD_CLIENT_SECRET", getenv); err != nil {
		return cr, err
	}
	if cr.URL == "" {
		return cr, nil
	}
	for name, v := range map[string]string{"SIGNPOST_CARE_RECORD_URL": cr.URL, "SIGNPOST_CARE_RECORD_TOKEN_URL": cr.TokenURL} {
		if u, err := url.Parse(v); v != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			return cr, usageErr("%s %q is not an http(s) URL", name, v)
		}
	}
	switch {
	case cr.ConceptMap == "":
		return cr, usageErr("SIGNPOST_CARE_RECORD_CONCEPTMAP is required with SIGNPOST_CARE_RECORD_URL (the map from the record's codes to patient-need-group)")
	case cr.Token != "" && cr.TokenURL != "":
		return cr, usageErr("set SIGNPOST_CARE_RECORD_TOKEN or SIGNPOST_CARE_RECORD_TOKEN_URL, not both")
	case cr.TokenURL != "" && (cr.ClientID == "" || cr.ClientSecret == ""):
		return cr, usageErr("SIGNPOST_CARE_RECORD_TOKEN_URL needs SIGNPOST_CARE_RECORD_CLIENT_ID and SIGNPOST_CARE_RECORD_CLIENT_SECRET")
	case cr.Query != "" && !strings.Contains(cr.Query, "{nhs}"):
		return cr, usageErr("SIGNPOST_CARE_RECORD_QUERY %q has no {nhs} placeholder", cr.Query)
	case !validConceptMapRef(cr.ConceptMap):
		return cr, usageErr("SIGNPOST_CARE_RECORD_CONCEPTMAP %q is neither the id of a ConceptMap nor its canonical URL (http(s)://…, optionally |version)", cr.ConceptMap)
	}
	return cr, nil
}
