package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/signpost-fhir/signpost/audit"
	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/bars"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/interaction"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/negotiate"
	"github.com/signpost-fhir/signpost/gateway/ratelimit"
	"github.com/signpost-fhir/signpost/gateway/requestid"
	"github.com/signpost-fhir/signpost/internal/sealed"
	"github.com/signpost-fhir/signpost/secrets"
	"github.com/signpost-fhir/signpost/snomed"
	"github.com/signpost-fhir/signpost/subscriptions"
	"github.com/signpost-fhir/signpost/tenancy"
)

// Options configures a Server. Zero values take the documented defaults.
type Options struct {
	Store  store.Store
	Logger *slog.Logger
	// Secrets seals the header values of Endpoints and Subscriptions at
	// rest (package secrets): by default with the store's own key, when the
	// store keeps one (both stores do).
	Secrets *sealed.Source
	// Registry defaults to DefaultRegistry().
	Registry *Registry
	// PublicBase is the FHIR base URL clients see (for Location and
	// fullUrl), e.g. https://signpost.nhs.example/fhir. Empty: derived
	// from each request's Host.
	PublicBase string
	// MaxBodyBytes bounds request bodies (413 beyond). Default 10 MiB.
	MaxBodyBytes int64
	// RequestTimeout is every request's deadline. Default 30 s.
	RequestTimeout time.Duration
	// MaxBundleEntries bounds the entries of a batch or transaction
	// Bundle (413 beyond). Default 1000.
	MaxBundleEntries int
	// MaxHeaderBytes bounds the request line and header fields (431
	// OperationOutcome beyond). Default DefaultMaxHeaderBytes; serve with
	// http.Server.MaxHeaderBytes at least HTTPMaxHeaderBytes().
	MaxHeaderBytes int
	// Version is the software version the CapabilityStatement names.
	Version string
	// Now is the clock for the CapabilityStatement date and AuditEvents;
	// default time.Now.
	Now func() time.Time
	// Verifier checks bearer tokens (an *auth.Verifier). Nil is
	// development mode: every caller is auth.DevPrincipal(), tokens are
	// not read. cmd/signpost allows that on loopback only.
	Verifier TokenVerifier
	// CanonicalBase is the base of Signpost's local code systems; the
	// practice security label is <CanonicalBase>/CodeSystem/practice.
	// Default https://signpost.example/fhir.
	CanonicalBase string
	// RateLimit is each client's sustained request rate per second, and
	// RateBurst the requests it may make at once (default: RateLimit,
	// rounded up). Zero or less: no limit.
	RateLimit float64
	RateBurst int
	// TrustedProxies are the addresses (IPs or CIDRs) of reverse proxies
	// whose X-Forwarded-For is believed for the client's IP (audit and
	// rate limiting). Empty: none; the TCP peer is the client.
	TrustedProxies []string
	// ServeMetrics serves GET /metrics (Prometheus) on Handler, without
	// authentication. Off, the metrics are served only where the caller
	// mounts MetricsHandler (cmd/signpost: SIGNPOST_METRICS_ADDR).
	ServeMetrics bool
}

// Server serves the FHIR REST API.
type Server struct {
	// closers are run by Close, last registered first (close.go).
	closers   []func()
	closeOnce sync.Once
	// subsCache is the active Subscriptions by practice (subscriptions.go).
	subsCache subscriptions.Active
	opts      Options
	pages     []page
	store     store.Store
	log       *slog.Logger
	registry  *Registry
	started   time.Time
	ops       map[opKey]Operation
	// audits builds and stores AuditEvents, those of reads in groups
	// (audit.go).
	audits *audit.Recorder
	// writeChecks run on every write, by resource type (validate.go).
	writeChecks interaction.WriteChecks
	// tenancy is practice tenancy and the delete checks, over every
	// interaction's store.Tx (tenancy.go).
	tenancy *tenancy.Guard
	// practiceLabels are the practice labels under the canonical base,
	// built once (tenancy.go).
	practiceLabels tenancy.Labels
	verifier       TokenVerifier
	limiter        *ratelimit.Limiter
	// outbox, once RegisterDelivery is called, receives every committed
	// navigation decision (see delivery.go).
	outbox store.Outbox
	// odsUnique makes an ODS code name one Organization
	// (tenancy/directoryclaims.go): set with delivery, which resolves a
	// practice by it.
	odsUnique bool
	// subscriptionEndpoints is the rest-hook allow-list set by
	// SetSubscriptionEndpoints; nil: loopback only (subscription_endpoints.go).
	subscriptionEndpoints *SubscriptionEndpoints
	// metrics are the Prometheus metrics (metrics.go).
	metrics *Metrics
	// customSearches serve search parameters beyond R4's, by type
	// (search.go).
	customSearches map[string]*customSearch
	// seeded counts what start-up seeding did (seeded.go).
	seeded seedTally
	// demoInbox is the demo clinical system, served in development mode
	// only (demo.go).
	demoInbox *demoInbox
	// terminology expands the value sets of :in and :not-in searches
	// (tokensets.go); set by RegisterTerminology.
	terminology *snomed.Terminology
	// demoBaRS is the demo Pharmacy First's BaRS receiver (demo.go),
	// development mode only.
	demoBaRS *bars.Demo
	// opDefs are the generated OperationDefinitions of the registered
	// operations, by id (operation.go); set by Handler.
	opDefs map[string][]byte
	// capabilityCache holds the last generated CapabilityStatement and
	// its base URL (capability.go): with every R4 type served it is half
	// a megabyte that does not change once Handler has run. One entry
	// only, since the base follows the request's Host without PublicBase.
	capabilityCache atomic.Pointer[cachedCapability]
}

