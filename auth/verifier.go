package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/signpost-fhir/signpost/fhir"
)

// acceptedAlgs are the token signing algorithms Verify accepts. They are not
// configurable: never none, never HS* (a shared secret would let any holder
// of it mint tokens, and the HS256-with-public-key confusion is refused
// before any key is looked at).
var acceptedAlgs = []string{oidc.RS256, oidc.ES256, oidc.PS256}

var joseAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.PS256}

// maxTokenBytes bounds what is parsed at all; real access tokens are a few
// kilobytes.
const maxTokenBytes = 16 << 10

// IssuerMetadata is the part of an issuer's discovery document Signpost
// uses.
type IssuerMetadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	ScopesSupported                   []string `json:"scopes_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
}

// Verifier turns bearer tokens into Principals. It is safe for concurrent
// use; build one at start-up and share it.
//
// Verifier caches successful verifications: a client sends the same token
// with every request until it expires, and checking its signature and
// claims again each time costs about a tenth of a millisecond of CPU. The
// cache is keyed by the SHA-256 of the token (the token itself is not
// kept) and holds a copy of the Principal; every hit returns a fresh copy,
// so one request cannot change another's. An entry is used only until the
// earlier of the token's exp and five minutes after it was verified, so a
// cached token is never accepted beyond its exp (from then on it is
// verified in full and refused as before, ClockSkew included), and a key
// the issuer withdrew or any configuration change reaches cached tokens
// within five minutes (on top of KeyMaxAge for the key set itself). When
// a JWKS fetch shows that the issuer withdrew a key, the whole cache is
// dropped at once. Failures are never cached. The cache holds at most
// 10,000 tokens: when it is full, expired entries are dropped and, if
// that is not enough, all of them.
type Verifier struct {
	cfg     Config
	issuers map[string]*issuer
	order   []*issuer

	cache *verifyCache
	// sigChecks counts the tokens that reached the signature check (tests).
	sigChecks atomic.Int64
}

// issuer is one trusted issuer; it is discovered at start, or later, on
// demand, if it was down then.
type issuer struct {
	url string
	cfg *Config
	// onKeyRemoved is called when a JWKS fetch finds a key gone.
	onKeyRemoved func()

	ready atomic.Pointer[discovered]
	// sem serialises discovery (a one-slot semaphore, so waiting honours
	// the request's context).
	sem chan struct{}

	mu      sync.Mutex // guards lastTry and lastErr
	lastTry time.Time
	lastErr error
}

type discovered struct {
	meta     IssuerMetadata
	keys     *keySet
	verifier *oidc.IDTokenVerifier
}

// errBadMetadata marks a discovery document that will not get better by
// asking again.
var errBadMetadata = errors.New("discovery document is unusable")

// NewVerifier checks cfg and runs OIDC discovery (and a first JWKS fetch)
// for every issuer in parallel, each bounded by DiscoveryTimeout, so start-up
// never waits longer than that.
//
// An issuer that cannot be reached (network error, timeout, non-200) does
// not stop start-up: it is logged, and discovery is tried again when a
// token names that issuer, at most once per DiscoveryRetry; until it
// succeeds such tokens are answered 503 (fhir code transient), not 401,
// because the token may well be good. Ready reports issuers still pending.
//
// Invalid configuration, and an issuer whose discovery document
// contradicts it (another issuer identifier, no jwks_uri), is an error:
// retrying would not help.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	v := &Verifier{cfg: cfg, issuers: map[string]*issuer{}, cache: newVerifyCache(verifyCacheMax)}
	for _, u := range cfg.Issuers {
		is := &issuer{url: u, cfg: &v.cfg, sem: make(chan struct{}, 1), onKeyRemoved: v.cache.clear}
		v.issuers[u] = is
		v.order = append(v.order, is)
	}
	errs := make([]error, len(v.order))
	var wg sync.WaitGroup
	for n, is := range v.order {
		wg.Go(func() {
			_, err := is.get(ctx)
			if err == nil {
				return
			}
			var mismatch *oidc.IssuerMismatchError
			if errors.As(err, &mismatch) || errors.Is(err, errBadMetadata) {
				errs[n] = fmt.Errorf("auth: issuer %s: %w", is.url, err)
				return
			}
			cfg.Logger.Warn("oidc issuer unavailable at start; discovery will be retried when a token names it",
				"issuer", is.url, "error", err.Error())
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return v, nil
}

// Issuers are the configured issuer identifiers, in configuration order.
func (v *Verifier) Issuers() []string { return slices.Clone(v.cfg.Issuers) }

// Ready is nil when every issuer has been discovered, else the reasons the
// pending ones were not (for a readiness probe or a start-up log).
func (v *Verifier) Ready() error {
	var errs []error
	for _, is := range v.order {
		if is.ready.Load() != nil {
			continue
		}
		is.mu.Lock()
		err := is.lastErr
		is.mu.Unlock()
		if err == nil {
			err = errors.New("not discovered yet")
		}
		errs = append(errs, fmt.Errorf("issuer %s: %w", is.url, err))
	}
	return errors.Join(errs...)
}

// get returns the discovered issuer, discovering it now if that was never
// done or last failed more than DiscoveryRetry ago.
func (is *issuer) get(ctx context.Context) (*discovered, error) {
	if d := is.ready.Load(); d != nil {
		return d, nil
	}
	select {
	case is.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-is.sem }()
	if d := is.ready.Load(); d != nil {
		return d, nil
	}
	now := is.cfg.Now()
	is.mu.Lock()
	lastTry, lastErr := is.lastTry, is.lastErr
	is.mu.Unlock()
	if !lastTry.IsZero() && now.Sub(lastTry) < is.cfg.DiscoveryRetry {
		return nil, lastErr
	}
	d, err := is.discover(ctx)
	if err != nil && ctx.Err() != nil {
		// The caller gave up, which says nothing about the issuer: let the
		// next token try again at once.
		return nil, err
	}
	is.mu.Lock()
	is.lastTry, is.lastErr = now, err
	is.mu.Unlock()
	if err != nil {
		return nil, err
	}
	is.ready.Store(d)
	is.cfg.Logger.Info("oidc issuer discovered", "issuer", is.url, "jwks_uri", d.meta.JWKSURI)
	return d, nil
}

func (is *issuer) discover(ctx context.Context) (*discovered, error) {
	ctx, cancel := context.WithTimeout(ctx, is.cfg.DiscoveryTimeout)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, is.cfg.HTTPClient), is.url)
	if err != nil {
		return nil, err
	}
	var meta IssuerMetadata
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadMetadata, err)
	}
	if meta.JWKSURI == "" {
		return nil, fmt.Errorf("%w: no jwks_uri", errBadMetadata)
	}
	if err := validateIssuerURL(meta.JWKSURI); err != nil {
		return nil, fmt.Errorf("%w: jwks_uri: %w", errBadMetadata, err)
	}
	keys := newKeySet(meta.JWKSURI, *is.cfg, joseAlgorithms)
	keys.onKeyRemoved = is.onKeyRemoved
	// Warm the cache so the first request does not pay for the fetch. A
	// failure is logged by refresh and is not fatal: the keys are fetched
	// again on first use.
	_, _ = keys.refresh(ctx, nil, false)
	verifier := oidc.NewVerifier(is.url, keys, &oidc.Config{
		ClientID:             is.cfg.Audience,
		SupportedSigningAlgs: acceptedAlgs,
		// exp, nbf and iat are checked by Verify with the configured skew;
		// go-oidc has none for exp and five fixed minutes for nbf.
		SkipExpiryCheck: true,
	})
	return &discovered{meta: meta, keys: keys, verifier: verifier}, nil
}

// Verify checks a bearer token (without the "Bearer " prefix) and returns
// its Principal. Every failure is a *fhir.Error: code login (401) with a
// short reason that is safe to show the caller, or code transient (503)
// when the token's issuer or its keys cannot be reached. Neither the error
// nor its cause contains the token.
//
// A token that verified within the last five minutes and has not expired
// is answered from the cache (see Verifier) with a copy of its Principal.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Principal, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, loginError("bearer token is missing", nil)
	}
	if len(raw) > maxTokenBytes {
		return nil, loginError("bearer token is too large", nil)
	}
	key := hashToken(raw)
	if p, ok := v.cache.get(key, v.cfg.Now()); ok {
		return p, nil
	}
	p, verifiedAt, err := v.verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	v.cache.put(key, p, verifiedAt)
	return p, nil
}

// verify is Verify without the cache, for a trimmed token of acceptable
// size. It also returns the time exp, nbf and iat were checked against.
func (v *Verifier) verify(ctx context.Context, raw string) (*Principal, time.Time, error) {
	hdr, peek, err := peekToken(raw)
	if err != nil {
		return nil, time.Time{}, loginError("bearer token is not a signed JWT", err)
	}
	if !slices.Contains(acceptedAlgs, hdr.Alg) {
		return nil, time.Time{}, loginError("token signing algorithm is not accepted (RS256, ES256 and PS256 are)", nil)
	}
	is, ok := v.issuers[peek.Iss]
	if !ok {
		return nil, time.Time{}, loginError("token issuer is not trusted", nil)
	}
	d, err := is.get(ctx)
	if err != nil {
		return nil, time.Time{}, unavailable(err)
	}
	held := &keyErr{}
	v.sigChecks.Add(1)
	tok, err := d.verifier.Verify(context.WithValue(ctx, keyErrKey{}, held), raw)
	if err != nil {
		switch {
		case errors.Is(held.err, errUnknownKey):
			return nil, time.Time{}, loginError("token signing key is not published by its issuer", held.err)
		case errors.Is(held.err, errBadSignature):
			return nil, time.Time{}, loginError("token signature is not valid", held.err)
		case errors.Is(held.err, errKeysUnavailable):
			return nil, time.Time{}, unavailable(held.err)
		case held.err == nil && !slices.Contains(peek.Aud, v.cfg.Audience):
			return nil, time.Time{}, loginError("token audience does not include this server", err)
		}
		return nil, time.Time{}, loginError("token is not valid", err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, time.Time{}, loginError("token claims do not parse", err)
	}
	now := v.cfg.Now()
	exp, err := v.checkTimes(claims, now)
	if err != nil {
		return nil, time.Time{}, err
	}
	p, err := v.principal(claims)
	if err != nil {
		return nil, time.Time{}, err
	}
	p.Issuer = is.url
	p.Expiry = exp
	return p, now, nil
}

func loginError(reason string, cause error) error {
	e := fhir.Errorf(fhir.CodeLogin, "%s", reason)
	if cause != nil {
		e = e.Wrap(cause)
	}
	return e
}

func unavailable(cause error) error {
	return fhir.Errorf(fhir.CodeTransient, "the token's issuer cannot be reached to check it; try again later").Wrap(cause)
}

type tokenHeader struct {
	Alg string `json:"alg"`
}

type peekedClaims struct {
	Iss string
	Aud []string
}

// peekToken reads the header and the iss and aud claims without checking
// the signature: the issuer decides which keys verify the token, and aud
// only names the reason when verification fails. Nothing read here is
// trusted. Only the compact serialisation is accepted.
func peekToken(raw string) (tokenHeader, peekedClaims, error) {
	var hdr tokenHeader
	var pc peekedClaims
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return hdr, pc, errors.New("not three dot-separated parts")
	}
	h, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return hdr, pc, errors.New("header is not base64url")
	}
	if err := json.Unmarshal(h, &hdr); err != nil {
		return hdr, pc, errors.New("header is not JSON")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return hdr, pc, errors.New("payload is not base64url")
	}
	var body struct {
		Iss any `json:"iss"`
		Aud any `json:"aud"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return hdr, pc, errors.New("payload is not a JSON object")
	}
	pc.Iss, _ = body.Iss.(string)
	switch a := body.Aud.(type) {
	case string:
		pc.Aud = []string{a}
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok {
				pc.Aud = append(pc.Aud, s)
			}
		}
	}
	return hdr, pc, nil
}

