package oidctest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/signpost-fhir/signpost/internal/oidctest"
)

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

func jwks(t *testing.T, iss *oidctest.Issuer) jose.JSONWebKeySet {
	t.Helper()
	var set jose.JSONWebKeySet
	if code := getJSON(t, iss.JWKSURL(), &set); code != http.StatusOK {
		t.Fatalf("jwks: %d", code)
	}
	return set
}

func header(t *testing.T, token string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// verify checks token against the published keys, as a relying party would.
func verify(t *testing.T, iss *oidctest.Issuer, token string) (map[string]any, error) {
	t.Helper()
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.PS256})
	if err != nil {
		return nil, err
	}
	kid := jws.Signatures[0].Header.KeyID
	set := jwks(t, iss)
	keys := set.Key(kid)
	if len(keys) == 0 {
		return nil, errNoKey
	}
	payload, err := jws.Verify(&keys[0])
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	return claims, json.Unmarshal(payload, &claims)
}

type testErr string

func (e testErr) Error() string { return string(e) }

const errNoKey = testErr("no published key")

func TestDiscovery(t *testing.T) {
	iss := oidctest.New(t, oidctest.WithPath("/realms/signpost"))
	var doc map[string]any
	if code := getJSON(t, iss.URL()+"/.well-known/openid-configuration", &doc); code != http.StatusOK {
		t.Fatalf("discovery: %d", code)
	}
	if doc["issuer"] != iss.URL() || doc["jwks_uri"] != iss.JWKSURL() || doc["token_endpoint"] != iss.TokenURL() {
		t.Errorf("discovery document = %v", doc)
	}
	if !strings.HasSuffix(iss.URL(), "/realms/signpost") {
		t.Errorf("URL %q lacks the path", iss.URL())
	}
	set := jwks(t, iss)
	var algs []string
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Errorf("key %s is not public", k.KeyID)
		}
		algs = append(algs, k.Algorithm)
	}
	slices.Sort(algs)
	if want := []string{"ES256", "PS256", "RS256"}; !slices.Equal(algs, want) {
		t.Errorf("published algs = %v, want %v", algs, want)
	}
	if iss.DiscoveryFetches() != 1 || iss.JWKSFetches() != 1 {
		t.Errorf("fetch counts = %d, %d", iss.DiscoveryFetches(), iss.JWKSFetches())
	}
}

func TestTokenDefaultsAndOptions(t *testing.T) {
	iss := oidctest.New(t)
	for _, alg := range []string{oidctest.RS256, oidctest.ES256, oidctest.PS256} {
		tok := iss.Token(map[string]any{"ods": "A81001"}, oidctest.Alg(alg), oidctest.Audience("a", "b"))
		claims, err := verify(t, iss, tok)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if h := header(t, tok); h["alg"] != alg || h["kid"] != iss.KeyID(alg) || h["typ"] != "at+jwt" {
			t.Errorf("%s header = %v", alg, h)
		}
		if claims["iss"] != iss.URL() || claims["sub"] != oidctest.DefaultSubject || claims["ods"] != "A81001" {
			t.Errorf("%s claims = %v", alg, claims)
		}
		if aud, _ := claims["aud"].([]any); len(aud) != 2 {
			t.Errorf("%s aud = %v", alg, claims["aud"])
		}
	}
	claims := iss.Claims(map[string]any{"exp": 1}, oidctest.Without("exp", "jti"))
	if _, ok := claims["exp"]; ok {
		t.Errorf("Without(exp) kept exp: %v", claims)
	}
}

func TestRotate(t *testing.T) {
	iss := oidctest.New(t)
	before := iss.Token(nil)
	retired, current := iss.Rotate()
	if retired == current || iss.KeyID(oidctest.RS256) != current {
		t.Fatalf("Rotate = %s, %s; KeyID = %s", retired, current, iss.KeyID(oidctest.RS256))
	}
	set := jwks(t, iss)
	if len(set.Key(retired)) != 0 || len(set.Key(current)) != 1 {
		t.Errorf("after rotation the JWKS has %d of the retired and %d of the new key", len(set.Key(retired)), len(set.Key(current)))
	}
	if _, err := verify(t, iss, iss.Token(nil)); err != nil {
		t.Errorf("token with the new key: %v", err)
	}
	if _, err := verify(t, iss, before); err == nil {
		t.Error("token with the retired key still verifies against the JWKS")
	}
	if _, err := verify(t, iss, iss.Token(nil, oidctest.KeyID(retired))); err == nil {
		t.Error("token signed with the retired kid verifies")
	}
}