// New builds a Server; it panics only on a programming error (no store).
func New(opts Options) *Server {
	if opts.Store == nil {
		panic("gateway: Options.Store is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = DefaultRegistry()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 10 << 20
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 30 * time.Second
	}
	if opts.MaxBundleEntries <= 0 {
		opts.MaxBundleEntries = 1000
	}
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CanonicalBase == "" {
		opts.CanonicalBase = DefaultCanonicalBase
	}
	opts.CanonicalBase = strings.TrimRight(opts.CanonicalBase, "/")
	opts.PublicBase = strings.TrimRight(opts.PublicBase, "/")
	if v, ok := opts.Verifier.(*auth.Verifier); ok && v == nil {
		opts.Verifier = nil // a typed nil is development mode too
	}
	// Log lines written with a request's context name its request id.
	opts.Logger = slog.New(requestid.NewLogHandler(opts.Logger.Handler()))
	if ks, ok := opts.Store.(sealed.KeyStore); ok && opts.Secrets == nil {
		opts.Secrets = sealed.FromStore(ks)
	}
	if opts.Secrets != nil {
		// Read now: the first use would otherwise be inside a write's
		// transaction, which on the embedded store holds its only writer.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := opts.Secrets.Box(ctx); err != nil {
			opts.Logger.Error("the secrets key cannot be read yet: writes of Endpoint and Subscription headers will fail until it can", slog.String("error", err.Error()))
		}
		cancel()
	}
	s := &Server{opts: opts, store: opts.Store, log: opts.Logger, registry: opts.Registry, started: opts.Now(),
		verifier: opts.Verifier, limiter: ratelimit.New(opts.RateLimit, opts.RateBurst), writeChecks: interaction.WriteChecks{}}
	s.metrics = newMetrics(s)
	s.practiceLabels = tenancy.NewLabels(opts.CanonicalBase)
	s.tenancy = s.newTenancy()
	s.audits = s.newAuditor()
	s.registerConfigurationChecks()
	return s
}

// DefaultCanonicalBase is the canonical base of the local code systems
// when Options leaves it empty (NAVIGATION-API.md).
const DefaultCanonicalBase = "https://signpost.example/fhir"

// DevelopmentMode reports whether the server runs without a token
// verifier (every caller is the developer).
func (s *Server) DevelopmentMode() bool { return s.verifier == nil }

// Handler is the http.Handler of the whole gateway.
func (s *Server) Handler() http.Handler {
	s.opDefs = s.operationDefinitions()
	if len(s.opDefs) > 0 && !s.registry.Serves("OperationDefinition") {
		// The definitions the CapabilityStatement names can be read.
		s.registry.Serve("OperationDefinition", Read)
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.HandleMethodNotAllowed = false
	e.ContextWithFallback = true
	// Without trusted proxies Gin's ClientIP is the TCP peer: a client
	// cannot pick the IP its audit records and rate limit bucket get by
	// sending X-Forwarded-For.
	if err := e.SetTrustedProxies(s.opts.TrustedProxies); err != nil {
		panic("gateway: Options.TrustedProxies: " + err.Error())
	}
	e.Use(s.middleware()...)

	e.GET("/healthz", func(c *gin.Context) {
		c.Data(http.StatusOK, "application/json", []byte(`{"status":"ok"}`))
	})
	e.GET("/readyz", s.ready)
	if s.opts.ServeMetrics {
		e.GET("/metrics", gin.WrapH(s.MetricsHandler()))
	}
	e.Any("/.well-known/smart-configuration", s.smartConfiguration)
	home := gin.WrapH(s.homePage())
	e.GET("/", home)
	e.HEAD("/", home)
	s.mountDemo(e)
	for _, pg := range s.pages {
		for _, path := range pg.paths {
			e.GET(path, gin.WrapH(pg.h))
			e.HEAD(path, gin.WrapH(pg.h))
		}
	}
	e.Any("/fhir", s.fhirRoute)
	e.Any("/fhir/*path", s.fhirRoute)
	e.NoRoute(func(c *gin.Context) {
		s.writeError(c, fhir.Errorf(fhir.CodeNotFound, "no such endpoint; the FHIR base is /fhir").WithStatus(http.StatusNotFound))
	})
	return e
}

func (s *Server) ready(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "store not ready", slog.String("error", err.Error()))
		c.Data(http.StatusServiceUnavailable, "application/json", []byte(`{"status":"store unreachable"}`))
		return
	}
	c.Data(http.StatusOK, "application/json", []byte(`{"status":"ready"}`))
}

