package auth_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/internal/oidctest"
)

// everything is a token claim set that fills every slice and map of a
// Principal, so aliasing between copies would show.
var everything = map[string]any{
	"scope":     "system/Task.cruds user/Observation.rs?category=laboratory openid launch",
	"ods":       []any{"A81001", "B82002"},
	"tier":      "expert",
	"role":      []any{"navigator", "publisher"},
	"publisher": []any{"QWE", "https://dir.example.nhs.uk/service-id"},
	"client_id": "ehr",
}

func TestVerifyCacheSkipsSignatureCheck(t *testing.T) {
	iss, clk, v := clockedVerifier(t)
	ctx := context.Background()

	tok := iss.Token(navigator)
	first, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	checks, fetches := v.SignatureChecks(), iss.JWKSFetches()
	for _, raw := range []string{tok, "  " + tok + "\t"} {
		again, err := v.Verify(ctx, raw)
		if err != nil {
			t.Fatalf("second Verify: %v", err)
		}
		if again == first {
			t.Error("the cache returned the same *Principal twice")
		}
		if !reflect.DeepEqual(again, first) {
			t.Errorf("cached principal = %+v, want %+v", again, first)
		}
	}
	if got := v.SignatureChecks() - checks; got != 0 {
		t.Errorf("%d signature checks for a cached token", got)
	}
	if got := iss.JWKSFetches() - fetches; got != 0 {
		t.Errorf("%d JWKS fetches for a cached token", got)
	}
	if n := v.CachedTokens(); n != 1 {
		t.Errorf("%d cached tokens, want 1", n)
	}

	// Up to five minutes later, still no signature check.
	clk.Advance(auth.VerifyCacheTTL - time.Second)
	if p, err := v.Verify(ctx, tok); err != nil || !reflect.DeepEqual(p, first) {
		t.Fatalf("cached token within %v: %+v, %v", auth.VerifyCacheTTL, p, err)
	}
	if got := v.SignatureChecks() - checks; got != 0 {
		t.Errorf("%d signature checks for a cached token", got)
	}
}

// TestVerifyCacheFiveMinutes: an issuer withdraws a key without
// publishing a new kid, so only the key set's age can notice (KeyMaxAge,
// one minute here). A cached token signed with that key is answered from
// the cache for five minutes at most, then verified again, and refused.
func TestVerifyCacheFiveMinutes(t *testing.T) {
	iss := oidctest.New(t)
	clk := &clock{}
	v := newVerifier(t, func(c *auth.Config) { c.Now = clk.Now; c.KeyMaxAge = time.Minute }, iss)
	ctx := context.Background()
	tok := iss.Token(navigator)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	iss.Retire(iss.KeyID(oidctest.RS256))
	checks, fetches := v.SignatureChecks(), iss.JWKSFetches()
	clk.Advance(auth.VerifyCacheTTL - 10*time.Second)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("cached token within %v: %v", auth.VerifyCacheTTL, err)
	}
	if v.SignatureChecks() != checks || iss.JWKSFetches() != fetches {
		t.Errorf("a cache hit checked the signature (%d) or fetched keys (%d)",
			v.SignatureChecks()-checks, iss.JWKSFetches()-fetches)
	}
	clk.Advance(10 * time.Second)
	_, err := v.Verify(ctx, tok)
	wantCode(t, err, fhir.CodeLogin, "key is not published", tok)
	if got := v.SignatureChecks() - checks; got != 1 {
		t.Errorf("%d signature checks after %v, want 1", got, auth.VerifyCacheTTL)
	}
}

// TestVerifyCacheDroppedWhenKeyWithdrawn: once a JWKS fetch shows a key
// gone, no cached token is accepted without being verified again.
func TestVerifyCacheDroppedWhenKeyWithdrawn(t *testing.T) {
	iss, clk, v := clockedVerifier(t)
	ctx := context.Background()
	rs := iss.Token(navigator)
	es := iss.Token(navigator, oidctest.Alg(oidctest.ES256))
	for _, tok := range []string{rs, es, rs, es} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.CachedTokens(); n != 2 {
		t.Fatalf("%d cached tokens, want 2", n)
	}
	retired, _ := iss.Rotate()
	clk.Advance(auth.DefaultKeyRefreshInterval + time.Second)
	if _, err := v.Verify(ctx, iss.Token(navigator)); err != nil { // new kid: fetch
		t.Fatalf("token with the new key: %v", err)
	}
	checks := v.SignatureChecks()
	_, err := v.Verify(ctx, rs)
	wantCode(t, err, fhir.CodeLogin, "key is not published", rs)
	forged := iss.Token(navigator, oidctest.KeyID(retired))
	_, err = v.Verify(ctx, forged)
	wantCode(t, err, fhir.CodeLogin, "key is not published", forged)
	if _, err := v.Verify(ctx, es); err != nil {
		t.Fatalf("ES256 token, its key still published: %v", err)
	}
	if got := v.SignatureChecks() - checks; got != 3 {
		t.Errorf("%d signature checks, want 3 (the cache was dropped)", got)
	}
}

