package oidctest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// DefaultAudience is the aud of every token unless WithAudience or the
// Audience option says otherwise.
const DefaultAudience = "https://signpost.test/fhir"

// DefaultSubject is the sub of tokens minted by Token unless overridden.
const DefaultSubject = "test-user"

// The signing algorithms the issuer holds a key for from the start.
const (
	RS256 = "RS256"
	ES256 = "ES256"
	PS256 = "PS256"
)

// Client is an OAuth 2.0 client registered for the client_credentials
// grant.
type Client struct {
	ID     string
	Secret string
	// Scopes are the scopes the client may be granted; a request for none
	// grants them all, a request for any other is refused (invalid_scope).
	Scopes []string
	// Claims are added to every access token issued to the client (ods,
	// role, tier, publisher...). They cannot override iss, sub, client_id,
	// scope, aud, iat or exp.
	Claims map[string]any
	// TTL is the access token lifetime; zero means five minutes.
	TTL time.Duration
}

// Option configures New.
type Option func(*Issuer)

// WithAudience sets the default aud of minted tokens.
func WithAudience(aud string) Option { return func(i *Issuer) { i.audience = aud } }

// WithPath serves the issuer under a path, so its identifier is
// server URL + path (as with realms or tenants of real issuers).
func WithPath(path string) Option {
	return func(i *Issuer) { i.path = "/" + strings.Trim(path, "/") }
}

// WithClient registers a client for the token endpoint.
func WithClient(c Client) Option { return func(i *Issuer) { i.clients[c.ID] = c } }

type signingKey struct {
	kid       string
	alg       string
	priv      crypto.Signer
	published bool
}

// Issuer is a running in-process OpenID Connect issuer. Its methods are
// safe for concurrent use.
type Issuer struct {
	t        testing.TB
	srv      *httptest.Server
	path     string
	audience string

	mu      sync.Mutex
	foreign crypto.Signer          // never published; made on first use
	keys    map[string]*signingKey // every key ever made, by kid
	current map[string]string      // alg -> kid of the key that signs
	clients map[string]Client

	down           atomic.Bool
	discoveryFetch atomic.Int64
	jwksFetch      atomic.Int64
	tokenRequests  atomic.Int64
}