// request is what a handler needs from an HTTP request, parsed once.
type request struct {
	ctx    context.Context
	method string
	typ    string
	id     string
	vid    string
	query  map[string][]string
	header http.Header
	body   io.Reader
	// bodyKind is what the route expects the body to be; bodyType is the
	// media type the client sent it as ("" when it sent none).
	bodyKind bodyKind
	bodyType string
	base     string
	// contentType is the media type to answer with.
	contentType string
	// principal is the authenticated caller.
	principal *auth.Principal
	// clientIP and requestID are for the audit record.
	clientIP  string
	requestID string
	// audit is the AuditEvent of an interaction that touches patient
	// data (nil otherwise); audited is set once it has been recorded.
	audit   *audit.Entry
	audited bool
	// interaction names the FHIR interaction for the metrics.
	interaction string
	// compartment limits a search to a compartment (compartment.go).
	compartment *compartmentSearch
}

// response is what a handler produces; the wrapper writes it.
type response struct {
	status int
	header http.Header
	body   []byte
}

type handlerFunc func(*request) (*response, error)

// fhirRoute dispatches every /fhir request. Routing by hand rather than by
// Gin patterns keeps one place for the FHIR URL grammar ([type]/_history vs
// [type]/[id], the base with and without a trailing slash) and lets the
// registry, not the router, decide what is served.
func (s *Server) fhirRoute(c *gin.Context) {
	path := strings.Trim(c.Param("path"), "/")
	var segs []string
	if path != "" {
		segs = strings.Split(path, "/")
	}
	// url.ParseQuery, not URL.Query: the latter drops a malformed pair
	// (family=%zz) silently, which widens a search to everything.
	query, qerr := url.ParseQuery(c.Request.URL.RawQuery)
	req := &request{
		ctx:       c.Request.Context(),
		method:    c.Request.Method,
		query:     query,
		header:    c.Request.Header,
		base:      s.base(c.Request),
		clientIP:  c.ClientIP(),
		requestID: requestID(c),
	}
	req.interaction = interactionOf(req.method, segs)
	c.Set(interactionKey, req.interaction)
	if !isPublic(segs) {
		p, challenge, err := s.authenticate(c)
		if err != nil {
			// Failed tokens count against the caller's IP, so guessing
			// is throttled.
			if ok, wait := s.limiter.Allow("ip:"+req.clientIP, time.Now()); !ok {
				s.throttled(c, wait)
				return
			}
			if challenge != "" {
				c.Header("WWW-Authenticate", challenge)
			}
			s.writeError(c, err)
			return
		}
		req.principal = p
		req.ctx = auth.NewContext(req.ctx, p)
		c.Request = c.Request.WithContext(req.ctx)
	}
	key := "ip:" + req.clientIP
	if req.principal != nil && !req.principal.Dev {
		key = "client:" + req.principal.Issuer + " " + req.principal.ClientID
	}
	if ok, wait := s.limiter.Allow(key, time.Now()); !ok {
		s.throttled(c, wait)
		return
	}
	if isPublic(segs) && len(segs) == 2 {
		s.smartConfiguration(c)
		return
	}
	if qerr != nil {
		s.writeError(c, fhir.Errorf(fhir.CodeInvalid, "the query string is malformed: %v", qerr).WithStatus(http.StatusBadRequest))
		return
	}
	if err := checkQueryText(req.query); err != nil {
		s.writeError(c, err)
		return
	}
	ct, err := negotiate.Response(c.Request)
	if err != nil {
		s.writeError(c, err)
		return
	}
	req.contentType = ct
	h, err := s.route(req, segs)
	if fe, ok := fhir.AsError(err); ok && fe.Status == http.StatusMethodNotAllowed {
		c.Header("Allow", s.allowed(req, segs))
	}
	if err == nil {
		if req.method == http.MethodPost || req.method == http.MethodPut || req.method == http.MethodPatch {
			if req.bodyType, err = negotiate.ContentType(c.Request, req.bodyKind); err == nil {
				req.body = bodyReader{http.MaxBytesReader(c.Writer, c.Request.Body, s.opts.MaxBodyBytes)}
			}
		}
	}
	var resp *response
	if err == nil {
		resp, err = h(req)
	}
	c.Set(logTypeKey, req.typ)
	c.Set(interactionKey, req.interaction)
	c.Set(logIDKey, req.id)
	if err != nil {
		if req.audit != nil && !req.audited {
			s.auditFailure(req, req.audit, err)
		}
		s.writeError(c, err)
		return
	}
	// Every answer passes here: secrets are masked once, for all paths
	// (package secrets).
	body, err := secrets.Mask(resp.body)
	if err != nil {
		s.writeError(c, err)
		return
	}
	for k, v := range resp.header {
		c.Writer.Header()[k] = v
	}
	if body == nil {
		c.Status(resp.status)
		c.Writer.WriteHeaderNow()
		return
	}
	c.Data(resp.status, req.contentType, prettyIf(c, body))
}

