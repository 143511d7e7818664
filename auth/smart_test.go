package auth_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/internal/oidctest"
)

func TestSMARTConfigurationFromDiscovery(t *testing.T) {
	users := oidctest.New(t)
	systems := oidctest.New(t)
	v := newVerifier(t, nil, users, systems)
	c, err := v.SMARTConfiguration(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The first configured issuer is the one advertised.
	if c.Issuer != users.URL() || c.TokenEndpoint != users.TokenURL() || c.AuthorizationEndpoint != users.AuthorizationURL() || c.JWKSURI != users.JWKSURL() {
		t.Errorf("endpoints = %+v", c)
	}
	if !slices.Equal(c.GrantTypesSupported, []string{"client_credentials", "authorization_code"}) {
		t.Errorf("grant types = %v", c.GrantTypesSupported)
	}
	for _, want := range []string{"permission-v1", "permission-v2", "client-confidential-symmetric", "launch-standalone", "sso-openid-connect"} {
		if !slices.Contains(c.Capabilities, want) {
			t.Errorf("capabilities %v lack %s", c.Capabilities, want)
		}
	}
	if !slices.Equal(c.CodeChallengeMethodsSupported, []string{"S256"}) || !slices.Contains(c.ScopesSupported, "system/*.cruds") {
		t.Errorf("config = %+v", c)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	_ = json.Unmarshal(b, &doc)
	for _, member := range []string{"issuer", "jwks_uri", "authorization_endpoint", "token_endpoint", "grant_types_supported", "capabilities", "code_challenge_methods_supported", "scopes_supported"} {
		if _, ok := doc[member]; !ok {
			t.Errorf("JSON lacks %s: %s", member, b)
		}
	}
}

func TestSMARTConfigurationIssuerDown(t *testing.T) {
	iss := oidctest.New(t)
	iss.SetUnavailable(true)
	v := newVerifier(t, nil, iss)
	_, err := v.SMARTConfiguration(context.Background())
	wantCode(t, err, fhir.CodeTransient, "", "")
}

func TestNewSMARTConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name      string
		meta      auth.IssuerMetadata
		grants    []string
		caps      []string
		notCaps   []string
		challenge []string
	}{
		{
			name:    "client credentials only, private_key_jwt",
			meta:    auth.IssuerMetadata{Issuer: "https://idp", TokenEndpoint: "https://idp/token", GrantTypesSupported: []string{"client_credentials", "implicit", "password"}, TokenEndpointAuthMethodsSupported: []string{"private_key_jwt"}},
			grants:  []string{"client_credentials"},
			caps:    []string{"client-confidential-asymmetric", "permission-v2"},
			notCaps: []string{"launch-standalone", "client-confidential-symmetric", "client-public"},
		},
		{
			name:      "no grant types listed: RFC 8414 default",
			meta:      auth.IssuerMetadata{Issuer: "https://idp", AuthorizationEndpoint: "https://idp/auth", TokenEndpoint: "https://idp/token", TokenEndpointAuthMethodsSupported: []string{"none"}, CodeChallengeMethodsSupported: []string{"plain", "S256"}},
			grants:    []string{"authorization_code"},
			caps:      []string{"launch-standalone", "client-public", "permission-user"},
			challenge: []string{"S256"},
		},
		{
			name:   "refresh tokens",
			meta:   auth.IssuerMetadata{Issuer: "https://idp", AuthorizationEndpoint: "https://idp/auth", TokenEndpoint: "https://idp/token", GrantTypesSupported: []string{"authorization_code", "refresh_token"}},
			grants: []string{"authorization_code", "refresh_token"},
			caps:   []string{"permission-offline"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := auth.NewSMARTConfiguration(tc.meta)
			if !slices.Equal(c.GrantTypesSupported, tc.grants) {
				t.Errorf("grants = %v, want %v", c.GrantTypesSupported, tc.grants)
			}
			for _, want := range tc.caps {
				if !slices.Contains(c.Capabilities, want) {
					t.Errorf("capabilities %v lack %s", c.Capabilities, want)
				}
			}
			for _, not := range tc.notCaps {
				if slices.Contains(c.Capabilities, not) {
					t.Errorf("capabilities %v have %s", c.Capabilities, not)
				}
			}
			if tc.challenge == nil {
				tc.challenge = []string{}
			}
			if !slices.Equal(c.CodeChallengeMethodsSupported, tc.challenge) {
				t.Errorf("code challenge methods = %v, want %v", c.CodeChallengeMethodsSupported, tc.challenge)
			}
			if !slices.Equal(c.ScopesSupported, auth.SignpostScopes) {
				t.Errorf("scopes = %v", c.ScopesSupported)
			}
		})
	}
}
