package auth_test

import (
	"context"
	"testing"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/internal/oidctest"
)

// BenchmarkVerify is the per-request cost of token verification with the
// issuer's keys cached: parsing, signature check, claims and Principal.
// The token cache is off, so every iteration verifies in full (see
// BenchmarkVerifyCached). It fails if any iteration fetched the JWKS.
func BenchmarkVerify(b *testing.B) {
	benchmarkVerify(b, func(v *auth.Verifier) { v.SetCacheMax(0) })
}

// BenchmarkVerifyCached is the cost of Verify for a token seen before: a
// hash, a cache lookup and a copy of the Principal.
func BenchmarkVerifyCached(b *testing.B) {
	benchmarkVerify(b, nil)
}

func benchmarkVerify(b *testing.B, setup func(*auth.Verifier)) {
	iss := oidctest.New(b)
	v := newVerifier(b, nil, iss)
	if setup != nil {
		setup(v)
	}
	ctx := context.Background()
	for _, alg := range []string{oidctest.RS256, oidctest.ES256, oidctest.PS256} {
		b.Run(alg, func(b *testing.B) {
			tok := iss.Token(navigator, oidctest.Alg(alg))
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
			fetches := iss.JWKSFetches()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
			if iss.JWKSFetches() != fetches {
				b.Fatalf("%d JWKS fetches during the benchmark", iss.JWKSFetches()-fetches)
			}
		})
	}
	b.Run("RS256-parallel", func(b *testing.B) {
		tok := iss.Token(navigator)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