// New starts an issuer on loopback with one published key per algorithm;
// it is closed when the test ends.
func New(t testing.TB, opts ...Option) *Issuer {
	t.Helper()
	i := &Issuer{
		t:        t,
		audience: DefaultAudience,
		keys:     map[string]*signingKey{},
		current:  map[string]string{},
		clients:  map[string]Client{},
	}
	for _, o := range opts {
		o(i)
	}
	// Key generation dominates start-up (RSA especially): do it in parallel.
	algs := []string{RS256, ES256, PS256}
	keys := make([]crypto.Signer, len(algs))
	errs := make([]error, len(algs))
	var wg sync.WaitGroup
	for n, alg := range algs {
		wg.Go(func() { keys[n], errs[n] = newPrivateKey(alg) })
	}
	wg.Wait()
	for n, alg := range algs {
		if errs[n] != nil {
			t.Fatalf("oidctest: %v", errs[n])
		}
		i.addKey(alg, keys[n])
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+i.path+"/.well-known/openid-configuration", i.serveDiscovery)
	mux.HandleFunc("GET "+i.path+"/jwks", i.serveJWKS)
	mux.HandleFunc("POST "+i.path+"/token", i.serveToken)
	mux.HandleFunc("GET "+i.path+"/authorize", func(w http.ResponseWriter, r *http.Request) {
		oauthError(w, http.StatusBadRequest, "unsupported_response_type", "this test issuer only issues tokens through client_credentials")
	})
	i.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i.down.Load() {
			http.Error(w, "issuer unavailable", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(i.srv.Close)
	return i
}

// URL is the issuer identifier: the iss of its tokens and the base of its
// discovery document.
func (i *Issuer) URL() string { return i.srv.URL + i.path }

// Audience is the default aud of minted tokens.
func (i *Issuer) Audience() string { return i.audience }

// TokenURL is the token endpoint.
func (i *Issuer) TokenURL() string { return i.URL() + "/token" }

// JWKSURL is the JWKS endpoint.
func (i *Issuer) JWKSURL() string { return i.URL() + "/jwks" }

// AuthorizationURL is the advertised authorization endpoint.
func (i *Issuer) AuthorizationURL() string { return i.URL() + "/authorize" }

// Close stops the server early (it is also closed when the test ends).
// Connections refused afterwards model an issuer that is gone.
func (i *Issuer) Close() { i.srv.Close() }

// SetUnavailable makes every endpoint answer 503 while down is true.
func (i *Issuer) SetUnavailable(down bool) { i.down.Store(down) }

// DiscoveryFetches counts served discovery documents.
func (i *Issuer) DiscoveryFetches() int { return int(i.discoveryFetch.Load()) }

// JWKSFetches counts served key sets; a verifier with a warm cache fetches
// none per token.
func (i *Issuer) JWKSFetches() int { return int(i.jwksFetch.Load()) }

// TokenRequests counts requests to the token endpoint.
func (i *Issuer) TokenRequests() int { return int(i.tokenRequests.Load()) }

// AddClient registers (or replaces) a client for the token endpoint.
func (i *Issuer) AddClient(c Client) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.clients[c.ID] = c
}

// AddKey makes a new key for alg (RS256, ES256 or PS256), publishes it and
// makes it the one that signs alg tokens. The previous key stays published
// until retired. It returns the new kid.
func (i *Issuer) AddKey(alg string) string {
	i.t.Helper()
	priv, err := newPrivateKey(alg)
	if err != nil {
		i.t.Fatalf("oidctest: %v", err)
	}
	return i.addKey(alg, priv)
}

func (i *Issuer) addKey(alg string, priv crypto.Signer) string {
	k := &signingKey{kid: strings.ToLower(alg) + "-" + randomHex(6), alg: alg, priv: priv, published: true}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys[k.kid] = k
	i.current[alg] = k.kid
	return k.kid
}

// Retire removes kid from the JWKS. Its private key is kept so tests can
// still sign with it (KeyID) and show such tokens are refused.
func (i *Issuer) Retire(kid string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if k, ok := i.keys[kid]; ok {
		k.published = false
	}
}

// Rotate rotates the RS256 key, the default signing key: see RotateAlg.
func (i *Issuer) Rotate() (retired, current string) { return i.RotateAlg(RS256) }

// RotateAlg publishes a new key for alg, makes it the signing key and
// retires the one it replaces, as an issuer does when it rolls its keys.
func (i *Issuer) RotateAlg(alg string) (retired, current string) {
	i.t.Helper()
	retired = i.KeyID(alg)
	current = i.AddKey(alg)
	i.Retire(retired)
	return retired, current
}

// KeyID is the kid of the key that currently signs alg tokens.
func (i *Issuer) KeyID(alg string) string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.current[alg]
}

