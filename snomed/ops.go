package snomed

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/snomed/sctid"
)

// The terminology operations as request struct -> result struct. The
// gateway turns Parameters into requests and results into Parameters.

// Property is a $lookup property: Type is the value[x] suffix ("Code",
// "Boolean", "String", ...).
type Property struct {
	Code  string
	Type  string
	Value any
}

// Designation is a $lookup designation.
type Designation struct {
	Language string
	Use      *Coding
	Value    string
}

// LookupRequest is CodeSystem/$lookup's input.
type LookupRequest struct {
	System string // canonical URL, optionally url|version
	Code   string
	// Properties restricts the properties returned; empty returns all.
	Properties []string
}

// LookupResult is CodeSystem/$lookup's output.
type LookupResult struct {
	Name, Version, Display string
	Designations           []Designation
	Properties             []Property
}

var (
	useFSN     = &Coding{System: System, Code: typeFSN, Display: "Fully specified name"}
	useSynonym = &Coding{System: System, Code: typeSynonym, Display: "Synonym"}
)

// Lookup answers CodeSystem/$lookup. A missing system or code is invalid;
// an unknown code system or code is not-found.
func (t *Terminology) Lookup(ctx context.Context, src Source, req LookupRequest) (*LookupResult, error) {
	if req.Code == "" {
		return nil, fhir.Errorf(fhir.CodeInvalid, "code (or coding) is required").At("code")
	}
	if req.System == "" {
		return nil, fhir.Errorf(fhir.CodeInvalid, "system is required").At("system")
	}
	cs, err := t.resolveCodeSystem(ctx, src, req.System, "")
	if err != nil {
		return nil, err
	}
	res := &LookupResult{Name: cs.name, Version: cs.version}
	if cs.snomed {
		c, msg := t.snomedConcept(req.Code)
		if c == nil {
			return nil, fhir.Errorf(fhir.CodeNotFound, "%s", msg).At("code")
		}
		res.Display = display(c)
		if c.FSN != "" {
			res.Designations = append(res.Designations, Designation{Language: "en", Use: useFSN, Value: c.FSN})
		}
		if c.Preferred != "" {
			res.Designations = append(res.Designations, Designation{Language: "en", Use: useSynonym, Value: c.Preferred})
		}
		for _, s := range c.Synonyms {
			res.Designations = append(res.Designations, Designation{Language: "en", Use: useSynonym, Value: s})
		}
		res.Properties = append(res.Properties, Property{"inactive", "Boolean", !c.Active})
		add := func(code, typ, v string) {
			if v != "" {
				res.Properties = append(res.Properties, Property{code, typ, v})
			}
		}
		add("moduleId", "Code", c.ModuleID)
		add("effectiveTime", "String", c.EffectiveTime)
		add("semanticTag", "String", c.SemanticTag())
		add("category", "String", c.Category)
		add("source", "String", c.Source)
	} else {
		c, ok := cs.concept(req.Code)
		if !ok {
			return nil, fhir.Errorf(fhir.CodeNotFound, "code %q is not in CodeSystem %s", req.Code, cs.url).At("code")
		}
		res.Display = c.display
		for _, d := range c.designations {
			res.Designations = append(res.Designations, Designation{Value: d})
		}
		if c.definition != "" {
			res.Properties = append(res.Properties, Property{"definition", "String", c.definition})
		}
		res.Properties = append(res.Properties, c.props...)
	}
	if len(req.Properties) > 0 {
		keep := res.Properties[:0]
		for _, p := range res.Properties {
			for _, want := range req.Properties {
				if p.Code == want {
					keep = append(keep, p)
					break
				}
			}
		}
		res.Properties = keep
	}
	return res, nil
}

func display(c *Concept) string {
	switch {
	case c.Preferred != "":
		return c.Preferred
	case c.FSN != "":
		return c.FSN
	}
	return c.ID
}

