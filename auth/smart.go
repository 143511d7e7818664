package auth

import (
	"context"
	"slices"
)

// SMARTConfiguration is the document served at
// /.well-known/smart-configuration (SMART App Launch 2.x, "Conformance"):
// where clients get tokens for Signpost and what those tokens may say.
type SMARTConfiguration struct {
	Issuer                            string   `json:"issuer,omitempty"`
	JWKSURI                           string   `json:"jwks_uri,omitempty"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint,omitempty"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	ScopesSupported                   []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported            []string `json:"response_types_supported,omitempty"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint,omitempty"`
	RevocationEndpoint                string   `json:"revocation_endpoint,omitempty"`
	Capabilities                      []string `json:"capabilities"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
}

// SignpostScopes are the scopes advertised when the issuer lists none: the
// v2 and v1 wildcard forms Signpost understands. patient/ scopes are left
// out because they grant nothing here (see Scope.Restricted).
var SignpostScopes = []string{
	"system/*.cruds", "system/*.rs", "user/*.cruds", "user/*.rs",
	"system/*.read", "system/*.write", "system/*.*",
	"user/*.read", "user/*.write", "user/*.*",
}

// SMARTConfiguration builds the document from the first configured
// issuer's discovery metadata, discovering it now if it was down at start
// (a 503 fhir.Error when it still is). A SMART configuration names one
// authorization server; clients of the other issuers are set up out of
// band (typically system clients of a client-credentials issuer).
func (v *Verifier) SMARTConfiguration(ctx context.Context) (SMARTConfiguration, error) {
	d, err := v.order[0].get(ctx)
	if err != nil {
		return SMARTConfiguration{}, unavailable(err)
	}
	return NewSMARTConfiguration(d.meta), nil
}

// NewSMARTConfiguration derives the document from an issuer's metadata.
// Endpoints are the issuer's; grant types are those of authorization code,
// client credentials and refresh it lists (RFC 8414's default,
// authorization_code, when it lists none); capabilities follow from what
// it supports, plus permission-v1 and permission-v2, the scope syntaxes
// Signpost reads.
func NewSMARTConfiguration(meta IssuerMetadata) SMARTConfiguration {
	c := SMARTConfiguration{
		Issuer:                            meta.Issuer,
		JWKSURI:                           meta.JWKSURI,
		AuthorizationEndpoint:             meta.AuthorizationEndpoint,
		TokenEndpoint:                     meta.TokenEndpoint,
		TokenEndpointAuthMethodsSupported: slices.Clone(meta.TokenEndpointAuthMethodsSupported),
		ScopesSupported:                   slices.Clone(meta.ScopesSupported),
		ResponseTypesSupported:            slices.Clone(meta.ResponseTypesSupported),
		IntrospectionEndpoint:             meta.IntrospectionEndpoint,
		RevocationEndpoint:                meta.RevocationEndpoint,
		GrantTypesSupported:               []string{},
		CodeChallengeMethodsSupported:     []string{},
	}
	grants := meta.GrantTypesSupported
	if len(grants) == 0 {
		grants = []string{"authorization_code"}
	}
	for _, g := range grants {
		switch g {
		case "authorization_code", "client_credentials", "refresh_token":
			c.GrantTypesSupported = append(c.GrantTypesSupported, g)
		}
	}
	for _, m := range meta.CodeChallengeMethodsSupported {
		if m != "plain" { // SMART forbids advertising plain
			c.CodeChallengeMethodsSupported = append(c.CodeChallengeMethodsSupported, m)
		}
	}
	if len(c.ScopesSupported) == 0 {
		c.ScopesSupported = slices.Clone(SignpostScopes)
	}

	caps := []string{"permission-v1", "permission-v2", "sso-openid-connect"}
	authCode := slices.Contains(c.GrantTypesSupported, "authorization_code") && c.AuthorizationEndpoint != ""
	if authCode {
		caps = append(caps, "launch-standalone", "permission-user", "permission-online")
	}
	if slices.Contains(c.GrantTypesSupported, "refresh_token") {
		caps = append(caps, "permission-offline")
	}
	methods := meta.TokenEndpointAuthMethodsSupported
	if slices.Contains(methods, "client_secret_basic") || slices.Contains(methods, "client_secret_post") {
		caps = append(caps, "client-confidential-symmetric")
	}
	if slices.Contains(methods, "private_key_jwt") {
		caps = append(caps, "client-confidential-asymmetric")
	}
	if authCode && slices.Contains(methods, "none") {
		caps = append(caps, "client-public")
	}
	c.Capabilities = caps
	return c
}
