// Package oidctest runs a real OpenID Connect issuer inside the test
// process, so tests of token verification exercise the same code paths as
// production: discovery over HTTP, a JWKS fetched over HTTP, real RSA and
// EC signatures, key rotation, and an OAuth 2.0 token endpoint. There is no
// bypass flag anywhere in Signpost; tests get their tokens from here.
//
// An Issuer is an httptest.Server on loopback serving
//
//	GET  /.well-known/openid-configuration  discovery document
//	GET  /jwks                               published public keys
//	POST /token                              client_credentials grant
//	GET  /authorize                          advertised only; answers 400
//
// It starts with one published key per algorithm (RS256, ES256, PS256).
// Token mints a signed access token with sensible defaults (iss, aud, sub,
// iat, exp) overridden by the claims given and by TokenOptions; BadToken
// mints each kind of token a verifier must refuse (expired, not yet valid,
// wrong issuer or audience, alg none, HS256 keyed with the RSA public key,
// tampered payload, unknown kid, a known kid signed by another key, no
// expiry). Rotate publishes a new key and retires the old one, whose
// private half is kept so tests can show that its tokens stop verifying.
// SetUnavailable makes every endpoint answer 503, to test an issuer that
// is down.
//
// Clocks are real: tokens are minted relative to time.Now, and the
// verifier's clock skew is what makes near-boundary tokens pass or fail.
//
// This package is for tests only. It imports go-jose (already a dependency
// of go-oidc) and no Signpost package.
package oidctest