func TestVerifyCacheNeverBeyondExpiry(t *testing.T) {
	iss, clk, v := clockedVerifier(t)
	uncached := newVerifier(t, func(c *auth.Config) { c.Now = clk.Now }, iss)
	uncached.SetCacheMax(0)
	ctx := context.Background()

	tok := iss.Token(navigator, oidctest.ExpiresIn(2*time.Minute))
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	checks := v.SignatureChecks()
	clk.Advance(time.Minute)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("before exp: %v", err)
	}
	if got := v.SignatureChecks() - checks; got != 0 {
		t.Errorf("%d signature checks before exp", got)
	}
	// Past exp, within ClockSkew: accepted as before, but verified in full.
	clk.Advance(time.Minute + auth.DefaultClockSkew/2)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("past exp within the skew: %v", err)
	}
	if got := v.SignatureChecks() - checks; got != 1 {
		t.Errorf("%d signature checks past exp, want 1 (no cache hit)", got)
	}
	// Beyond the skew: refused exactly as without a cache.
	clk.Advance(auth.DefaultClockSkew)
	_, err := v.Verify(ctx, tok)
	wantCode(t, err, fhir.CodeLogin, "token has expired", tok)
	_, want := uncached.Verify(ctx, tok)
	if err == nil || want == nil || err.Error() != want.Error() {
		t.Errorf("expired token: error %v, without the cache %v", err, want)
	}
}

func TestVerifyCacheRespectsNotBefore(t *testing.T) {
	iss, clk, v := clockedVerifier(t)
	ctx := context.Background()
	// Valid now thanks to the skew; cached.
	tok := iss.Token(navigator, oidctest.NotBefore(time.Now().Add(30*time.Second)))
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	// A clock that goes back before nbf must not find it valid in the
	// cache.
	clk.Advance(-2 * time.Minute)
	_, err := v.Verify(ctx, tok)
	wantCode(t, err, fhir.CodeLogin, "not valid yet", tok)
}

func TestVerifyCacheKeepsNoFailures(t *testing.T) {
	iss, clk, v := clockedVerifier(t)
	ctx := context.Background()

	for _, kind := range oidctest.BadKinds {
		tok := iss.BadToken(kind, navigator)
		_, err1 := v.Verify(ctx, tok)
		_, err2 := v.Verify(ctx, tok)
		if err1 == nil || err2 == nil || err1.Error() != err2.Error() {
			t.Errorf("%s: first %v, then %v", kind, err1, err2)
		}
	}
	if n := v.CachedTokens(); n != 0 {
		t.Errorf("%d failed tokens cached", n)
	}

	// A token refused for a reason that goes away (a kid not fetched yet)
	// is accepted once it does: the refusal was not remembered.
	_, current := iss.Rotate()
	fresh := iss.Token(navigator)
	_, err := v.Verify(ctx, fresh)
	wantCode(t, err, fhir.CodeLogin, "key is not published", fresh)
	clk.Advance(auth.DefaultKeyRefreshInterval + time.Second)
	if _, err := v.Verify(ctx, fresh); err != nil {
		t.Fatalf("token with kid %s once fetched: %v", current, err)
	}

	// An issuer that was down: 503, then, when it is back, accepted.
	down := oidctest.New(t)
	down.SetUnavailable(true)
	v2 := newVerifier(t, func(c *auth.Config) { c.Now = clk.Now }, down)
	tok := down.Token(navigator)
	_, err = v2.Verify(ctx, tok)
	wantCode(t, err, fhir.CodeTransient, "cannot be reached", tok)
	down.SetUnavailable(false)
	clk.Advance(auth.DefaultDiscoveryRetry + time.Second)
	if _, err := v2.Verify(ctx, tok); err != nil {
		t.Fatalf("after the issuer came back: %v", err)
	}
}

