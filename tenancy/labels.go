package tenancy

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
)

// ODSSystem is the identifier system of ODS organisation codes.
const ODSSystem = "https://fhir.nhs.uk/Id/ods-organization-code"

// Labels reads and writes the practice security label of one deployment.
type Labels struct {
	// System is the label's system: <canonical base>/CodeSystem/practice.
	System string
}

// NewLabels are the practice labels under canonicalBase (without a
// trailing slash).
func NewLabels(canonicalBase string) Labels {
	return Labels{System: canonicalBase + "/CodeSystem/practice"}
}

// PracticesOf lists the practice labels of a stored body. Only
// meta.security is decoded (meta comes third in a stored body).
func (l Labels) PracticesOf(body []byte) []string {
	if len(body) == 0 {
		return nil
	}
	meta, ok := fhir.Member(body, "meta")
	if !ok {
		return nil
	}
	raw, ok := fhir.Member(meta, "security")
	if !ok {
		return nil
	}
	v, err := fhir.DecodeJSON(raw)
	if err != nil {
		return nil
	}
	labels, _ := v.([]any)
	var out []string
	for _, lb := range labels {
		c, _ := lb.(map[string]any)
		system, _ := c["system"].(string)
		code, _ := c["code"].(string)
		if system == l.System && code != "" && !slices.Contains(out, code) {
			out = append(out, code)
		}
	}
	return out
}

// Visible reports whether p may see a stored version of typ.
func (l Labels) Visible(p *auth.Principal, typ string, body []byte) bool {
	if !Restricted(p, typ) {
		return true
	}
	for _, ods := range l.PracticesOf(body) {
		if p.CanSeePractice(ods) {
			return true
		}
	}
	return false
}

// SecurityParam is the _security restriction of a search on typ by p;
// ok is false when p's view of typ is not restricted.
func (l Labels) SecurityParam(p *auth.Principal, typ string) (param search.Param, ok bool, err error) {
	if !Restricted(p, typ) {
		return search.Param{}, false, nil
	}
	values := l.SecurityTokens(p)
	if len(values) == 0 {
		// Authorisation refuses patient data to a caller with no
		// practice; this is the belt to its braces.
		return search.Param{}, false, fhir.Errorf(fhir.CodeForbidden, "the token names no practice, so it cannot access %s (patient data)", typ)
	}
	q, err := search.ParseQuery(typ, url.Values{"_security": {strings.Join(values, ",")}}, true)
	if err != nil {
		return search.Param{}, false, err
	}
	if len(q.Params) != 1 {
		return search.Param{}, false, errors.New("tenancy: _security did not parse to one parameter")
	}
	return q.Params[0], true, nil
}

// SecurityTokens are p's practices as system|code tokens.
func (l Labels) SecurityTokens(p *auth.Principal) []string {
	var out []string
	for _, ods := range p.Practices() {
		out = append(out, l.System+"|"+ods)
	}
	return out
}

// RestrictQuery is q with p's tenancy: a _security parameter when q's
// type is patient-linked, and Tenancy for chains and _has. q itself is
// not changed (it may be run again, by a retried transaction).
func (l Labels) RestrictQuery(p *auth.Principal, q *search.Query) (*search.Query, error) {
	if p.Dev || p.AllPractices {
		return q, nil
	}
	c := *q
	c.Params = slices.Clone(q.Params)
	param, ok, err := l.SecurityParam(p, q.Type)
	if err != nil {
		return nil, err
	}
	if ok {
		c.Params = append(c.Params, param)
	}
	c.Tenancy = &search.Tenancy{
		Types:  OwnedTypes(),
		System: l.System,
		Codes:  p.Practices(),
	}
	return &c, nil
}

// Named are the practices a resource names itself: Task.owner's ODS
// identifier and practice labels in meta.security, upper case, without
// duplicates.
func (l Labels) Named(r *fhir.Resource) []string {
	obj := r.Object()
	var out []string
	add := func(code string) {
		code = strings.ToUpper(strings.TrimSpace(code))
		if code != "" && !slices.Contains(out, code) {
			out = append(out, code)
		}
	}
	if r.Type() == "Task" {
		if owner, ok := obj["owner"].(map[string]any); ok {
			if id, ok := owner["identifier"].(map[string]any); ok && id["system"] == ODSSystem {
				v, _ := id["value"].(string)
				add(v)
			}
		}
	}
	if meta, ok := obj["meta"].(map[string]any); ok {
		list, _ := meta["security"].([]any)
		for _, item := range list {
			if c, ok := item.(map[string]any); ok && c["system"] == l.System {
				v, _ := c["code"].(string)
				add(v)
			}
		}
	}
	return out
}