// prettyIf indents a JSON answer when the client asks with _pretty=true
// (R4 3.1.0.1.7); the member order stays as stored.
func prettyIf(c *gin.Context, body []byte) []byte {
	if len(body) == 0 || !strings.Contains(c.Request.URL.RawQuery, "_pretty") {
		return body
	}
	q, _ := url.ParseQuery(c.Request.URL.RawQuery)
	if first(q, "_pretty") != "true" {
		return body
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		return body
	}
	return buf.Bytes()
}

// route maps the FHIR URL grammar to a handler.
func (s *Server) route(req *request, segs []string) (handlerFunc, error) {
	m := req.method
	switch len(segs) {
	case 0:
		switch m {
		case http.MethodPost:
			return s.bundle, nil
		case http.MethodGet, http.MethodHead:
			if _, ok := req.query["_type"]; ok {
				return s.systemSearch, nil // systemsearch.go
			}
		}
		return nil, methodNotAllowed(m, "the FHIR base")
	case 1:
		switch segs[0] {
		case "metadata":
			if m != http.MethodGet && m != http.MethodHead {
				return nil, methodNotAllowed(m, "metadata")
			}
			return s.capabilities, nil
		case "_history":
			if m != http.MethodGet && m != http.MethodHead {
				return nil, methodNotAllowed(m, "_history")
			}
			return s.history, nil
		case "_search":
			if m != http.MethodPost {
				return nil, methodNotAllowed(m, "_search")
			}
			req.bodyKind = bodyForm
			return s.systemSearch, nil // POST [base]/_search (R4 3.1.0.8); systemsearch.go
		}
	}
	if strings.HasPrefix(segs[0], "$") && len(segs) == 1 {
		return s.operation(req, SystemLevel, segs[0])
	}
	req.typ = segs[0]
	if !s.registry.Serves(req.typ) {
		return nil, fhir.Errorf(fhir.CodeNotSupported, "resource type %q is not served here", req.typ).WithStatus(http.StatusNotFound)
	}
	supported := func(i Interaction) error {
		if !s.registry.Supports(req.typ, i) {
			return fhir.Errorf(fhir.CodeNotSupported, "%s is not supported for %s", i, req.typ).WithStatus(http.StatusMethodNotAllowed)
		}
		return nil
	}
	pick := func(i Interaction, h handlerFunc) (handlerFunc, error) {
		if err := supported(i); err != nil {
			return nil, err
		}
		return h, nil
	}
	// Conditional interactions on [type]?criteria need search on the type
	// as well as the interaction itself.
	conditional := func(i Interaction, h handlerFunc) (handlerFunc, error) {
		if err := supported(i); err != nil {
			return nil, err
		}
		return pick(SearchType, h)
	}
	switch len(segs) {
	case 1:
		switch m {
		case http.MethodPost:
			if req.header.Get("If-None-Exist") != "" {
				return conditional(Create, s.create)
			}
			return pick(Create, s.create)
		case http.MethodGet, http.MethodHead:
			return pick(SearchType, s.search)
		case http.MethodPut:
			if interaction.HasCriteria(req.query) {
				return conditional(Update, s.conditionalUpdate)
			}
		case http.MethodDelete:
			if interaction.HasCriteria(req.query) {
				return conditional(Delete, s.conditionalDelete)
			}
		case http.MethodPatch:
			if interaction.HasCriteria(req.query) {
				req.bodyKind = bodyPatch
				return conditional(Patch, s.conditionalPatch)
			}
		}
		return nil, methodNotAllowed(m, req.typ)
	case 2:
		if segs[1] == "_history" {
			if m != http.MethodGet && m != http.MethodHead {
				return nil, methodNotAllowed(m, req.typ+"/_history")
			}
			return pick(HistoryType, s.history)
		}
		if strings.HasPrefix(segs[1], "$") {
			return s.operation(req, TypeLevel, segs[1])
		}
		if segs[1] == "_search" {
			if m != http.MethodPost {
				return nil, methodNotAllowed(m, req.typ+"/_search")
			}
			req.bodyKind = bodyForm
			return pick(SearchType, s.search)
		}
		req.id = segs[1]
		if !fhir.ValidID(req.id) {
			return nil, fhir.Errorf(fhir.CodeNotFound, "%q is not a valid id", req.id).WithStatus(http.StatusNotFound)
		}
		switch m {
		case http.MethodGet, http.MethodHead:
			return pick(Read, s.read)
		case http.MethodPut:
			return pick(Update, s.update)
		case http.MethodDelete:
			return pick(Delete, s.delete)
		case http.MethodPatch:
			req.bodyKind = bodyPatch
			return pick(Patch, s.patch)
		}
		return nil, methodNotAllowed(m, req.typ+"/[id]")
	case 3, 4:
		req.id = segs[1]
		if segs[2] != "_history" {
			if strings.HasPrefix(segs[2], "$") && len(segs) == 3 && fhir.ValidID(req.id) {
				return s.operation(req, InstanceLevel, segs[2])
			}
			if h, ok, err := s.compartmentRoute(req, segs); ok {
				return h, err
			}
			break
		}
		if !fhir.ValidID(req.id) {
			return nil, fhir.Errorf(fhir.CodeNotFound, "%q is not a valid id", req.id).WithStatus(http.StatusNotFound)
		}
		if m != http.MethodGet && m != http.MethodHead {
			return nil, methodNotAllowed(m, req.typ+"/[id]/_history")
		}
		if len(segs) == 3 {
			return pick(HistoryInstance, s.history)
		}
		req.vid = segs[3]
		return pick(VRead, s.vread)
	}
	return nil, fhir.Errorf(fhir.CodeNotFound, "no such FHIR endpoint").WithStatus(http.StatusNotFound)
}