// snomedConcept finds a loaded concept, or says why the code is not one.
func (t *Terminology) snomedConcept(code string) (*Concept, string) {
	if _, err := sctid.ParseConcept(code); err != nil {
		return nil, err.Error()
	}
	c, ok := t.concepts.Get(code)
	if !ok {
		ed := t.concepts.Edition()
		return nil, fmt.Sprintf("%s is a well-formed SNOMED CT concept id but is not in the loaded set (%s, %s)", code, ed.Name, ed.Date)
	}
	return c, ""
}

// ValidateCodeRequest is the input of both $validate-code operations.
type ValidateCodeRequest struct {
	// URL is the CodeSystem (CodeSystem/$validate-code) or ValueSet
	// canonical, optionally url|version; ID is the instance instead.
	URL, ID string
	// ValueSet is an inline ValueSet resource (ValueSet/$validate-code).
	ValueSet *fhir.Resource
	// Codings are what to check: one from code/system/display or coding,
	// or the codings of a codeableConcept (valid when any is).
	Codings []Coding
}

// ValidateCodeResult is the output of both $validate-code operations.
type ValidateCodeResult struct {
	Result  bool
	Message string
	Display string
}

// ValidateCode answers CodeSystem/$validate-code.
func (t *Terminology) ValidateCode(ctx context.Context, src Source, req ValidateCodeRequest) (*ValidateCodeResult, error) {
	if len(req.Codings) == 0 {
		return nil, fhir.Errorf(fhir.CodeInvalid, "code, coding or codeableConcept is required").At("code")
	}
	canonical := req.URL
	if canonical == "" && req.ID == "" {
		canonical = req.Codings[0].System
	}
	if canonical == "" && req.ID == "" {
		return nil, fhir.Errorf(fhir.CodeInvalid, "url (the code system) is required").At("url")
	}
	cs, err := t.resolveCodeSystem(ctx, src, canonical, req.ID)
	if err != nil {
		return nil, err
	}
	return combine(req.Codings, func(c Coding) (bool, string, string, error) {
		if c.Code == "" {
			return false, "", "", fhir.Errorf(fhir.CodeInvalid, "a coding has no code").At("code")
		}
		if c.System != "" && c.System != cs.url {
			return false, "", fmt.Sprintf("system %s is not the code system %s", c.System, cs.url), nil
		}
		ok, disp, msg := t.inCodeSystem(cs, c)
		return ok, disp, msg, nil
	})
}

// combine validates each coding; the result is true when any coding is
// valid (a CodeableConcept), and the messages of failed codings are kept.
func combine(codings []Coding, check func(Coding) (bool, string, string, error)) (*ValidateCodeResult, error) {
	res := &ValidateCodeResult{}
	var msgs []string
	for _, c := range codings {
		ok, disp, msg, err := check(c)
		if err != nil {
			return nil, err
		}
		if ok && !res.Result {
			res.Result, res.Display = true, disp
		} else if res.Display == "" {
			res.Display = disp
		}
		if msg != "" {
			msgs = append(msgs, msg)
		}
	}
	res.Message = strings.Join(msgs, "; ")
	return res, nil
}

// inCodeSystem checks one coding against a resolved code system.
func (t *Terminology) inCodeSystem(cs *codeSystem, c Coding) (ok bool, disp, msg string) {
	if cs.snomed {
		con, why := t.snomedConcept(c.Code)
		if con == nil {
			return false, "", why
		}
		disp = display(con)
		if c.Display != "" && !sameText(c.Display, con.Preferred, con.FSN) && !sameText(c.Display, con.Synonyms...) {
			return false, disp, fmt.Sprintf("display %q is not a term of SNOMED CT %s; the preferred term is %q", c.Display, c.Code, disp)
		}
		if !con.Active {
			return true, disp, fmt.Sprintf("SNOMED CT %s is inactive in the loaded set", c.Code)
		}
		return true, disp, ""
	}
	con, found := cs.concept(c.Code)
	if !found {
		return false, "", fmt.Sprintf("code %q is not in CodeSystem %s", c.Code, cs.url)
	}
	if c.Display != "" && !sameText(c.Display, con.display) && !sameText(c.Display, con.designations...) {
		return false, con.display, fmt.Sprintf("display %q is not a display of %s in %s; it is %q", c.Display, c.Code, cs.url, con.display)
	}
	return true, con.display, ""
}

