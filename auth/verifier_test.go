package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/internal/oidctest"
)

var navigator = map[string]any{
	"scope": "system/Task.cruds user/ServiceRequest.rs openid",
	"ods":   "A81001",
	"tier":  "enhanced",
	"role":  []any{"navigator"},
}

func TestVerifyAcceptsValidTokens(t *testing.T) {
	iss := oidctest.New(t, oidctest.WithClient(oidctest.Client{
		ID: "connector", Secret: "s3cret", Scopes: []string{"system/Task.cruds"},
		Claims: map[string]any{"ods": []string{"A81001", "A81002"}},
	}))
	v := newVerifier(t, nil, iss)
	ctx := context.Background()
	now := time.Now()
	fetched, err := iss.FetchToken(ctx, "connector", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		token string
	}{
		{"RS256", iss.Token(navigator, oidctest.Alg(oidctest.RS256))},
		{"ES256", iss.Token(navigator, oidctest.Alg(oidctest.ES256))},
		{"PS256", iss.Token(navigator, oidctest.Alg(oidctest.PS256))},
		{"audience among several", iss.Token(navigator, oidctest.Audience("https://other.invalid", oidctest.DefaultAudience))},
		{"expired within the skew", iss.Token(navigator, oidctest.ExpiresAt(now.Add(-30*time.Second)))},
		{"nbf within the skew", iss.Token(navigator, oidctest.NotBefore(now.Add(30*time.Second)))},
		{"iat within the skew", iss.Token(navigator, oidctest.IssuedAt(now.Add(30*time.Second)))},
		{"no kid, ES256", iss.Token(navigator, oidctest.NoKeyID(), oidctest.Alg(oidctest.ES256))},
		{"no kid, RS256", iss.Token(navigator, oidctest.NoKeyID())},
		{"client credentials over HTTP", fetched},
		{"surrounding spaces", "  " + iss.Token(navigator) + " "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(ctx, tc.token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.Issuer != iss.URL() || p.Subject == "" || p.Expiry.IsZero() || p.Dev {
				t.Errorf("principal = %+v", p)
			}
			if !p.Allows("Task", auth.Create) {
				t.Errorf("scopes %v do not allow Task create", p.Scopes)
			}
		})
	}

	p, err := v.Verify(ctx, iss.Token(navigator))
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != oidctest.DefaultSubject || p.Tier != auth.TierEnhanced || !p.HasRole(auth.RoleNavigator) ||
		!slices.Equal(p.ODS, []string{"A81001"}) || !slices.Equal(p.OtherScopes, []string{"openid"}) || len(p.Scopes) != 2 {
		t.Errorf("navigator principal = %+v", p)
	}
	p, err = v.Verify(ctx, fetched)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "connector" || p.ClientID != "connector" || !slices.Equal(p.ODS, []string{"A81001", "A81002"}) {
		t.Errorf("client principal = %+v", p)
	}
}

