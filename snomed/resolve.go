package snomed

import (
	"context"
	"errors"
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
)

// Resolving canonical URLs. The store has no search, so a local resource
// is found by its id: [base]/[type]/[id] is read as [type]/[id] and its url
// must then be the one asked for. SNOMED CT is answered from memory.

// splitCanonical splits "url|version".
func splitCanonical(s string) (url, version string) {
	url, version, _ = strings.Cut(s, "|")
	return url, version
}

// localID returns the id of a canonical URL under the base.
func (t *Terminology) localID(typ, url string) (string, bool) {
	prefix := t.base + "/" + typ + "/"
	if !strings.HasPrefix(url, prefix) {
		return "", false
	}
	id := url[len(prefix):]
	return id, fhir.ValidID(id)
}

// read reads typ/id. byURL turns a deleted or missing resource into a
// not-found about the canonical URL, since the client asked for a URL,
// not an id.
func (t *Terminology) read(ctx context.Context, src Source, typ, id, byURL string) (*fhir.Resource, error) {
	v, err := src.Read(ctx, typ, id)
	if err != nil {
		if byURL != "" && (errors.Is(err, fhir.ErrNotFound) || errors.Is(err, fhir.ErrDeleted)) {
			return nil, fhir.Errorf(fhir.CodeNotFound, "%s %s is not known here", typ, byURL).Wrap(err)
		}
		return nil, err
	}
	r, err := fhir.ParseResource(v.Body)
	if err != nil {
		return nil, err
	}
	if r.Type() != typ {
		return nil, fhir.Errorf(fhir.CodeProcessing, "%s/%s is not a %s", typ, id, typ)
	}
	return r, nil
}

// resource resolves a canonical URL (optionally url|version) or an
// instance id to the stored resource.
func (t *Terminology) resource(ctx context.Context, src Source, typ, canonical, id string) (*fhir.Resource, error) {
	if id != "" {
		return t.read(ctx, src, typ, id, "")
	}
	url, version := splitCanonical(canonical)
	lid, ok := t.localID(typ, url)
	if !ok {
		return nil, fhir.Errorf(fhir.CodeNotFound, "%s %s is not known here (local resources live under %s/%s/)", typ, url, t.base, typ)
	}
	r, err := t.read(ctx, src, typ, lid, url)
	if err != nil {
		return nil, err
	}
	if got := fhir.Str(r.Object()["url"]); got != url {
		return nil, fhir.Errorf(fhir.CodeNotFound, "%s %s is not known here (%s/%s has url %q)", typ, url, typ, lid, got)
	}
	if have := fhir.Str(r.Object()["version"]); version != "" && version != have {
		return nil, fhir.Errorf(fhir.CodeNotFound, "version %s of %s %s is not available; the current version is %q", version, typ, url, have)
	}
	return r, nil
}

// codeSystem is a resolved code system: SNOMED CT or a local CodeSystem.
type codeSystem struct {
	url, version, name string
	snomed             bool
	caseInsensitive    bool
	concepts           map[string]*csConcept
	order              []*csConcept
	// isA: hierarchyMeaning is is-a, so concept nesting and the parent
	// and child properties are subsumption (Hierarchy).
	isA bool
}

type csConcept struct {
	code, display, definition string
	designations              []string
	props                     []Property
	// parents are the codes of the concepts this one is nested in or
	// names with a parent property, and of those that name it as a child.
	parents []string
}

// resolveCodeSystem finds a code system by canonical URL or instance id.
func (t *Terminology) resolveCodeSystem(ctx context.Context, src Source, canonical, id string) (*codeSystem, error) {
	if id == "" {
		url, version := splitCanonical(canonical)
		if url == System {
			ed := t.concepts.Edition()
			if version != "" && ed.Version != "" && version != ed.Version && !strings.HasPrefix(ed.Version, version+"/") {
				return nil, fhir.Errorf(fhir.CodeNotFound, "SNOMED CT version %s is not loaded; the loaded edition is %s", version, ed.Version)
			}
			return &codeSystem{url: System, version: ed.Version, name: "SNOMED CT", snomed: true}, nil
		}
	}
	r, err := t.resource(ctx, src, "CodeSystem", canonical, id)
	if err != nil {
		return nil, err
	}
	return parseCodeSystem(r), nil
}

