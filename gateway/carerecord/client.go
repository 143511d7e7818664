package carerecord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/requestid"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// Config configures the client.
type Config struct {
	// BaseURL is the record's FHIR base (required).
	BaseURL string
	// Token is a static bearer token. Otherwise, with TokenURL set, a
	// token is obtained by the OAuth2 client-credentials grant with
	// ClientID, ClientSecret and Scope (optional). Neither: no
	// Authorization header.
	Token                                   string
	TokenURL, ClientID, ClientSecret, Scope string
	// Query is the search, relative to BaseURL, with {nhs} standing for
	// the patient's NHS number (default DefaultQuery). The first entry of
	// the searchset is used: an Observation (its valueCodeableConcept,
	// else its code) or a Condition (its code).
	Query string
	// ConceptMap maps the record's codes to the patient-need-group code
	// system: a canonical URL or the id of a ConceptMap in the store
	// (required). It is read at every translation, so edits apply at once.
	ConceptMap string
	// MaxAge is how long a cached need group is used before the record is
	// asked again (default 24h).
	MaxAge time.Duration
	// Timeout bounds a whole lookup: token, attempts and backoff (default
	// 2s). AttemptTimeout bounds each HTTP call (default Timeout/3).
	Timeout, AttemptTimeout time.Duration
	// Retries is how many times a failed GET is tried again (default 2;
	// negative: none). Backoff is the first wait, doubled each retry,
	// with jitter (default 50ms).
	Retries int
	Backoff time.Duration
	// FailureThreshold failed lookups in a row open the circuit (default
	// 5); it stays open for CoolDown (default 30s) before a probe.
	FailureThreshold int
	CoolDown         time.Duration
	// HTTPClient defaults to a client of its own.
	HTTPClient *http.Client
	// Now is the clock of the cache's age, the token's expiry and the
	// circuit's cool-down (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// Observer is told about each pull (default: nobody).
	Observer Observer
}

// DefaultQuery is the newest need-group Observation of the patient.
const DefaultQuery = "Observation?subject:identifier=" + mapping.NHSNumberSystem + "|{nhs}&_sort=-date&_count=1&_include=Observation:subject"

// Errors of a lookup, for errors.Is; the navigation reports any of them as
// the need group being unavailable.
var (
	// ErrUnavailable: the record could not be reached or answered 5xx.
	ErrUnavailable = errors.New("the shared care record is unavailable")
	// ErrCircuitOpen: recent lookups failed, so the record is not called.
	ErrCircuitOpen = errors.New("the shared care record is not being called after repeated failures")
	// ErrRejected: the record answered 4xx (not retried).
	ErrRejected = errors.New("the shared care record refused the search")
	// ErrUnmapped: the record's code has no patient-need-group mapping.
	ErrUnmapped = errors.New("the shared care record's code has no patient need group mapping")
	// ErrInvalidAnswer: the record's answer is not a searchset Bundle.
	ErrInvalidAnswer = errors.New("the shared care record's answer is not a FHIR searchset")
	// ErrOtherPatient: what the record answered is about someone else
	// (a subject with another NHS number, directly or through the
	// included Patient): it is ignored, never used or cached.
	ErrOtherPatient = errors.New("the shared care record answered about another patient")
)

// statusError is an HTTP answer that was not 200.
type statusError struct {
	what   string
	status int
}

func (e *statusError) Error() string { return fmt.Sprintf("%s answered HTTP %d", e.what, e.status) }

// Client is the shared care record's need-group source.
type Client struct {
	cfg     Config
	base    string
	st      store.Store
	term    *snomed.Terminology
	http    *http.Client
	token   *tokenSource
	breaker *breaker
	group   singleflight.Group
	log     *slog.Logger
}

var _ mapping.NeedGroupSource = (*Client)(nil)