// sameText compares displays ignoring case and runs of white space.
func sameText(a string, terms ...string) bool {
	na := strings.Join(strings.Fields(a), " ")
	for _, b := range terms {
		if b != "" && strings.EqualFold(na, strings.Join(strings.Fields(b), " ")) {
			return true
		}
	}
	return false
}

// ValidateValueSetCode answers ValueSet/$validate-code. A coding is valid
// when the value set's compose includes it (and does not exclude it) and
// its code system knows the code: SNOMED CT codes must be well formed and
// in the loaded set, local codes in their stored CodeSystem.
func (t *Terminology) ValidateValueSetCode(ctx context.Context, src Source, req ValidateCodeRequest) (*ValidateCodeResult, error) {
	if len(req.Codings) == 0 {
		return nil, fhir.Errorf(fhir.CodeInvalid, "code, coding or codeableConcept is required").At("code")
	}
	if req.URL == "" && req.ID == "" && req.ValueSet == nil {
		return nil, fhir.Errorf(fhir.CodeInvalid, "url (the value set) is required").At("url")
	}
	vs, err := t.resolveValueSet(ctx, src, req.URL, req.ID, req.ValueSet)
	if err != nil {
		return nil, err
	}
	systems := map[string]*codeSystem{}
	return combine(req.Codings, func(c Coding) (bool, string, string, error) {
		if c.Code == "" {
			return false, "", "", fhir.Errorf(fhir.CodeInvalid, "a coding has no code").At("code")
		}
		if c.System == "" {
			return false, "", "", fhir.Errorf(fhir.CodeInvalid, "system is required with code").At("system")
		}
		listed, listedDisplay := vs.lists(c)
		if !listed {
			return false, "", fmt.Sprintf("%s#%s is not in ValueSet %s", c.System, c.Code, vs.url), nil
		}
		cs, err := t.systemFor(ctx, src, c.System, systems)
		if err != nil {
			return false, "", "", err
		}
		if cs == nil {
			// A code system Signpost does not hold: the value set's word
			// is all there is.
			if c.Display != "" && listedDisplay != "" && !sameText(c.Display, listedDisplay) {
				return false, listedDisplay, fmt.Sprintf("display %q is not %q", c.Display, listedDisplay), nil
			}
			return true, listedDisplay, fmt.Sprintf("code system %s is not held here; %s is valid as listed in the value set", c.System, c.Code), nil
		}
		ok, disp, msg := t.inCodeSystem(cs, c)
		return ok, disp, msg, nil
	})
}

// systemFor resolves a code system once per call; nil when it is neither
// SNOMED CT nor a local code system.
func (t *Terminology) systemFor(ctx context.Context, src Source, system string, cache map[string]*codeSystem) (*codeSystem, error) {
	if cs, ok := cache[system]; ok {
		return cs, nil
	}
	var cs *codeSystem
	if _, local := t.localID("CodeSystem", system); local || system == System {
		var err error
		if cs, err = t.resolveCodeSystem(ctx, src, system, ""); err != nil {
			if fe, ok := fhir.AsError(err); !ok || fe.Code() != fhir.CodeNotFound {
				return nil, err
			}
			cs = nil
		}
	}
	cache[system] = cs
	return cs, nil
}

// lists reports whether the compose includes and does not exclude c.
func (vs *valueSet) lists(c Coding) (bool, string) {
	match := func(rules []vsRule) (bool, string) {
		for _, r := range rules {
			if r.system != c.System {
				continue
			}
			if r.whole {
				return true, ""
			}
			for _, x := range r.codes {
				if x.code == c.Code {
					return true, x.display
				}
			}
		}
		return false, ""
	}
	in, disp := match(vs.include)
	if !in {
		return false, ""
	}
	if out, _ := match(vs.exclude); out {
		return false, ""
	}
	return true, disp
}

// MaxExpansion is the most concepts one $expand returns; larger
// expansions are paged with offset.
const MaxExpansion = 1000

// ExpandRequest is ValueSet/$expand's input.
type ExpandRequest struct {
	URL, ID  string
	ValueSet *fhir.Resource
	// Filter keeps concepts whose display (or code) has a word starting
	// with each word of the filter, ignoring case.
	Filter string
	// Count is the page size (nil: MaxExpansion); Offset skips concepts.
	Count  *int
	Offset int
}