// allowed is the Allow header of a 405 on req's URL (RFC 9110 15.5.6):
// the methods route accepts there, asked of route itself so the header
// never lists the method just refused nor one refused elsewhere.
func (s *Server) allowed(req *request, segs []string) string {
	var ok []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == req.method {
			continue
		}
		probe := &request{ctx: req.ctx, method: m, query: req.query, header: req.header, base: req.base}
		_, err := s.route(probe, segs)
		if fe, isFHIR := fhir.AsError(err); err == nil || (isFHIR && fe.Status != http.StatusMethodNotAllowed) {
			ok = append(ok, m)
		}
	}
	return strings.Join(ok, ", ")
}

func methodNotAllowed(method, what string) error {
	return fhir.Errorf(fhir.CodeNotSupported, "%s is not allowed on %s", method, what).WithStatus(http.StatusMethodNotAllowed)
}

// base is the FHIR base URL as the client sees it.
func (s *Server) base(r *http.Request) string {
	if s.opts.PublicBase != "" {
		return s.opts.PublicBase
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/fhir"
}

// writeError writes err as an OperationOutcome, logging internal causes.
func (s *Server) writeError(c *gin.Context, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = fhir.Errorf(fhir.CodeTooLong, "the body is larger than %d bytes", mbe.Limit).WithStatus(http.StatusRequestEntityTooLarge)
	}
	cause := err
	err, down := s.asUnavailable(err)
	status, body, internal := errorResponse(err)
	switch {
	case down:
		// At warn, not error: an outage of the database is not a fault of
		// the gateway, and /readyz says the same meanwhile.
		s.log.LogAttrs(c.Request.Context(), slog.LevelWarn, "request refused: the database is unavailable",
			slog.String("request_id", requestID(c)), slog.Int("status", status), slog.String("error", cause.Error()))
		c.Header("Retry-After", unavailableRetryAfter)
	case internal:
		s.log.LogAttrs(c.Request.Context(), slog.LevelError, "request failed",
			slog.String("request_id", requestID(c)), slog.Int("status", status), slog.String("error", err.Error()))
	}
	c.Data(status, fhirJSON, prettyIf(c, body))
}
