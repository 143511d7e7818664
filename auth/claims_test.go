package auth_test

import (
	"context"
	"slices"
	"testing"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/internal/oidctest"
)

func TestODSClaimForms(t *testing.T) {
	iss := oidctest.New(t)
	v := newVerifier(t, nil, iss)
	for _, tc := range []struct {
		name string
		ods  any
		want []string // nil with bad: rejected
		bad  bool
	}{
		{"one code", "A81001", []string{"A81001"}, false},
		{"lower case", "a81001", []string{"A81001"}, false},
		{"space-separated", "A81001 A81002", []string{"A81001", "A81002"}, false},
		{"comma-separated", "A81001,A81002", []string{"A81001", "A81002"}, false},
		{"comma and space", "A81001, A81002", []string{"A81001", "A81002"}, false},
		{"array", []any{"A81001", "A81002"}, []string{"A81001", "A81002"}, false},
		{"array of lists", []any{"A81001,A81002", "A81003"}, []string{"A81001", "A81002", "A81003"}, false},
		{"duplicates", []any{"A81001", "a81001"}, []string{"A81001"}, false},
		{"PCN and ICB codes", "U12345 QWE 15N", []string{"U12345", "QWE", "15N"}, false},
		{"null", nil, nil, false},
		{"empty string", "", nil, false},
		{"number", 81001, nil, true},
		{"array with a number", []any{"A81001", 5}, nil, true},
		{"too short", "A8", nil, true},
		{"punctuation", "A81001;B82002", nil, true},
		{"object", map[string]any{"code": "A81001"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := iss.Token(map[string]any{"scope": "system/Task.rs", "ods": tc.ods})
			p, err := v.Verify(context.Background(), tok)
			if tc.bad {
				if err == nil {
					t.Fatalf("accepted: ODS %v", p.ODS)
				}
				wantCode(t, err, fhir.CodeLogin, "ods claim is malformed", tok)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.ODS, tc.want) {
				t.Errorf("ODS = %q, want %q", p.ODS, tc.want)
			}
			for _, code := range tc.want {
				if !p.CanSeePractice(code) {
					t.Errorf("cannot see %s", code)
				}
			}
			if p.CanSeePractice("Z99999") {
				t.Error("sees a practice not in the token")
			}
		})
	}
}