func TestVerifyRejects(t *testing.T) {
	iss := oidctest.New(t)
	other := oidctest.New(t) // a real issuer Signpost does not trust
	v := newVerifier(t, nil, iss)
	ctx := context.Background()

	reasons := map[oidctest.BadKind]string{
		oidctest.Expired:         "expired",
		oidctest.NotYetValid:     "not valid yet",
		oidctest.WrongIssuer:     "issuer is not trusted",
		oidctest.WrongAudience:   "audience",
		oidctest.AlgNone:         "algorithm is not accepted",
		oidctest.HS256PublicKey:  "algorithm is not accepted",
		oidctest.TamperedPayload: "signature is not valid",
		oidctest.UnknownKid:      "key is not published",
		oidctest.ForeignKey:      "signature is not valid",
		oidctest.NoExpiry:        "no valid expiry",
	}
	for _, kind := range oidctest.BadKinds {
		t.Run(kind.String(), func(t *testing.T) {
			tok := iss.BadToken(kind, navigator)
			p, err := v.Verify(ctx, tok)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			wantCode(t, err, fhir.CodeLogin, reasons[kind], tok)
		})
	}

	now := time.Now()
	hsRandom := func() string {
		key := []byte(strings.Repeat("k", 32))
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key}, nil)
		if err != nil {
			t.Fatal(err)
		}
		claims, _ := json.Marshal(iss.Claims(navigator))
		jws, _ := s.Sign(claims)
		out, _ := jws.CompactSerialize()
		return out
	}()
	jsonSerialised := func() string {
		tok := iss.Token(navigator)
		parts := strings.Split(tok, ".")
		b, _ := json.Marshal(map[string]string{"protected": parts[0], "payload": parts[1], "signature": parts[2]})
		return string(b)
	}()
	for _, tc := range []struct {
		name, token, reason string
	}{
		{"empty", "", "missing"},
		{"garbage", "not-a-token", "not a signed JWT"},
		{"two parts", "a.b", "not a signed JWT"},
		{"bad base64", "!!.??.**", "not a signed JWT"},
		{"JWS JSON serialisation", jsonSerialised, "not a signed JWT"},
		{"too large", strings.Repeat("a", 20000), "too large"},
		{"HS256 with some secret", hsRandom, "algorithm is not accepted"},
		{"untrusted issuer", other.Token(navigator), "issuer is not trusted"},
		{"trusted iss, signed by an untrusted issuer", other.Token(navigator, oidctest.IssuerClaim(iss.URL())), "key is not published"},
		{"expired just beyond the skew", iss.Token(navigator, oidctest.ExpiresAt(now.Add(-61*time.Second))), "expired"},
		{"nbf just beyond the skew", iss.Token(navigator, oidctest.NotBefore(now.Add(90*time.Second))), "not valid yet"},
		{"issued in the future", iss.Token(navigator, oidctest.IssuedAt(now.Add(10*time.Minute))), "issued in the future"},
		{"exp as a string", iss.Token(with(navigator, "exp", "2099-01-01")), "not valid"},
		{"nbf as a string", iss.Token(with(navigator, "nbf", "soon")), "not valid"},
		{"no audience", iss.Token(navigator, oidctest.Without("aud")), "audience"},
		{"no subject nor client", iss.Token(navigator, oidctest.Without("sub")), "no subject"},
		{"iss missing", iss.Token(navigator, oidctest.Without("iss")), "issuer is not trusted"},
		{"iss with a trailing slash", iss.Token(navigator, oidctest.IssuerClaim(iss.URL()+"/")), "issuer is not trusted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(ctx, tc.token)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			wantCode(t, err, fhir.CodeLogin, tc.reason, tc.token)
		})
	}
}

func TestRotationMidTest(t *testing.T) {
	iss := oidctest.New(t)
	clk := &clock{}
	v := newVerifier(t, func(c *auth.Config) { c.Now = clk.Now }, iss)
	ctx := context.Background()
	fetches := iss.JWKSFetches()

	before := iss.Token(navigator)
	if _, err := v.Verify(ctx, before); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	retired, current := iss.Rotate()

	// Right after the last fetch a new kid does not fetch again: that is
	// what keeps forged kids from hammering the issuer.
	fresh := iss.Token(navigator)
	_, err := v.Verify(ctx, fresh)
	wantCode(t, err, fhir.CodeLogin, "key is not published", fresh)
	if got := iss.JWKSFetches() - fetches; got != 0 {
		t.Errorf("%d JWKS fetches within the refresh interval", got)
	}

	clk.Advance(auth.DefaultKeyRefreshInterval + time.Second)
	p, err := v.Verify(ctx, fresh)
	if err != nil {
		t.Fatalf("token with the new kid %s after rotation: %v", current, err)
	}
	if p.Subject != oidctest.DefaultSubject {
		t.Errorf("principal = %+v", p)
	}
	if got := iss.JWKSFetches() - fetches; got != 1 {
		t.Errorf("%d JWKS fetches for the new kid, want 1", got)
	}
	// The refetched JWKS no longer has the retired key.
	for name, tok := range map[string]string{
		"minted before rotation":                     before,
		"minted with the retired kid after rotation": iss.Token(navigator, oidctest.KeyID(retired)),
	} {
		_, err := v.Verify(ctx, tok)
		wantCode(t, err, fhir.CodeLogin, "key is not published", tok)
		_ = name
	}
	// Other algorithms' keys were untouched.
	if _, err := v.Verify(ctx, iss.Token(navigator, oidctest.Alg(oidctest.ES256))); err != nil {
		t.Errorf("ES256 after RS256 rotation: %v", err)
	}
}

