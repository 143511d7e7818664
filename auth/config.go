package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of Config; a zero field takes these.
const (
	DefaultClockSkew          = 60 * time.Second
	DefaultDiscoveryTimeout   = 10 * time.Second
	DefaultDiscoveryRetry     = 30 * time.Second
	DefaultKeyRefreshInterval = 5 * time.Second
	DefaultKeyMaxAge          = 15 * time.Minute
	DefaultHTTPTimeout        = 10 * time.Second
)

// ClaimNames are the names of the token claims Signpost reads. A name with
// dots that is not itself a top-level claim is followed as a path through
// nested objects ("realm_access.roles" for Keycloak's realm roles).
type ClaimNames struct {
	// Scope: SMART scopes, a space-separated string (RFC 9068) or an array
	// of strings. Default "scope".
	Scope string
	// ODS: the practice ODS code(s) the caller acts for: one code, an
	// array of codes, or codes in one string separated by spaces or
	// commas. Default "ods".
	ODS string
	// Tier: the navigator tier, "essential", "enhanced" or "expert".
	// Default "tier".
	Tier string
	// Role: roles, in the same forms as ODS. Default "role".
	Role string
	// Publisher: the directory publisher scope, in the same forms as ODS;
	// each entry is an ODS code or an identifier system URI (see
	// PublisherScope). Default "publisher".
	Publisher string
	// ClientID: the OAuth client the token was issued to. Default
	// "client_id" (RFC 9068); "azp" is read when it is absent.
	ClientID string
}

// DefaultClaimNames are the claim names used when Config.Claims leaves a
// name empty.
func DefaultClaimNames() ClaimNames {
	return ClaimNames{Scope: "scope", ODS: "ods", Tier: "tier", Role: "role", Publisher: "publisher", ClientID: "client_id"}
}

func (c ClaimNames) withDefaults() ClaimNames {
	d := DefaultClaimNames()
	for _, f := range []struct{ v, def *string }{
		{&c.Scope, &d.Scope}, {&c.ODS, &d.ODS}, {&c.Tier, &d.Tier},
		{&c.Role, &d.Role}, {&c.Publisher, &d.Publisher}, {&c.ClientID, &d.ClientID},
	} {
		if *f.v == "" {
			*f.v = *f.def
		}
	}
	return c
}

// Config configures a Verifier. Only Issuers and Audience are required.
type Config struct {
	// Issuers are the trusted issuer identifiers, each exactly as it
	// appears in the iss claim and in its discovery document (a trailing
	// slash matters). https is required except on loopback hosts.
	Issuers []string
	// Audience must appear in every token's aud: the identifier the
	// issuers use for Signpost (typically its FHIR base URL).
	Audience string
	// Claims names the claims read into a Principal.
	Claims ClaimNames
	// ClockSkew is the leeway on exp, nbf and iat (default 60s).
	ClockSkew time.Duration
	// DiscoveryTimeout bounds each discovery attempt, at start and on each
	// lazy retry (default 10s).
	DiscoveryTimeout time.Duration
	// DiscoveryRetry is the least time between discovery attempts for an
	// issuer that was down (default 30s); tokens from it are answered with
	// 503 in between.
	DiscoveryRetry time.Duration
	// KeyRefreshInterval is the least time between JWKS fetches an issuer
	// gets (default 5s): a token with an unknown kid triggers a fetch only
	// when the last one is older, so a flood of forged kids cannot turn
	// into a flood of requests to the issuer. A negative value removes the
	// limit.
	KeyRefreshInterval time.Duration
	// KeyMaxAge is how long fetched keys are used before the JWKS is
	// fetched again (default 15m), so a key the issuer retired stops
	// verifying tokens within that time even when no new kid appears.
	KeyMaxAge time.Duration
	// HTTPClient fetches discovery documents and key sets. Default: a
	// client with a 10s timeout.
	HTTPClient *http.Client
	// Logger receives discovery and key-fetch events (never tokens).
	Logger *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	c.Claims = c.Claims.withDefaults()
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if c.DiscoveryTimeout == 0 {
		c.DiscoveryTimeout = DefaultDiscoveryTimeout
	}
	if c.DiscoveryRetry == 0 {
		c.DiscoveryRetry = DefaultDiscoveryRetry
	}
	if c.KeyRefreshInterval == 0 {
		c.KeyRefreshInterval = DefaultKeyRefreshInterval
	}
	if c.KeyRefreshInterval < 0 {
		c.KeyRefreshInterval = 0
	}
	if c.KeyMaxAge == 0 {
		c.KeyMaxAge = DefaultKeyMaxAge
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if len(c.Issuers) == 0 {
		errs = append(errs, errors.New("no issuer configured"))
	}
	seen := map[string]bool{}
	for _, iss := range c.Issuers {
		if seen[iss] {
			errs = append(errs, fmt.Errorf("issuer %q is listed twice", iss))
		}
		seen[iss] = true
		if err := validateIssuerURL(iss); err != nil {
			errs = append(errs, err)
		}
	}
	// An empty audience would accept a token minted for any other service
	// of the same issuer (the confused deputy), so it is required.
	if strings.TrimSpace(c.Audience) == "" {
		errs = append(errs, errors.New("no audience configured"))
	}
	if c.ClockSkew < 0 || c.ClockSkew > 5*time.Minute {
		errs = append(errs, fmt.Errorf("clock skew %v is outside 0..5m", c.ClockSkew))
	}
	if c.DiscoveryTimeout < 0 || c.DiscoveryRetry < 0 || c.KeyMaxAge < 0 {
		errs = append(errs, errors.New("timeouts and intervals must not be negative"))
	}
	return errors.Join(errs...)
}

func validateIssuerURL(iss string) error {
	u, err := url.Parse(iss)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("issuer %q is not an absolute URL", iss)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("issuer %q must not have a query, fragment or user info", iss)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("issuer %q must use https (http is allowed on loopback only)", iss)
	}
	return fmt.Errorf("issuer %q must use https", iss)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SplitIssuers reads the SIGNPOST_OIDC_ISSUER form: one URL, or several
// separated by commas (spaces around them are ignored, empty entries
// dropped).
func SplitIssuers(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
