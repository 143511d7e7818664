package auth

import (
	"fmt"
	"slices"
	"strings"
)

// principal reads the configured claims of a verified token. A claim that
// is present but malformed rejects the token (401): guessing at tenancy,
// tier or publisher scope would be worse than refusing. The exceptions are
// unknown roles and non-SMART scopes, which are common in shared issuers
// and simply grant nothing.
func (v *Verifier) principal(claims map[string]any) (*Principal, error) {
	names := v.cfg.Claims
	p := &Principal{}

	if raw, ok := lookupClaim(claims, names.Scope); ok {
		list, ok := listClaim(raw, false)
		if !ok {
			return nil, claimError(names.Scope)
		}
		p.Scopes, p.OtherScopes = ParseScopes(list)
	}

	sub, ok := stringClaim(claims, "sub")
	if !ok {
		return nil, claimError("sub")
	}
	client, ok := stringClaim(claims, names.ClientID)
	if !ok {
		return nil, claimError(names.ClientID)
	}
	if client == "" {
		if client, ok = stringClaim(claims, "azp"); !ok {
			return nil, claimError("azp")
		}
	}
	p.Subject, p.ClientID = sub, client
	if p.Subject == "" {
		p.Subject = client
	}
	if p.Subject == "" {
		return nil, loginError("token names no subject (sub) or client (client_id)", nil)
	}

	if raw, ok := lookupClaim(claims, names.ODS); ok {
		list, ok := listClaim(raw, true)
		if !ok {
			return nil, claimError(names.ODS)
		}
		for _, c := range list {
			code, ok := normaliseODS(c)
			if !ok {
				return nil, claimError(names.ODS)
			}
			if !slices.Contains(p.ODS, code) {
				p.ODS = append(p.ODS, code)
			}
		}
	}

	if raw, ok := lookupClaim(claims, names.Tier); ok && raw != nil {
		s, isString := raw.(string)
		t, known := ParseTier(s)
		if !isString || !known {
			return nil, loginError(fmt.Sprintf("token's %s claim is not essential, enhanced or expert", names.Tier), nil)
		}
		p.Tier = t
	}

	if raw, ok := lookupClaim(claims, names.Role); ok {
		list, ok := listClaim(raw, true)
		if !ok {
			return nil, claimError(names.Role)
		}
		for _, s := range list {
			if r, known := ParseRole(s); known && !slices.Contains(p.Roles, r) {
				p.Roles = append(p.Roles, r)
			}
		}
	}

	if raw, ok := lookupClaim(claims, names.Publisher); ok {
		list, ok := listClaim(raw, true)
		if !ok {
			return nil, claimError(names.Publisher)
		}
		for _, e := range list {
			if strings.Contains(e, ":") {
				if !slices.Contains(p.Publisher.IdentifierSystems, e) {
					p.Publisher.IdentifierSystems = append(p.Publisher.IdentifierSystems, e)
				}
				continue
			}
			code, ok := normaliseODS(e)
			if !ok {
				return nil, claimError(names.Publisher)
			}
			if !slices.Contains(p.Publisher.Organizations, code) {
				p.Publisher.Organizations = append(p.Publisher.Organizations, code)
			}
		}
	}
	return p, nil
}

func claimError(name string) error {
	return loginError(fmt.Sprintf("token's %s claim is malformed", name), nil)
}

// lookupClaim finds a claim by name; a dotted name that is not a top-level
// claim is followed through nested objects.
func lookupClaim(claims map[string]any, name string) (any, bool) {
	if v, ok := claims[name]; ok {
		return v, true
	}
	if !strings.Contains(name, ".") {
		return nil, false
	}
	var cur any = claims
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// stringClaim reads an optional string claim; ok is false when it is
// present with another type.
func stringClaim(claims map[string]any, name string) (string, bool) {
	v, present := lookupClaim(claims, name)
	if !present || v == nil {
		return "", true
	}
	s, ok := v.(string)
	return strings.TrimSpace(s), ok
}

// listClaim reads a claim that holds one value or several: a string of
// values separated by spaces (and by commas when commas is true), or an
// array of such strings. null is the empty list. ok is false for any other
// type.
func listClaim(v any, commas bool) ([]string, bool) {
	split := func(s string) []string {
		if commas {
			return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
		}
		return strings.Fields(s)
	}
	switch x := v.(type) {
	case nil:
		return nil, true
	case string:
		return split(x), true
	case []any:
		var out []string
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, split(s)...)
		}
		return out, true
	}
	return nil, false
}

// normaliseODS upper-cases an ODS organisation code and checks its shape:
// 3 to 10 letters and digits (ICBs "QWE", sub-ICB locations "15N",
// practices "A81001", PCNs "U12345", sites "RXR20").
func normaliseODS(s string) (string, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) < 3 || len(s) > 10 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "", false
		}
	}
	return s, true
}