// Stamp decides the practice of a patient-linked resource p is writing
// (stored holds the practices of the version it replaces) and writes the
// label; see the rules in the package documentation.
func (l Labels) Stamp(p *auth.Principal, r *fhir.Resource, stored []string) (string, error) {
	named := l.Named(r)
	var code string
	switch {
	case len(named) > 1:
		return "", fhir.Errorf(fhir.CodeBusinessRule, "%s names several practices (%s); a resource belongs to one practice", r.Type(), strings.Join(named, ", ")).Because(fhir.DetailRefused)
	case len(named) == 1:
		code = named[0]
		if !p.CanSeePractice(code) {
			return "", fhir.Errorf(fhir.CodeForbidden, "%s belongs to practice %s, which the token does not act for", r.Type(), code)
		}
	case len(stored) > 0:
		code = stored[0]
	case p.Dev || p.AllPractices:
	case len(p.ODS) == 1:
		code = p.ODS[0]
	case len(p.ODS) == 0:
		return "", fhir.Errorf(fhir.CodeForbidden, "the token names no practice, so it cannot write %s (patient data)", r.Type())
	default:
		return "", fhir.Errorf(fhir.CodeBusinessRule,
			"the token acts for several practices (%s): say which one this %s belongs to with a meta.security label %s|<ODS code>%s",
			strings.Join(p.ODS, ", "), r.Type(), l.System, ownerHint(r.Type())).Because(fhir.DetailRefused)
	}
	l.Set(r, code)
	return code, nil
}

// CheckLookalike refuses, on any type, a meta.security or meta.tag
// coding whose system only looks like the practice label's: another
// case, a trailing slash, another scheme or surrounding spaces. Such a
// label would read as a practice to a person or a receiver while the
// gateway ignores it, so it is refused (422) rather than stored.
func (l Labels) CheckLookalike(r *fhir.Resource) error {
	meta, _ := r.Object()["meta"].(map[string]any)
	if meta == nil {
		return nil
	}
	sys := l.System
	want := looseSystem(sys)
	for _, field := range []string{"security", "tag"} {
		list, _ := meta[field].([]any)
		for i, item := range list {
			c, _ := item.(map[string]any)
			got, _ := c["system"].(string)
			if got == "" || (got == sys && field == "security") {
				continue
			}
			if looseSystem(got) == want {
				what := "looks like the practice label's system but is not it"
				if got == sys {
					what = "is the practice label's system, which belongs in meta.security"
				}
				return fhir.Errorf(fhir.CodeValue, "%s %q %s; a practice label is exactly {\"system\": %q, \"code\": \"<ODS code>\"} in meta.security",
					"the system", got, what, sys).
					At(fmt.Sprintf("%s.meta.%s[%d].system", r.Type(), field, i)).Because(fhir.DetailRefused)
			}
		}
	}
	return nil
}

// looseSystem is a system URI as a reader would take it: lower case,
// without surrounding spaces, scheme, "www." or trailing slashes.
func looseSystem(uri string) string {
	u := strings.ToLower(strings.TrimSpace(uri))
	for _, p := range []string{"https://", "http://"} {
		u = strings.TrimPrefix(u, p)
	}
	u = strings.TrimPrefix(u, "www.")
	return strings.TrimRight(u, "/ ")
}

func ownerHint(typ string) string {
	if typ == "Task" {
		return " or Task.owner.identifier (" + ODSSystem + ")"
	}
	return ""
}

// Set replaces the practice labels of r by code's ("" for none).
func (l Labels) Set(r *fhir.Resource, code string) {
	obj := r.Object()
	meta, _ := obj["meta"].(map[string]any)
	if meta == nil && code == "" {
		return
	}
	if meta == nil {
		meta = map[string]any{}
		obj["meta"] = meta
	}
	sys := l.System
	list, _ := meta["security"].([]any)
	kept := make([]any, 0, len(list)+1)
	for _, item := range list {
		if c, ok := item.(map[string]any); ok && c["system"] == sys {
			continue
		}
		kept = append(kept, item)
	}
	if code != "" {
		kept = append(kept, map[string]any{"system": sys, "code": code})
	}
	if len(kept) == 0 {
		delete(meta, "security")
		if len(meta) == 0 {
			delete(obj, "meta")
		}
		return
	}
	meta["security"] = kept
}

// ODSOf is the first ODS code among identifiers, upper case.
func ODSOf(ids []any) string {
	for _, item := range ids {
		if id, ok := item.(map[string]any); ok && id["system"] == ODSSystem {
			if v, _ := id["value"].(string); v != "" {
				return strings.ToUpper(strings.TrimSpace(v))
			}
		}
	}
	return ""
}