func TestTierRoleAndPublisherClaims(t *testing.T) {
	iss := oidctest.New(t)
	v := newVerifier(t, nil, iss)
	for _, tc := range []struct {
		name   string
		claims map[string]any
		check  func(*testing.T, *auth.Principal)
		reason string // rejected when not empty
	}{
		{"tier case-insensitive", map[string]any{"tier": "Expert"}, func(t *testing.T, p *auth.Principal) {
			if p.Tier != auth.TierExpert {
				t.Errorf("tier = %q", p.Tier)
			}
		}, ""},
		{"no tier", map[string]any{}, func(t *testing.T, p *auth.Principal) {
			if p.Tier != auth.TierNone {
				t.Errorf("tier = %q", p.Tier)
			}
		}, ""},
		{"unknown tier", map[string]any{"tier": "guru"}, nil, "tier claim"},
		{"tier not a string", map[string]any{"tier": 3}, nil, "tier claim"},
		{"roles string, unknown ignored", map[string]any{"role": "navigator clinician other-app:editor"}, func(t *testing.T, p *auth.Principal) {
			if !slices.Equal(p.Roles, []auth.Role{auth.RoleNavigator, auth.RoleClinician}) {
				t.Errorf("roles = %v", p.Roles)
			}
		}, ""},
		{"roles array", map[string]any{"role": []any{"Auditor", "auditor", "admin"}}, func(t *testing.T, p *auth.Principal) {
			if !slices.Equal(p.Roles, []auth.Role{auth.RoleAuditor, auth.RoleAdmin}) || p.IsPublisher() {
				t.Errorf("roles = %v", p.Roles)
			}
		}, ""},
		{"roles not strings", map[string]any{"role": []any{1}}, nil, "role claim is malformed"},
		{"publisher scope", map[string]any{"role": "publisher", "publisher": []any{"qwe", "https://dir.example.nhs.uk/service-id", "urn:oid:2.16.840.1.113883.2.1.3.2.4.18.48"}}, func(t *testing.T, p *auth.Principal) {
			want := auth.PublisherScope{
				Organizations:     []string{"QWE"},
				IdentifierSystems: []string{"https://dir.example.nhs.uk/service-id", "urn:oid:2.16.840.1.113883.2.1.3.2.4.18.48"},
			}
			if !slices.Equal(p.Publisher.Organizations, want.Organizations) || !slices.Equal(p.Publisher.IdentifierSystems, want.IdentifierSystems) {
				t.Errorf("publisher = %+v", p.Publisher)
			}
			if !p.IsPublisher() || p.CanReadPatientData() {
				t.Errorf("publisher flags: %+v", p)
			}
		}, ""},
		{"publisher entry malformed", map[string]any{"publisher": "Q!"}, nil, "publisher claim is malformed"},
		{"scope as an array", map[string]any{"scope": []any{"system/Task.rs", "openid"}}, func(t *testing.T, p *auth.Principal) {
			if !p.Allows("Task", auth.Search) || !slices.Equal(p.OtherScopes, []string{"openid"}) {
				t.Errorf("scopes = %v / %v", p.Scopes, p.OtherScopes)
			}
		}, ""},
		{"scope a number", map[string]any{"scope": 7}, nil, "scope claim is malformed"},
		{"client id from azp", map[string]any{"azp": "portal"}, func(t *testing.T, p *auth.Principal) {
			if p.ClientID != "portal" {
				t.Errorf("client = %q", p.ClientID)
			}
		}, ""},
		{"client_id wins over azp", map[string]any{"azp": "portal", "client_id": "connector"}, func(t *testing.T, p *auth.Principal) {
			if p.ClientID != "connector" {
				t.Errorf("client = %q", p.ClientID)
			}
		}, ""},
		{"subject falls back to client", map[string]any{"sub": nil, "client_id": "connector"}, func(t *testing.T, p *auth.Principal) {
			if p.Subject != "connector" {
				t.Errorf("subject = %q", p.Subject)
			}
		}, ""},
		{"sub not a string", map[string]any{"sub": 42}, nil, "not valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := iss.Token(tc.claims)
			p, err := v.Verify(context.Background(), tok)
			if tc.reason != "" {
				if err == nil {
					t.Fatalf("accepted: %+v", p)
				}
				wantCode(t, err, fhir.CodeLogin, tc.reason, tok)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p)
		})
	}
}

func TestClaimNamesAreConfigurable(t *testing.T) {
	iss := oidctest.New(t)
	v := newVerifier(t, func(c *auth.Config) {
		c.Claims = auth.ClaimNames{
			Scope:     "scp",
			ODS:       "org_codes",
			Tier:      "signpost.tier",
			Role:      "realm_access.roles",
			Publisher: "dir_publisher",
			ClientID:  "cid",
		}
	}, iss)
	tok := iss.Token(map[string]any{
		"scp":           []any{"user/Task.rs"},
		"org_codes":     "A81001,A81002",
		"signpost":      map[string]any{"tier": "essential"},
		"realm_access":  map[string]any{"roles": []any{"navigator", "offline_access"}},
		"dir_publisher": "QWE",
		"cid":           "navigation-portal",
		// The default names are ignored once renamed.
		"scope": "system/*.cruds",
		"ods":   "Z99999",
		"tier":  "expert",
		"role":  "admin",
	})
	p, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Allows("Task", auth.Read) || p.Allows("Task", auth.Create) || p.Allows("Patient", auth.Read) {
		t.Errorf("scopes = %v", p.Scopes)
	}
	if !slices.Equal(p.ODS, []string{"A81001", "A81002"}) || p.CanSeePractice("Z99999") {
		t.Errorf("ODS = %v", p.ODS)
	}
	if p.Tier != auth.TierEssential {
		t.Errorf("tier = %q", p.Tier)
	}
	if !slices.Equal(p.Roles, []auth.Role{auth.RoleNavigator}) {
		t.Errorf("roles = %v", p.Roles)
	}
	if !slices.Equal(p.Publisher.Organizations, []string{"QWE"}) {
		t.Errorf("publisher = %+v", p.Publisher)
	}
	if p.ClientID != "navigation-portal" {
		t.Errorf("client = %q", p.ClientID)
	}
	if d := auth.DefaultClaimNames(); d.Scope != "scope" || d.ODS != "ods" || d.Tier != "tier" || d.Role != "role" || d.Publisher != "publisher" || d.ClientID != "client_id" {
		t.Errorf("defaults = %+v", d)
	}
}