func TestVerifyCacheReturnsCopies(t *testing.T) {
	iss := oidctest.New(t)
	v := newVerifier(t, nil, iss)
	ref := newVerifier(t, nil, iss)
	ref.SetCacheMax(0)
	ctx := context.Background()
	tok := iss.Token(everything)
	want, err := ref.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if want.Scopes[1].Query == nil || len(want.Publisher.Organizations) == 0 || len(want.OtherScopes) == 0 {
		t.Fatalf("the test token does not fill the principal: %+v", want)
	}

	mutate := func(p *auth.Principal) {
		p.Subject = "mallory"
		p.ODS[0] = "Z99999"
		p.ODS = append(p.ODS, "Y88888")
		p.Scopes[0].ResourceType = "*"
		p.Scopes[1].Query.Set("category", "anything")
		p.Scopes[1].Query["category"][0] = "x"
		p.Scopes = append(p.Scopes, p.Scopes[0])
		p.OtherScopes[0] = "admin"
		p.Roles[0] = auth.RoleAdmin
		p.Publisher.Organizations[0] = "NHS"
		p.Publisher.IdentifierSystems = append(p.Publisher.IdentifierSystems[:0], "urn:x")
		p.Tier = auth.TierNone
		p.AllPractices = true
	}
	first, err := v.Verify(ctx, tok) // miss: stored, and returned
	if err != nil {
		t.Fatal(err)
	}
	mutate(first)
	for i := range 3 {
		p, err := v.Verify(ctx, tok) // hits
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(p, want) {
			t.Fatalf("hit %d after mutating a returned principal:\n got %+v\nwant %+v", i, p, want)
		}
		mutate(p)
	}
}

func TestVerifyCacheBound(t *testing.T) {
	if auth.VerifyCacheMax != 10_000 || auth.VerifyCacheTTL != 5*time.Minute {
		t.Errorf("bounds %d, %v", auth.VerifyCacheMax, auth.VerifyCacheTTL)
	}
	iss, clk, v := clockedVerifier(t)
	v.SetCacheMax(3)
	ctx := context.Background()
	verify := func(tok string) {
		t.Helper()
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	short := iss.Token(navigator, oidctest.ExpiresIn(30*time.Second))
	t2, t3, t4, t5 := iss.Token(navigator), iss.Token(navigator), iss.Token(navigator), iss.Token(navigator)
	verify(short)
	verify(t2)
	verify(t3)
	if n := v.CachedTokens(); n != 3 {
		t.Fatalf("%d cached, want 3", n)
	}
	verify(t3) // a hit adds nothing
	if n := v.CachedTokens(); n != 3 {
		t.Fatalf("%d cached after a hit, want 3", n)
	}
	clk.Advance(31 * time.Second) // short's entry has expired
	verify(t4)                    // full: the expired entry goes
	if n := v.CachedTokens(); n != 3 {
		t.Errorf("%d cached after dropping the expired one, want 3", n)
	}
	checks := v.SignatureChecks()
	verify(t2) // still cached
	if v.SignatureChecks() != checks {
		t.Error("t2 was evicted with the expired entry")
	}
	verify(t5) // full, nothing expired: everything goes
	if n := v.CachedTokens(); n != 1 {
		t.Errorf("%d cached after the cache was emptied, want 1", n)
	}
	verify(t2)
	if v.SignatureChecks() != checks+2 {
		t.Errorf("%d signature checks, want t5 and t2 verified in full", v.SignatureChecks()-checks)
	}
}

func TestVerifyCacheConcurrent(t *testing.T) {
	iss := oidctest.New(t)
	clk := &clock{}
	v := newVerifier(t, func(c *auth.Config) { c.Now = clk.Now; c.KeyRefreshInterval = -1 }, iss)
	v.SetCacheMax(4) // small, so eviction runs concurrently with hits
	ctx := context.Background()
	const tokens = 6
	toks := make([]string, tokens)
	for i := range toks {
		toks[i] = iss.Token(navigator, oidctest.Subject(fmt.Sprintf("user-%d", i)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := range 16 {
		wg.Go(func() {
			for i := range 100 {
				n := (g + i) % tokens
				p, err := v.Verify(ctx, toks[n])
				if err != nil {
					errs <- err
					return
				}
				if want := fmt.Sprintf("user-%d", n); p.Subject != want || p.ODS[0] != "A81001" {
					errs <- fmt.Errorf("principal %+v, want subject %s", p, want)
					return
				}
				// Callers may change their copy.
				p.Subject = "changed"
				p.ODS[0] = "Z99999"
				p.Roles = append(p.Roles, auth.RoleAdmin)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			clk.Advance(time.Second)
			time.Sleep(time.Millisecond)
		}
	})
	// PS256 keys come and go meanwhile: each fetch that finds one gone
	// drops the cache under the others' feet.
	wg.Go(func() {
		for range 5 {
			kid := iss.AddKey(oidctest.PS256)
			if _, err := v.Verify(ctx, iss.Token(navigator, oidctest.Alg(oidctest.PS256))); err != nil {
				errs <- err
				return
			}
			iss.Retire(kid)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// clockedVerifier is a verifier of a new in-process issuer, on a clock the
// test moves.
func clockedVerifier(t *testing.T) (*oidctest.Issuer, *clock, *auth.Verifier) {
	t.Helper()
	iss := oidctest.New(t)
	clk := &clock{}
	return iss, clk, newVerifier(t, func(c *auth.Config) { c.Now = clk.Now }, iss)
}