func TestRetiredKeyExpiresFromCache(t *testing.T) {
	iss := oidctest.New(t)
	clk := &clock{}
	v := newVerifier(t, func(c *auth.Config) { c.Now = clk.Now }, iss)
	ctx := context.Background()
	kid := iss.KeyID(oidctest.ES256)
	iss.Retire(kid) // no new kid appears: only the cache age can notice
	tok := iss.Token(navigator, oidctest.Alg(oidctest.ES256))
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("cached key within KeyMaxAge: %v", err)
	}
	clk.Advance(auth.DefaultKeyMaxAge + time.Second)
	_, err := v.Verify(ctx, tok)
	wantCode(t, err, fhir.CodeLogin, "key is not published", tok)
}

func TestTwoIssuers(t *testing.T) {
	users := oidctest.New(t, oidctest.WithPath("/realms/practices"))
	systems := oidctest.New(t, oidctest.WithClient(oidctest.Client{
		ID: "ehr-connector", Secret: "pw", Scopes: []string{"system/Task.cruds"}, Claims: map[string]any{"ods": "B82002"},
	}))
	v := newVerifier(t, nil, users, systems)
	ctx := context.Background()

	p, err := v.Verify(ctx, users.Token(navigator, oidctest.Alg(oidctest.ES256)))
	if err != nil || p.Issuer != users.URL() {
		t.Fatalf("user issuer: %+v, %v", p, err)
	}
	tok, err := systems.FetchToken(ctx, "ehr-connector", "pw")
	if err != nil {
		t.Fatal(err)
	}
	p, err = v.Verify(ctx, tok)
	if err != nil || p.Issuer != systems.URL() || p.ClientID != "ehr-connector" || !p.CanSeePractice("B82002") {
		t.Fatalf("system issuer: %+v, %v", p, err)
	}
	// Each issuer's keys verify only its own tokens.
	cross := users.Token(navigator, oidctest.IssuerClaim(systems.URL()))
	_, err = v.Verify(ctx, cross)
	wantCode(t, err, fhir.CodeLogin, "key is not published", cross)
	if got := v.Issuers(); !slices.Equal(got, []string{users.URL(), systems.URL()}) {
		t.Errorf("Issuers = %v", got)
	}
	if err := v.Ready(); err != nil {
		t.Errorf("Ready: %v", err)
	}
}

func TestIssuerDownAtStart(t *testing.T) {
	up := oidctest.New(t)
	down := oidctest.New(t)
	down.SetUnavailable(true)
	clk := &clock{}
	v := newVerifier(t, func(c *auth.Config) { c.Now = clk.Now }, up, down)
	ctx := context.Background()
	if v.Ready() == nil {
		t.Error("Ready with an issuer down")
	}
	if _, err := v.Verify(ctx, up.Token(navigator)); err != nil {
		t.Errorf("the other issuer's tokens: %v", err)
	}

	tok := down.Token(navigator)
	_, err := v.Verify(ctx, tok)
	wantCode(t, err, fhir.CodeTransient, "cannot be reached", tok)

	down.SetUnavailable(false)
	fetches := down.DiscoveryFetches()
	_, err = v.Verify(ctx, tok)
	wantCode(t, err, fhir.CodeTransient, "cannot be reached", tok)
	if down.DiscoveryFetches() != fetches {
		t.Error("discovery retried within DiscoveryRetry")
	}

	clk.Advance(auth.DefaultDiscoveryRetry + time.Second)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("after the issuer came back: %v", err)
	}
	if err := v.Ready(); err != nil {
		t.Errorf("Ready after recovery: %v", err)
	}
}