// Expansion is ValueSet/$expand's output.
type Expansion struct {
	ValueSet map[string]any
	Total    int
	Offset   int
	Contains []ExpansionEntry
	params   []any
}

// ExpansionEntry is one concept of an expansion.
type ExpansionEntry struct {
	Coding
	Inactive bool
}

// Expand answers ValueSet/$expand.
func (t *Terminology) Expand(ctx context.Context, src Source, req ExpandRequest) (*Expansion, error) {
	if req.URL == "" && req.ID == "" && req.ValueSet == nil {
		return nil, fhir.Errorf(fhir.CodeInvalid, "url (the value set) is required").At("url")
	}
	if req.Offset < 0 {
		return nil, fhir.Errorf(fhir.CodeInvalid, "offset must not be negative").At("offset")
	}
	count := MaxExpansion
	if req.Count != nil {
		if *req.Count < 0 {
			return nil, fhir.Errorf(fhir.CodeInvalid, "count must not be negative").At("count")
		}
		count = min(*req.Count, MaxExpansion)
	}
	vs, err := t.resolveValueSet(ctx, src, req.URL, req.ID, req.ValueSet)
	if err != nil {
		return nil, err
	}
	match := filterMatcher(req.Filter)
	exp := &Expansion{Offset: req.Offset}
	seen := map[string]bool{}
	systems := map[string]*codeSystem{}
	add := func(e ExpansionEntry) {
		key := e.System + "|" + e.Code
		if seen[key] || !match(e.Code, e.Display) {
			return
		}
		if out, _ := (&valueSet{include: vs.exclude}).lists(e.Coding); out {
			return
		}
		seen[key] = true
		if exp.Total >= req.Offset && len(exp.Contains) < count {
			exp.Contains = append(exp.Contains, e)
		}
		exp.Total++
	}
	for _, r := range vs.include {
		cs, err := t.systemFor(ctx, src, r.system, systems)
		if err != nil {
			return nil, err
		}
		switch {
		case cs != nil && cs.snomed && r.whole:
			t.concepts.All(func(c *Concept) bool {
				add(ExpansionEntry{Coding{System: System, Code: c.ID, Display: display(c)}, !c.Active})
				return true
			})
		case cs != nil && cs.snomed:
			for _, x := range r.codes {
				if c, ok := t.concepts.Get(x.code); ok {
					add(ExpansionEntry{Coding{System: System, Code: c.ID, Display: display(c)}, !c.Active})
				}
			}
		case cs != nil && r.whole:
			for _, c := range cs.order {
				add(ExpansionEntry{Coding: Coding{System: cs.url, Code: c.code, Display: c.display}})
			}
		case cs != nil:
			for _, x := range r.codes {
				if c, ok := cs.concept(x.code); ok {
					add(ExpansionEntry{Coding: Coding{System: cs.url, Code: c.code, Display: c.display}})
				}
			}
		case r.whole:
			return nil, fhir.Errorf(fhir.CodeNotSupported, "cannot expand the whole of code system %s, which is not held here", r.system)
		default:
			for _, x := range r.codes {
				add(ExpansionEntry{Coding: Coding{System: r.system, Code: x.code, Display: x.display}})
			}
		}
	}
	out := map[string]any{}
	for k, v := range vs.obj {
		switch k {
		case "meta", "text", "compose", "expansion":
		default:
			out[k] = v
		}
	}
	exp.ValueSet = out
	if req.Filter != "" {
		exp.params = append(exp.params, map[string]any{"name": "filter", "valueString": req.Filter})
	}
	if req.Count != nil {
		exp.params = append(exp.params, map[string]any{"name": "count", "valueInteger": count})
	}
	if req.Offset != 0 {
		exp.params = append(exp.params, map[string]any{"name": "offset", "valueInteger": req.Offset})
	}
	return exp, nil
}