// New checks cfg and builds a client over st (the cache and the
// ConceptMap) and term (translation).
func New(cfg Config, st store.Store, term *snomed.Terminology) (*Client, error) {
	if st == nil || term == nil {
		return nil, errors.New("care record: a store and a Terminology are required")
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("care record: base URL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.Token != "" && cfg.TokenURL != "" {
		return nil, errors.New("care record: set a static token or a token endpoint, not both")
	}
	if cfg.TokenURL != "" {
		if u, err := url.Parse(cfg.TokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("care record: token URL %q is not an http(s) URL", cfg.TokenURL)
		}
		if cfg.ClientID == "" || cfg.ClientSecret == "" {
			return nil, errors.New("care record: a token endpoint needs a client id and secret")
		}
	}
	if cfg.Query == "" {
		cfg.Query = DefaultQuery
	}
	cfg.Query = strings.TrimLeft(cfg.Query, "/")
	if !strings.Contains(cfg.Query, "{nhs}") {
		return nil, fmt.Errorf("care record: query %q has no {nhs} placeholder", cfg.Query)
	}
	if cfg.ConceptMap == "" {
		return nil, errors.New("care record: a ConceptMap (canonical URL or id) is required")
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 24 * time.Hour
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = cfg.Timeout / 3
	}
	if cfg.Retries == 0 {
		cfg.Retries = 2
	} else if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 50 * time.Millisecond
	}
	if cfg.FailureThreshold <= 0 {
		cfg.FailureThreshold = 5
	}
	if cfg.CoolDown <= 0 {
		cfg.CoolDown = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	return &Client{
		cfg: cfg, base: base, st: st, term: term, http: hc, log: cfg.Logger,
		token: &tokenSource{static: cfg.Token, tokenURL: cfg.TokenURL, clientID: cfg.ClientID,
			clientSecret: cfg.ClientSecret, scope: cfg.Scope, http: hc, now: cfg.Now},
		breaker: &breaker{threshold: cfg.FailureThreshold, coolDown: cfg.CoolDown, now: cfg.Now},
	}, nil
}

// CircuitState is "closed", "open" or "half-open".
func (c *Client) CircuitState() string { return c.breaker.state() }

// Timeout is the bound of a whole lookup (Config.Timeout).
func (c *Client) Timeout() time.Duration { return c.cfg.Timeout }

// NeedGroup finds the patient's need group: the cached Observation when
// fresh, else the record's. Without an NHS number the record cannot be
// searched: the need group is not known (no error). Lookups of the same
// patient and practice in flight together share one call to the record;
// each caller still stops waiting at its own deadline.
func (c *Client) NeedGroup(ctx context.Context, patient mapping.PatientRef, practice string) (mapping.NeedGroup, error) {
	if patient.NHSNumber == "" {
		return mapping.NeedGroup{}, nil
	}
	ch := c.group.DoChan(practice+"|"+patient.NHSNumber, func() (any, error) {
		// Detached from the first caller's cancellation, which must not
		// fail the others sharing the call; bounded by the lookup timeout.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
		defer cancel()
		return c.lookup(lctx, patient, practice)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return mapping.NeedGroup{}, r.Err
		}
		ng := r.Val.(mapping.NeedGroup)
		var err error
		if ng.Findings, err = c.findings(ctx, patient, practice); err != nil {
			return mapping.NeedGroup{}, err
		}
		return ng, nil
	case <-ctx.Done():
		return mapping.NeedGroup{}, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
}

// lookup is one coalesced lookup: cache, then the record.
func (c *Client) lookup(ctx context.Context, patient mapping.PatientRef, practice string) (mapping.NeedGroup, error) {
	cached, err := c.cached(ctx, patient, practice)
	if err != nil {
		// The cache is an optimisation: a store hiccup falls through to
		// the record.
		c.log.WarnContext(ctx, "reading the cached need group", "error", err.Error())
	} else if cached.Known {
		return cached, nil
	}
	ok, probe := c.breaker.allow()
	if !ok {
		c.cfg.Observer.CareRecordFailure(Reason(ErrCircuitOpen))
		return mapping.NeedGroup{}, ErrCircuitOpen
	}
	started := time.Now()
	rec, err := c.search(ctx, patient.NHSNumber)
	c.cfg.Observer.CareRecordPull(time.Since(started), Reason(err))
	// 4xx and unmappable answers come from a record that is up: they do
	// not open the circuit.
	c.breaker.record(err == nil || !errors.Is(err, ErrUnavailable))
	if probe {
		c.log.InfoContext(ctx, "care record circuit probe", "success", err == nil || !errors.Is(err, ErrUnavailable))
	}
	if err != nil {
		c.log.WarnContext(ctx, "care record lookup failed", "error", err.Error(), "circuit", c.breaker.state())
		return mapping.NeedGroup{}, err
	}
	if rec == nil {
		return mapping.NeedGroup{}, nil // the record holds nothing for the patient
	}
	code, err := c.translate(ctx, rec)
	if err != nil {
		c.cfg.Observer.CareRecordFailure(Reason(err))
		return mapping.NeedGroup{}, err
	}
	ng := mapping.NeedGroup{Known: true, Code: code, Date: rec.date, Source: c.base}
	ref, err := c.store(ctx, patient, practice, rec, code)
	if err != nil {
		// The answer is good; only the cache failed.
		c.log.WarnContext(ctx, "caching the need group", "error", err.Error())
	} else {
		ng.Observation = ref
	}
	return ng, nil
}

// record is what the record's answer said.
type record struct {
	codings []snomed.Coding
	date    time.Time
	// source is the absolute URL of the resource in the record.
	source string
}

// search runs the query for one NHS number, with retries.
func (c *Client) search(ctx context.Context, nhs string) (*record, error) {
	u := c.base + "/" + strings.ReplaceAll(c.cfg.Query, "{nhs}", url.QueryEscape(nhs))
	attempts := 0
	for {
		attempts++
		body, err := c.get(ctx, u)
		var te *transientError
		if err == nil {
			return c.parse(body, nhs, c.resolver(ctx))
		}
		if !errors.As(err, &te) {
			return nil, err
		}
		if attempts > c.cfg.Retries || ctx.Err() != nil {
			return nil, fmt.Errorf("%w (%s, %d attempts): %w", ErrUnavailable, c.base, attempts, te.err)
		}
		// Exponential backoff with jitter (half to all of the step), so
		// that gateways retrying together do not hammer a record that is
		// coming back.
		step := c.cfg.Backoff << (attempts - 1)
		t := time.NewTimer(step/2 + rand.N(step/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (%s, %d attempts): %w", ErrUnavailable, c.base, attempts, te.err)
		case <-t.C:
		}
	}
}

// transientError is a failure worth retrying: a timeout, a connection
// error, a 5xx answer.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// get is one GET of the record.
func (c *Client) get(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	tok, err := c.token.Token(ctx)
	if err != nil {
		var se *statusError
		if errors.As(err, &se) && se.status < 500 {
			return nil, fmt.Errorf("%w: %w", ErrRejected, err)
		}
		return nil, &transientError{err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/fhir+json")
	// The id of the navigation request the pull is for (the first caller's,
	// when lookups are coalesced).
	requestid.Set(ctx, req)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// Timeouts and connection errors. The URL holds the NHS number:
		// keep it out of the message.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &transientError{err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	switch {
	case resp.StatusCode >= 500:
		return nil, &transientError{&statusError{what: "the record", status: resp.StatusCode}}
	case resp.StatusCode == http.StatusUnauthorized:
		c.token.forget()
		fallthrough
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: %w", ErrRejected, &statusError{what: "the record", status: resp.StatusCode})
	case err != nil:
		return nil, &transientError{err}
	}
	return body, nil
}

// parse reads the first matching entry of a searchset that is about the
// patient with NHS number nhs. An entry whose subject names another
// patient (its identifier, or the Patient it references when the answer
// includes it) is skipped; when only such entries came back, the answer
// is ErrOtherPatient. A reference to a Patient the answer does not
// include is resolved with resolve (a read of that Patient from the
// record); a subject that still cannot be checked (none, or a Patient the
// record will not give) is taken as the search asked for it: the default
// query includes the subject so that it can be.
func (c *Client) parse(body []byte, nhs string, resolve func(ref string) ([]string, bool)) (*record, error) {
	var b struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Entry        []struct {
			FullURL  string         `json:"fullUrl"`
			Search   map[string]any `json:"search"`
			Resource map[string]any `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.ResourceType != "Bundle" || b.Type != "searchset" {
		return nil, ErrInvalidAnswer
	}
	// The Patients of the answer (included or not), by full URL and by
	// relative reference, with their NHS numbers.
	patients := map[string][]string{}
	for _, e := range b.Entry {
		if rt, _ := e.Resource["resourceType"].(string); rt != "Patient" {
			continue
		}
		var numbers []string
		for _, x := range listOf(e.Resource["identifier"]) {
			xm, _ := x.(map[string]any)
			if sys, _ := xm["system"].(string); sys == mapping.NHSNumberSystem {
				v, _ := xm["value"].(string)
				numbers = append(numbers, v)
			}
		}
		id, _ := e.Resource["id"].(string)
		patients["Patient/"+id] = numbers
		if e.FullURL != "" {
			patients[e.FullURL] = numbers
		}
	}
	other := false
	for _, e := range b.Entry {
		if m, _ := e.Search["mode"].(string); m != "" && m != "match" {
			continue
		}
		r := e.Resource
		if !aboutPatient(r["subject"], nhs, patients, resolve) {
			other = true
			continue
		}
		rt, _ := r["resourceType"].(string)
		rec := &record{source: e.FullURL}
		if rec.source == "" {
			id, _ := r["id"].(string)
			rec.source = c.base + "/" + rt + "/" + id
		}
		switch rt {
		case "Observation":
			if s, _ := r["status"].(string); s == "entered-in-error" || s == "cancelled" {
				continue
			}
			rec.codings = append(codings(r["valueCodeableConcept"]), codings(r["code"])...)
			rec.date = firstDate(r["effectiveDateTime"], path(r, "effectivePeriod", "start"), r["effectiveInstant"], r["issued"])
		case "Condition":
			if s := codings(r["verificationStatus"]); len(s) > 0 && (s[0].Code == "entered-in-error" || s[0].Code == "refuted") {
				continue
			}
			rec.codings = codings(r["code"])
			rec.date = firstDate(r["recordedDate"], r["onsetDateTime"], path(r, "onsetPeriod", "start"))
		default:
			continue
		}
		if len(rec.codings) == 0 {
			continue
		}
		return rec, nil
	}
	if other {
		return nil, ErrOtherPatient
	}
	return nil, nil
}

// aboutPatient reports whether a subject Reference may be the patient
// with NHS number nhs: false only when it says it is someone else.
// resolve (nil for none) reads a referenced Patient the answer does not
// include.
func aboutPatient(subject any, nhs string, patients map[string][]string, resolve func(ref string) ([]string, bool)) bool {
	s, _ := subject.(map[string]any)
	if id, _ := s["identifier"].(map[string]any); id != nil {
		if sys, _ := id["system"].(string); sys == mapping.NHSNumberSystem {
			v, _ := id["value"].(string)
			return v == nhs
		}
	}
	ref, _ := s["reference"].(string)
	if ref == "" {
		return true
	}
	numbers, ok := patients[ref]
	if !ok {
		// A relative reference matches a Patient whose full URL ends
		// with it, and an absolute one its relative form.
		for k, v := range patients {
			if strings.HasSuffix(k, "/"+ref) || strings.HasSuffix(ref, "/"+k) {
				numbers, ok = v, true
				break
			}
		}
	}
	if !ok && resolve != nil {
		if numbers, ok = resolve(ref); ok {
			patients[ref] = numbers
		}
	}
	if !ok || len(numbers) == 0 {
		return true
	}
	for _, n := range numbers {
		if n == nhs {
			return true
		}
	}
	return false
}

var listOf = fhir.List

// maxResolved bounds the Patients one answer's check may read.
const maxResolved = 2

// resolver reads a Patient an answer references but does not include, so
// that its NHS numbers can be checked: a relative reference, or an
// absolute one on the record's base, at most maxResolved per answer, one
// attempt each. It answers false when the Patient cannot be read.
func (c *Client) resolver(ctx context.Context) func(ref string) ([]string, bool) {
	reads := 0
	return func(ref string) ([]string, bool) {
		rel := strings.TrimPrefix(ref, c.base+"/")
		typ, id, ok := strings.Cut(rel, "/")
		if !ok || typ != "Patient" || id == "" || strings.ContainsAny(id, "/?#") || reads >= maxResolved {
			return nil, false
		}
		reads++
		body, err := c.get(ctx, c.base+"/Patient/"+url.PathEscape(id))
		if err != nil {
			return nil, false
		}
		var p struct {
			ResourceType string `json:"resourceType"`
			Identifier   []struct {
				System string `json:"system"`
				Value  string `json:"value"`
			} `json:"identifier"`
		}
		if json.Unmarshal(body, &p) != nil || p.ResourceType != "Patient" {
			return nil, false
		}
		var numbers []string
		for _, x := range p.Identifier {
			if x.System == mapping.NHSNumberSystem {
				numbers = append(numbers, x.Value)
			}
		}
		return numbers, true
	}
}

// translate maps the record's codings to a patient-need-group code through
// the configured ConceptMap, the first that maps winning.
func (c *Client) translate(ctx context.Context, rec *record) (string, error) {
	png := c.term.URL("CodeSystem", snomed.PatientNeedGroup)
	id, err := c.conceptMapID(ctx)
	if err != nil {
		return "", err
	}
	req := snomed.TranslateRequest{TargetSystem: png, ID: id}
	var tried []string
	for _, cd := range rec.codings {
		if cd.System == png && mapping.NeedGroupLevel(cd.Code) != mapping.NeedUnknown {
			return cd.Code, nil // already a need group
		}
		if cd.System == "" || cd.Code == "" {
			continue
		}
		req.Coding = snomed.Coding{System: cd.System, Code: cd.Code}
		res, err := c.term.Translate(ctx, c.st, req)
		if err != nil {
			return "", fmt.Errorf("translating through ConceptMap %s: %w", c.cfg.ConceptMap, err)
		}
		for _, m := range res.Matches {
			if m.Equivalence == "unmatched" || m.Equivalence == "disjoint" {
				continue
			}
			if m.Concept.System == png && mapping.NeedGroupLevel(m.Concept.Code) != mapping.NeedUnknown {
				return m.Concept.Code, nil
			}
		}
		tried = append(tried, cd.System+"|"+cd.Code)
	}
	return "", fmt.Errorf("%w: %s in ConceptMap %s", ErrUnmapped, strings.Join(tried, ", "), c.cfg.ConceptMap)
}

// ErrNoConceptMap: the configured ConceptMap is not stored in the
// gateway (yet).
var ErrNoConceptMap = errors.New("the care record's ConceptMap is not stored in the gateway")

// ErrBadConceptMap: what the configuration names cannot be the care
// record's map (two ConceptMaps share the URL, it does not read, or it
// maps nothing to a need group).
var ErrBadConceptMap = errors.New("the care record's ConceptMap cannot be used")

// conceptMapID resolves Config.ConceptMap to the id of a ConceptMap in
// the store: an id is taken as it is; a canonical URL (url or
// url|version) is searched for among the stored ConceptMaps' url (and
// version), so a ConceptMap stored under any id, with any canonical URL,
// is found. It is resolved at every translation, so a ConceptMap stored,
// replaced or deleted later applies at once.
func (c *Client) conceptMapID(ctx context.Context) (string, error) {
	ref := c.cfg.ConceptMap
	if !strings.Contains(ref, "/") {
		return ref, nil
	}
	u, version, _ := strings.Cut(ref, "|")
	params := url.Values{"url": {u}}
	if version != "" {
		params.Set("version", version)
	}
	q, err := search.ParseQuery("ConceptMap", params, true)
	if err != nil {
		return "", fmt.Errorf("ConceptMap %s: %w", ref, err)
	}
	page, err := c.st.Search(ctx, q, store.PageRequest{Count: 2})
	if err != nil {
		return "", fmt.Errorf("looking up ConceptMap %s: %w", ref, err)
	}
	switch len(page.Matches) {
	case 0:
		return "", fmt.Errorf("%w: no stored ConceptMap has url %s", ErrNoConceptMap, ref)
	case 1:
		return page.Matches[0].ID, nil
	}
	return "", fmt.Errorf("%w: more than one stored ConceptMap has url %s: give the version (url|version) or the id", ErrBadConceptMap, ref)
}

// CheckConceptMap checks the configured ConceptMap at start-up: it is
// stored (else an error wrapping ErrNoConceptMap), it is a ConceptMap
// that reads, and one of its groups maps to the patient-need-group code
// system.
func (c *Client) CheckConceptMap(ctx context.Context) error {
	id, err := c.conceptMapID(ctx)
	if err != nil {
		return err
	}
	v, err := c.st.Read(ctx, "ConceptMap", id)
	if errors.Is(err, fhir.ErrNotFound) || errors.Is(err, fhir.ErrDeleted) {
		return fmt.Errorf("%w: no ConceptMap with id %s", ErrNoConceptMap, id)
	}
	if err != nil {
		return err
	}
	r, err := fhir.ParseResource(v.Body)
	if err != nil {
		return err
	}
	cm, err := snomed.ParseConceptMap(r)
	if err != nil {
		return fmt.Errorf("%w: ConceptMap/%s: %w", ErrBadConceptMap, id, err)
	}
	png := c.term.URL("CodeSystem", snomed.PatientNeedGroup)
	for _, g := range cm.Groups {
		if g.Target == png {
			return nil
		}
	}
	return fmt.Errorf("%w: ConceptMap/%s has no group whose target is %s, so it maps nothing to a need group", ErrBadConceptMap, id, png)
}

func codings(v any) []snomed.Coding {
	cc, _ := v.(map[string]any)
	l, _ := cc["coding"].([]any)
	var out []snomed.Coding
	for _, x := range l {
		m, _ := x.(map[string]any)
		s, _ := m["system"].(string)
		code, _ := m["code"].(string)
		d, _ := m["display"].(string)
		out = append(out, snomed.Coding{System: s, Code: code, Display: d})
	}
	return out
}

func path(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, _ := v.(map[string]any)
		v = mm[k]
	}
	return v
}

// firstDate is the first FHIR date, dateTime or instant among vs.
func firstDate(vs ...any) time.Time {
	for _, v := range vs {
		s, _ := v.(string)
		if s == "" {
			continue
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02", "2006-01", "2006"} {
			if t, err := time.ParseInLocation(layout, s, mapping.London); err == nil {
				return t
			}
		}
	}
	return time.Time{}
}