func parseCodeSystem(r *fhir.Resource) *codeSystem {
	o := r.Object()
	cs := &codeSystem{url: fhir.Str(o["url"]), version: fhir.Str(o["version"]), name: fhir.Str(o["title"]), concepts: map[string]*csConcept{}}
	if cs.name == "" {
		cs.name = fhir.Str(o["name"])
	}
	if b, ok := o["caseSensitive"].(bool); ok && !b {
		cs.caseInsensitive = true
	}
	cs.isA = fhir.Str(o["hierarchyMeaning"]) == "is-a"
	var children [][2]string // child, parent from child properties
	var walk func(v any, parent string)
	walk = func(v any, parent string) {
		for _, e := range fhir.List(v) {
			m, _ := e.(map[string]any)
			c := &csConcept{code: fhir.Str(m["code"]), display: fhir.Str(m["display"]), definition: fhir.Str(m["definition"])}
			if parent != "" {
				c.parents = append(c.parents, parent)
			}
			for _, d := range fhir.List(m["designation"]) {
				dm, _ := d.(map[string]any)
				if s := fhir.Str(dm["value"]); s != "" {
					c.designations = append(c.designations, s)
				}
			}
			for _, p := range fhir.List(m["property"]) {
				pm, _ := p.(map[string]any)
				for k, val := range pm {
					if strings.HasPrefix(k, "value") && len(k) > 5 {
						c.props = append(c.props, Property{Code: fhir.Str(pm["code"]), Type: k[5:], Value: val})
						if code, ok := val.(string); ok && code != "" && k == "valueCode" {
							switch fhir.Str(pm["code"]) {
							case "parent":
								c.parents = append(c.parents, code)
							case "child":
								children = append(children, [2]string{code, c.code})
							}
						}
					}
				}
			}
			if c.code != "" {
				key := c.code
				if cs.caseInsensitive {
					key = strings.ToLower(key)
				}
				if _, dup := cs.concepts[key]; !dup {
					cs.concepts[key] = c
					cs.order = append(cs.order, c)
				}
			}
			walk(m["concept"], c.code)
		}
	}
	walk(o["concept"], "")
	for _, cp := range children {
		if c, ok := cs.concept(cp[0]); ok {
			c.parents = append(c.parents, cp[1])
		}
	}
	return cs
}

func (cs *codeSystem) concept(code string) (*csConcept, bool) {
	if cs.caseInsensitive {
		code = strings.ToLower(code)
	}
	c, ok := cs.concepts[code]
	return c, ok
}

// valueSet is a resolved value set: its compose, or the implicit value set
// of every loaded SNOMED CT concept.
type valueSet struct {
	url, version string
	obj          map[string]any
	include      []vsRule
	exclude      []vsRule
}

type vsRule struct {
	system string
	whole  bool
	codes  []vsCode
}

type vsCode struct{ code, display string }

// ImplicitSNOMED is the implicit value set of every concept of the loaded
// set ($expand?url=http://snomed.info/sct?fhir_vs).
const ImplicitSNOMED = System + "?fhir_vs"

func (t *Terminology) resolveValueSet(ctx context.Context, src Source, canonical, id string, inline *fhir.Resource) (*valueSet, error) {
	if inline != nil {
		if inline.Type() != "ValueSet" {
			return nil, fhir.Errorf(fhir.CodeInvalid, "valueSet must be a ValueSet, not %s", inline.Type()).At("valueSet")
		}
		return parseValueSet(inline)
	}
	if id == "" {
		url, _ := splitCanonical(canonical)
		if url == ImplicitSNOMED {
			return &valueSet{url: url, version: t.concepts.Edition().Version, include: []vsRule{{system: System, whole: true}},
				obj: map[string]any{"resourceType": "ValueSet", "url": url, "status": "active", "name": "SNOMEDCT", "title": "All loaded SNOMED CT concepts"}}, nil
		}
		if strings.HasPrefix(url, System+"?fhir_vs=") {
			return nil, fhir.Errorf(fhir.CodeNotSupported, "implicit SNOMED CT value sets other than %s need the concept hierarchy, which Signpost does not load", ImplicitSNOMED)
		}
	}
	r, err := t.resource(ctx, src, "ValueSet", canonical, id)
	if err != nil {
		return nil, err
	}
	return parseValueSet(r)
}

func parseValueSet(r *fhir.Resource) (*valueSet, error) {
	o := r.Object()
	vs := &valueSet{url: fhir.Str(o["url"]), version: fhir.Str(o["version"]), obj: o}
	compose, _ := o["compose"].(map[string]any)
	if compose == nil {
		return nil, fhir.Errorf(fhir.CodeNotSupported, "ValueSet %s has no compose to evaluate", vs.url)
	}
	rules := func(v any, what string) ([]vsRule, error) {
		var out []vsRule
		for i, e := range fhir.List(v) {
			m, _ := e.(map[string]any)
			if m["filter"] != nil || m["valueSet"] != nil {
				return nil, fhir.Errorf(fhir.CodeNotSupported, "ValueSet %s: compose.%s[%d] uses filter or valueSet, which Signpost does not evaluate; list the concepts", vs.url, what, i)
			}
			rule := vsRule{system: fhir.Str(m["system"])}
			for _, c := range fhir.List(m["concept"]) {
				cm, _ := c.(map[string]any)
				rule.codes = append(rule.codes, vsCode{fhir.Str(cm["code"]), fhir.Str(cm["display"])})
			}
			rule.whole = len(rule.codes) == 0
			out = append(out, rule)
		}
		return out, nil
	}
	var err error
	if vs.include, err = rules(compose["include"], "include"); err != nil {
		return nil, err
	}
	if vs.exclude, err = rules(compose["exclude"], "exclude"); err != nil {
		return nil, err
	}
	return vs, nil
}