func TestBadTokensAreOnlyBadInOneWay(t *testing.T) {
	iss := oidctest.New(t)
	for _, kind := range oidctest.BadKinds {
		t.Run(kind.String(), func(t *testing.T) {
			tok := iss.BadToken(kind, map[string]any{"ods": "A81001"})
			if strings.Count(tok, ".") != 2 {
				t.Fatalf("not a compact JWS: %d dots", strings.Count(tok, "."))
			}
			h := header(t, tok)
			claims, err := verify(t, iss, tok)
			switch kind {
			case oidctest.AlgNone:
				if h["alg"] != "none" || !strings.HasSuffix(tok, ".") || err == nil {
					t.Errorf("alg none: header %v, err %v", h, err)
				}
			case oidctest.HS256PublicKey:
				if h["alg"] != "HS256" || h["kid"] != iss.KeyID(oidctest.RS256) || err == nil {
					t.Errorf("HS256: header %v, err %v", h, err)
				}
			case oidctest.TamperedPayload, oidctest.UnknownKid, oidctest.ForeignKey:
				if err == nil {
					t.Errorf("%s verifies against the JWKS", kind)
				}
			default:
				// Signed correctly; the defect is in the claims.
				if err != nil {
					t.Fatalf("signature: %v", err)
				}
				if claims["ods"] != "A81001" {
					t.Errorf("claims lost: %v", claims)
				}
			}
		})
	}
}

func TestClientCredentials(t *testing.T) {
	iss := oidctest.New(t, oidctest.WithClient(oidctest.Client{
		ID: "connector", Secret: "s3cret", Scopes: []string{"system/Task.cruds", "system/ServiceRequest.rs"},
		Claims: map[string]any{"ods": []string{"A81001"}, "iss": "ignored"},
	}))
	ctx := context.Background()
	tok, err := iss.FetchToken(ctx, "connector", "s3cret", "system/Task.cruds")
	if err != nil {
		t.Fatal(err)
	}
	claims, err := verify(t, iss, tok)
	if err != nil {
		t.Fatal(err)
	}
	if claims["client_id"] != "connector" || claims["sub"] != "connector" || claims["scope"] != "system/Task.cruds" || claims["iss"] != iss.URL() {
		t.Errorf("claims = %v", claims)
	}
	if tok, err := iss.FetchToken(ctx, "connector", "s3cret"); err != nil {
		t.Error(err)
	} else if c, _ := verify(t, iss, tok); c["scope"] != "system/Task.cruds system/ServiceRequest.rs" {
		t.Errorf("default scope = %v", c["scope"])
	}
	for name, call := range map[string]func() error{
		"wrong secret":  func() error { _, err := iss.FetchToken(ctx, "connector", "nope"); return err },
		"unknown":       func() error { _, err := iss.FetchToken(ctx, "stranger", "s3cret"); return err },
		"invalid scope": func() error { _, err := iss.FetchToken(ctx, "connector", "s3cret", "system/*.cruds"); return err },
	} {
		if err := call(); err == nil {
			t.Errorf("%s: token issued", name)
		}
	}
}

func TestUnavailable(t *testing.T) {
	iss := oidctest.New(t)
	iss.SetUnavailable(true)
	var doc map[string]any
	if code := getJSON(t, iss.URL()+"/.well-known/openid-configuration", &doc); code != http.StatusServiceUnavailable {
		t.Errorf("down: %d", code)
	}
	iss.SetUnavailable(false)
	if code := getJSON(t, iss.URL()+"/.well-known/openid-configuration", &doc); code != http.StatusOK {
		t.Errorf("up: %d", code)
	}
}

func TestNoKeyID(t *testing.T) {
	iss := oidctest.New(t)
	tok := iss.Token(nil, oidctest.NoKeyID(), oidctest.Alg(oidctest.ES256))
	if h := header(t, tok); h["kid"] != nil || h["alg"] != "ES256" {
		t.Errorf("header = %v", h)
	}
}