// PublicKeyPEM is the PEM (PKIX) encoding of kid's public key: the bytes an
// HS256 key-confusion attack uses as the HMAC secret.
func (i *Issuer) PublicKeyPEM(kid string) []byte {
	i.t.Helper()
	k := i.key(kid)
	der, err := x509.MarshalPKIXPublicKey(k.priv.Public())
	if err != nil {
		i.t.Fatalf("oidctest: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func (i *Issuer) key(kid string) *signingKey {
	i.t.Helper()
	i.mu.Lock()
	k, ok := i.keys[kid]
	i.mu.Unlock()
	if !ok {
		i.t.Fatalf("oidctest: no key %q", kid)
	}
	return k
}

// --- tokens ---

type tokenConfig struct {
	set     map[string]any
	without []string
	kid     string
	noKid   bool
	alg     string
	typ     string
}

// TokenOption adjusts one minted token. Options apply after the claims map,
// so they win over it.
type TokenOption func(*tokenConfig)

// ExpiresAt sets exp.
func ExpiresAt(t time.Time) TokenOption { return func(c *tokenConfig) { c.set["exp"] = t.Unix() } }

// ExpiresIn sets exp to now + d (d may be negative).
func ExpiresIn(d time.Duration) TokenOption { return ExpiresAt(time.Now().Add(d)) }

// NotBefore sets nbf.
func NotBefore(t time.Time) TokenOption { return func(c *tokenConfig) { c.set["nbf"] = t.Unix() } }

// IssuedAt sets iat.
func IssuedAt(t time.Time) TokenOption { return func(c *tokenConfig) { c.set["iat"] = t.Unix() } }

// Audience sets aud: one value as a string, several as an array.
func Audience(aud ...string) TokenOption {
	return func(c *tokenConfig) {
		if len(aud) == 1 {
			c.set["aud"] = aud[0]
		} else {
			c.set["aud"] = aud
		}
	}
}

// IssuerClaim sets iss (the token is still signed by this issuer's key).
func IssuerClaim(iss string) TokenOption { return func(c *tokenConfig) { c.set["iss"] = iss } }

// Subject sets sub.
func Subject(sub string) TokenOption { return func(c *tokenConfig) { c.set["sub"] = sub } }

// Without removes claims, defaults included (e.g. Without("exp")).
func Without(claims ...string) TokenOption {
	return func(c *tokenConfig) { c.without = append(c.without, claims...) }
}

// KeyID signs with the key kid, published, retired or current.
func KeyID(kid string) TokenOption { return func(c *tokenConfig) { c.kid = kid } }

// NoKeyID leaves kid out of the header (the verifier must try its keys).
func NoKeyID() TokenOption { return func(c *tokenConfig) { c.noKid = true } }

// Alg signs with the current key of alg (RS256 by default).
func Alg(alg string) TokenOption { return func(c *tokenConfig) { c.alg = alg } }

// Type sets the typ header (default "at+jwt", RFC 9068).
func Type(typ string) TokenOption { return func(c *tokenConfig) { c.typ = typ } }

// Claims returns the claims Token would sign for claims and opts, for
// tests that compare what they sent with what a verifier read.
func (i *Issuer) Claims(claims map[string]any, opts ...TokenOption) map[string]any {
	c, _ := i.tokenClaims(claims, opts)
	return c
}

func (i *Issuer) tokenClaims(claims map[string]any, opts []TokenOption) (map[string]any, *tokenConfig) {
	now := time.Now()
	out := map[string]any{
		"iss": i.URL(),
		"aud": i.audience,
		"sub": DefaultSubject,
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
		"jti": randomHex(8),
	}
	maps.Copy(out, claims)
	cfg := &tokenConfig{set: map[string]any{}, alg: RS256, typ: "at+jwt"}
	for _, o := range opts {
		o(cfg)
	}
	maps.Copy(out, cfg.set)
	for _, name := range cfg.without {
		delete(out, name)
	}
	return out, cfg
}

// Token mints a signed access token: iss, aud, sub, iat, exp (one hour) and
// jti by default, then claims, then opts.
func (i *Issuer) Token(claims map[string]any, opts ...TokenOption) string {
	i.t.Helper()
	out, cfg := i.tokenClaims(claims, opts)
	kid := cfg.kid
	if kid == "" {
		kid = i.KeyID(cfg.alg)
		if kid == "" {
			i.t.Fatalf("oidctest: no key for alg %q", cfg.alg)
		}
	}
	k := i.key(kid)
	if cfg.noKid {
		k = &signingKey{alg: k.alg, priv: k.priv}
	}
	return i.sign(k, mustJSON(i.t, out), cfg.typ)
}

func (i *Issuer) sign(k *signingKey, payload []byte, typ string) string {
	i.t.Helper()
	s, err := signCompact(jose.SignatureAlgorithm(k.alg), k.priv, k.kid, payload, typ)
	if err != nil {
		i.t.Fatalf("oidctest: %v", err)
	}
	return s
}

func signCompact(alg jose.SignatureAlgorithm, key any, kid string, payload []byte, typ string) (string, error) {
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return "", fmt.Errorf("signer for %s: %w", alg, err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return jws.CompactSerialize()
}

// BadKind names a token a verifier must refuse.
type BadKind int

const (
	// Expired: exp an hour ago, well past any clock skew.
	Expired BadKind = iota + 1
	// NotYetValid: nbf an hour ahead.
	NotYetValid
	// WrongIssuer: iss names another issuer; signed by this one's key.
	WrongIssuer
	// WrongAudience: aud names another resource server.
	WrongAudience
	// AlgNone: alg "none" and an empty signature.
	AlgNone
	// HS256PublicKey: alg HS256, kid of the RSA key, HMAC keyed with the
	// PEM of the RSA public key (the key-confusion attack).
	HS256PublicKey
	// TamperedPayload: a valid signature over other claims (sub and scope
	// changed after signing).
	TamperedPayload
	// UnknownKid: signed by a key the issuer never published.
	UnknownKid
	// ForeignKey: the kid of a published key, signed by another key.
	ForeignKey
	// NoExpiry: validly signed, without exp.
	NoExpiry
)

// BadKinds lists every BadKind, for table-driven tests.
var BadKinds = []BadKind{Expired, NotYetValid, WrongIssuer, WrongAudience, AlgNone, HS256PublicKey, TamperedPayload, UnknownKid, ForeignKey, NoExpiry}

func (k BadKind) String() string {
	switch k {
	case Expired:
		return "expired"
	case NotYetValid:
		return "not-yet-valid"
	case WrongIssuer:
		return "wrong-issuer"
	case WrongAudience:
		return "wrong-audience"
	case AlgNone:
		return "alg-none"
	case HS256PublicKey:
		return "hs256-with-public-key"
	case TamperedPayload:
		return "tampered-payload"
	case UnknownKid:
		return "unknown-kid"
	case ForeignKey:
		return "foreign-key"
	case NoExpiry:
		return "no-expiry"
	}
	return fmt.Sprintf("BadKind(%d)", int(k))
}

// BadToken mints a token of the given kind carrying claims (over the same
// defaults as Token), so that the only defect is the one named.
func (i *Issuer) BadToken(kind BadKind, claims map[string]any) string {
	i.t.Helper()
	now := time.Now()
	switch kind {
	case Expired:
		return i.Token(claims, IssuedAt(now.Add(-2*time.Hour)), ExpiresAt(now.Add(-time.Hour)))
	case NotYetValid:
		return i.Token(claims, NotBefore(now.Add(time.Hour)), ExpiresAt(now.Add(2*time.Hour)))
	case WrongIssuer:
		return i.Token(claims, IssuerClaim("https://issuer.invalid/not-this-one"))
	case WrongAudience:
		return i.Token(claims, Audience("https://other-service.invalid/fhir"))
	case NoExpiry:
		return i.Token(claims, Without("exp"))
	case AlgNone:
		out, _ := i.tokenClaims(claims, nil)
		header := mustJSON(i.t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": i.KeyID(RS256)})
		return b64(header) + "." + b64(mustJSON(i.t, out)) + "."
	case HS256PublicKey:
		kid := i.KeyID(RS256)
		out, _ := i.tokenClaims(claims, nil)
		s, err := signCompact(jose.HS256, i.PublicKeyPEM(kid), kid, mustJSON(i.t, out), "at+jwt")
		if err != nil {
			i.t.Fatalf("oidctest: %v", err)
		}
		return s
	case TamperedPayload:
		signed := i.Token(claims)
		out, _ := i.tokenClaims(claims, nil)
		out["sub"] = "someone-else"
		out["scope"] = "system/*.cruds"
		parts := strings.Split(signed, ".")
		parts[1] = b64(mustJSON(i.t, out))
		return strings.Join(parts, ".")
	case UnknownKid, ForeignKey:
		priv := i.foreignKey()
		kid := "unpublished-" + randomHex(6)
		if kind == ForeignKey {
			kid = i.KeyID(RS256)
		}
		out, _ := i.tokenClaims(claims, nil)
		return i.sign(&signingKey{kid: kid, alg: RS256, priv: priv}, mustJSON(i.t, out), "at+jwt")
	}
	i.t.Fatalf("oidctest: unknown BadKind %d", kind)
	return ""
}

// foreignKey is an RSA key this issuer never publishes.
func (i *Issuer) foreignKey() crypto.Signer {
	i.t.Helper()
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.foreign == nil {
		k, err := newPrivateKey(RS256)
		if err != nil {
			i.t.Fatalf("oidctest: %v", err)
		}
		i.foreign = k
	}
	return i.foreign
}

// --- HTTP ---

func (i *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	i.discoveryFetch.Add(1)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                i.URL(),
		"authorization_endpoint":                i.AuthorizationURL(),
		"token_endpoint":                        i.TokenURL(),
		"jwks_uri":                              i.JWKSURL(),
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{RS256, ES256, PS256},
		"grant_types_supported":                 []string{"client_credentials", "authorization_code"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"scopes_supported":                      []string{"openid", "system/*.cruds", "system/*.rs", "user/*.cruds", "user/*.rs"},
		"code_challenge_methods_supported":      []string{"S256"},
	})
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	i.jwksFetch.Add(1)
	i.mu.Lock()
	var set jose.JSONWebKeySet
	for _, kid := range slices.Sorted(maps.Keys(i.keys)) {
		k := i.keys[kid]
		if k.published {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig"})
		}
	}
	i.mu.Unlock()
	writeJSON(w, http.StatusOK, set)
}

func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	i.tokenRequests.Add(1)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "form does not parse")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported")
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 2.3.1: the id and secret are form-encoded before Basic.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	i.mu.Lock()
	c, ok := i.clients[id]
	i.mu.Unlock()
	if !ok || id == "" || c.Secret != secret {
		w.Header().Set("WWW-Authenticate", `Basic realm="oidctest"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	granted := c.Scopes
	if req := strings.Fields(r.PostForm.Get("scope")); len(req) > 0 {
		for _, s := range req {
			if !slices.Contains(c.Scopes, s) {
				oauthError(w, http.StatusBadRequest, "invalid_scope", "scope "+s+" is not allowed for this client")
				return
			}
		}
		granted = req
	}
	ttl := c.TTL
	if ttl == 0 {
		ttl = 5 * time.Minute
	}
	claims := maps.Clone(c.Claims)
	if claims == nil {
		claims = map[string]any{}
	}
	for _, reserved := range []string{"iss", "aud", "iat", "exp"} {
		delete(claims, reserved)
	}
	claims["sub"] = c.ID
	claims["client_id"] = c.ID
	claims["scope"] = strings.Join(granted, " ")
	token := i.Token(claims, ExpiresIn(ttl))
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": token,
		"token_type":   "Bearer",
		"expires_in":   int(ttl.Seconds()),
		"scope":        strings.Join(granted, " "),
	})
}

// FetchToken runs the client_credentials grant against the token endpoint
// over HTTP, with HTTP Basic client authentication, and returns the access
// token.
func (i *Issuer) FetchToken(ctx context.Context, clientID, secret string, scopes ...string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, i.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := i.srv.Client().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Error       string `json:"error"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return "", fmt.Errorf("token endpoint answered %s: %w", resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token endpoint answered %s: %s", resp.Status, tr.Error)
	}
	if tr.AccessToken == "" || !strings.EqualFold(tr.TokenType, "Bearer") {
		return "", errors.New("token endpoint answered without a bearer access token")
	}
	return tr.AccessToken, nil
}

// --- helpers ---

func newPrivateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case RS256, PS256:
		if k, err := pooledRSAKey(); k != nil || err != nil {
			return k, err
		}
		return rsa.GenerateKey(rand.Reader, 2048)
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return nil, fmt.Errorf("unsupported alg %q", alg)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