// Resource is the expanded ValueSet as a FHIR JSON tree.
func (e *Expansion) Resource() map[string]any {
	vs := make(map[string]any, len(e.ValueSet)+1)
	for k, v := range e.ValueSet {
		vs[k] = v
	}
	contains := make([]any, 0, len(e.Contains))
	for _, c := range e.Contains {
		m := c.json()
		if c.Inactive {
			m["inactive"] = true
		}
		contains = append(contains, m)
	}
	vs["expansion"] = map[string]any{
		"identifier": "urn:uuid:" + uuid.NewString(),
		"timestamp":  time.Now().UTC().Format(time.RFC3339),
		"total":      e.Total,
		"offset":     e.Offset,
		"parameter":  e.params,
		"contains":   contains,
	}
	return vs
}

// filterMatcher implements $expand's filter.
func filterMatcher(filter string) func(code, display string) bool {
	words := strings.Fields(strings.ToLower(filter))
	if len(words) == 0 {
		return func(string, string) bool { return true }
	}
	return func(code, display string) bool {
		if len(words) == 1 && strings.HasPrefix(strings.ToLower(code), words[0]) {
			return true
		}
		for _, w := range words {
			if !hasWordPrefix(display, w) {
				return false
			}
		}
		return true
	}
}

// hasWordPrefix reports whether a word of text starts with prefix
// (lower case), splitting words at anything that is not a letter or digit.
func hasWordPrefix(text, prefix string) bool {
	start := true
	for i := 0; i < len(text); i++ {
		ch := text[i]
		alnum := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch >= 0x80
		if !alnum {
			start = true
			continue
		}
		if start && len(text)-i >= len(prefix) && strings.EqualFold(text[i:i+len(prefix)], prefix) {
			return true
		}
		start = false
	}
	return false
}

// TranslateRequest is ConceptMap/$translate's input.
type TranslateRequest struct {
	// URL is the ConceptMap canonical (optionally url|version) or ID its
	// instance; neither means the default allocation map.
	URL, ID      string
	Coding       Coding
	TargetSystem string
	Dependencies []Dependency
	Reverse      bool
}

// TranslateResult is ConceptMap/$translate's output.
type TranslateResult struct {
	Result  bool
	Message string
	Matches []Match
}

// Translate answers ConceptMap/$translate from the map's current version in
// the store.
func (t *Terminology) Translate(ctx context.Context, src Source, req TranslateRequest) (*TranslateResult, error) {
	if req.Coding.Code == "" {
		return nil, fhir.Errorf(fhir.CodeInvalid, "code (or coding) is required").At("code")
	}
	if req.Coding.System == "" {
		return nil, fhir.Errorf(fhir.CodeInvalid, "system is required").At("system")
	}
	id := req.ID
	if req.URL == "" && id == "" {
		id = AllocationMap
	}
	r, err := t.resource(ctx, src, "ConceptMap", req.URL, id)
	if err != nil {
		return nil, err
	}
	cm, err := ParseConceptMap(r)
	if err != nil {
		return nil, err
	}
	res := &TranslateResult{Matches: cm.Translate(MapQuery{
		Coding: req.Coding, TargetSystem: req.TargetSystem, Dependencies: req.Dependencies, Reverse: req.Reverse,
	})}
	for i := range res.Matches {
		m := &res.Matches[i]
		if m.Concept.Display == "" && m.Concept.System == System {
			m.Concept.Display = t.SNOMEDCoding(m.Concept.Code).Display
		}
		if m.Equivalence != "unmatched" && m.Equivalence != "disjoint" {
			res.Result = true
		}
	}
	if !res.Result {
		res.Message = fmt.Sprintf("ConceptMap %s has no mapping for %s#%s", cm.URL, req.Coding.System, req.Coding.Code)
		if len(req.Dependencies) == 0 && !req.Reverse {
			res.Message += " without dependencies"
		}
	}
	return res, nil
}

// AllocationMap reads the current allocation ConceptMap from the store.
func (t *Terminology) AllocationMap(ctx context.Context, src Source) (*ConceptMap, error) {
	r, err := t.read(ctx, src, "ConceptMap", AllocationMap, "")
	if err != nil {
		return nil, err
	}
	return ParseConceptMap(r)
}