func TestDiscoveryTimeoutBoundsStartUp(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	start := time.Now()
	v, err := auth.NewVerifier(context.Background(), auth.Config{
		Issuers: []string{hang.URL}, Audience: "x", DiscoveryTimeout: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("NewVerifier took %v with a 200ms discovery timeout", d)
	}
	if v.Ready() == nil {
		t.Error("Ready with a hanging issuer")
	}
}

func TestNewVerifierRejectsBadConfig(t *testing.T) {
	iss := oidctest.New(t)
	for _, tc := range []struct {
		name string
		cfg  auth.Config
		want string
	}{
		{"no issuer", auth.Config{Audience: "a"}, "no issuer"},
		{"no audience", auth.Config{Issuers: []string{iss.URL()}}, "no audience"},
		{"plain http off loopback", auth.Config{Issuers: []string{"http://idp.example.com"}, Audience: "a"}, "https"},
		{"not a URL", auth.Config{Issuers: []string{"idp"}, Audience: "a"}, "absolute"},
		{"query", auth.Config{Issuers: []string{"https://idp.example.com?x=1"}, Audience: "a"}, "query"},
		{"twice", auth.Config{Issuers: []string{iss.URL(), iss.URL()}, Audience: "a"}, "twice"},
		{"skew too large", auth.Config{Issuers: []string{iss.URL()}, Audience: "a", ClockSkew: time.Hour}, "skew"},
		{"issuer mismatch", auth.Config{Issuers: []string{iss.URL() + "/"}, Audience: "a"}, "did not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth.NewVerifier(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if got := auth.SplitIssuers(" https://a.example , ,https://b.example/realm "); !slices.Equal(got, []string{"https://a.example", "https://b.example/realm"}) {
		t.Errorf("SplitIssuers = %q", got)
	}
}

func TestUnusableJWKS(t *testing.T) {
	// An issuer whose JWKS holds only keys Signpost must not use: an HMAC
	// key and an encryption key. None is taken; tokens are refused.
	iss := oidctest.New(t)
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "jwks_uri": srv.URL + "/jwks", "token_endpoint": srv.URL + "/token"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		k := base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("s", 32)))
		_, _ = w.Write([]byte(`{"keys":[{"kty":"oct","k":"` + k + `","alg":"HS256","kid":"h"}]}`))
	})
	srv = httptest.NewServer(mux)
	defer srv.Close()
	v, err := auth.NewVerifier(context.Background(), auth.Config{Issuers: []string{srv.URL}, Audience: oidctest.DefaultAudience})
	if err != nil {
		t.Fatal(err)
	}
	tok := iss.Token(navigator, oidctest.IssuerClaim(srv.URL))
	_, err = v.Verify(context.Background(), tok)
	wantCode(t, err, fhir.CodeTransient, "", tok)
}

func TestConcurrentVerifyDuringRotation(t *testing.T) {
	iss := oidctest.New(t)
	// No refresh limit here: every goroutine that meets the new kid may
	// ask for a fetch, and the fetches must still be shared, not repeated.
	v := newVerifier(t, func(c *auth.Config) { c.KeyRefreshInterval = -1 }, iss)
	ctx := context.Background()
	old := iss.Token(navigator)
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}
	_, current := iss.Rotate()
	fresh := iss.Token(navigator)
	fetches := iss.JWKSFetches()
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			_, err := v.Verify(ctx, fresh)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("token with new kid %s: %v", current, err)
		}
	}
	if n := iss.JWKSFetches() - fetches; n < 1 || n > 2 {
		t.Errorf("%d JWKS fetches for 32 concurrent tokens with one new kid", n)
	}
}
