// Package auth decides who is calling and what they may do: it verifies
// OIDC bearer tokens with go-oidc and turns them into a Principal carrying
// SMART scopes, the practices (ODS codes) the caller acts for, the navigator
// tier, roles and the directory publisher scope. It knows nothing of HTTP
// routing: the gateway takes the token from the Authorization header, calls
// Verifier.Verify, and asks the Principal before every interaction.
//
// # Verification
//
// NewVerifier discovers each configured issuer (/.well-known/openid-
// configuration) and fetches its JWKS. Verify reads the token's iss
// (unverified) only to pick the issuer, then checks, in this order: the
// compact JWS form, the algorithm (RS256, ES256, PS256 only: never none,
// never HS*), the issuer is configured, the signature against that issuer's
// published keys, iss, the audience, and exp (required), nbf and iat with
// ClockSkew. Every failure is a *fhir.Error with code login (401) and a
// short reason safe to show, except an issuer or key set that cannot be
// reached, which is transient (503). Tokens never appear in errors or
// logs.
//
// Start-up never blocks on an issuer for longer than DiscoveryTimeout: an
// issuer that is down is logged and discovered lazily when a token names
// it, at most once per DiscoveryRetry. Keys are cached per issuer; a token
// with an unknown kid fetches the JWKS again (the issuer rotated), at most
// once per KeyRefreshInterval, and keys older than KeyMaxAge are fetched
// again so retired keys stop working (keyset.go says why this replaces
// go-oidc's RemoteKeySet).
//
// Successful verifications are cached (by the token's SHA-256, at most
// 10,000 tokens) for the earlier of the token's exp and five minutes, so
// a token sent with every request is not verified every time; failures
// are never cached (see Verifier).
//
// # Claims
//
// Claim names are configurable (ClaimNames); defaults are scope (space-
// separated string or array), ods (one code, an array, or codes separated
// by spaces or commas), tier (essential, enhanced, expert), role (navigator,
// clinician, admin, publisher, auditor; others ignored), publisher (ODS codes
// and identifier system URIs, see PublisherScope) and client_id (else azp).
// A dotted name reaches into nested objects. A malformed ods, tier,
// publisher or scope claim rejects the token rather than guessing.
//
// # Authorisation
//
// SMART App Launch scopes, v2 (system/Task.cruds, user/ServiceRequest.rs,
// system/*.rs) and v1 (system/Task.read, .write, .*; read = r+s, write =
// c+u+d), are parsed into Scope values. Principal.Allows answers scope
// questions; v2 scopes with parameters and patient/ scopes are parsed but
// grant nothing until Signpost enforces their restriction (Scope.Restricted).
// Principal.Authorize adds the type-level rules (patient data is closed to
// publishers and to callers with no practice; directory writes need the
// publisher role). Per-resource rules are the gateway's: CanSeePractice for
// tenancy (answer 404, not 403, for another practice's resource) and
// CanPublish for directory entries. IsPatientLinked lists the types under
// tenancy: the R4 Patient compartment plus Task.
//
// DevPrincipal is the caller in development mode: all scopes, all
// practices, all roles, Dev set. Nothing in a token can produce it.
//
// Who may change the configuration every practice shares (terminology,
// the directory's StructureDefinitions, Measures) is decided here too
// (sharedconfig.go: SharedConfigTypes, CheckSharedConfig).
//
// Tests use the real in-process issuer in internal/oidctest; there is no
// bypass flag.
//
// This package imports fhir (for fhir.Error) and go-oidc/go-jose. It must
// not import Gin, pgx, fhir/store or gateway.
package auth