// checkTimes applies ClockSkew to exp (required), nbf and iat at now, and
// returns the expiry.
func (v *Verifier) checkTimes(claims map[string]any, now time.Time) (time.Time, error) {
	skew := v.cfg.ClockSkew
	exp, ok, valid := numericDate(claims["exp"])
	if !ok || !valid {
		return time.Time{}, loginError("token has no valid expiry (exp)", nil)
	}
	if now.After(exp.Add(skew)) {
		return time.Time{}, loginError("token has expired", nil)
	}
	if nbf, ok, valid := numericDate(claims["nbf"]); ok {
		if !valid {
			return time.Time{}, loginError("token not-before (nbf) is not a number", nil)
		}
		if nbf.Add(-skew).After(now) {
			return time.Time{}, loginError("token is not valid yet", nil)
		}
	}
	if iat, ok, valid := numericDate(claims["iat"]); ok {
		if !valid {
			return time.Time{}, loginError("token issued-at (iat) is not a number", nil)
		}
		if iat.Add(-skew).After(now) {
			return time.Time{}, loginError("token was issued in the future", nil)
		}
	}
	return exp, nil
}

// numericDate reads a JWT NumericDate; present says the claim is there,
// valid that it is a number.
func numericDate(v any) (t time.Time, present, valid bool) {
	if v == nil {
		return time.Time{}, false, false
	}
	f, ok := v.(float64)
	if !ok {
		return time.Time{}, true, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true, true
}
