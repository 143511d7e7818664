package search

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
)

// Query is a parsed FHIR search on one resource type. Params are ANDed
// (in query-key order, repetitions of a key as sent); the Values of one
// Param are ORed.
type Query struct {
	Type   string
	Params []Param

	Sort []SortKey
	// Count is _count, nil when absent; the caller applies its maximum.
	Count    *int
	Total    string   // _total: "", "none", "estimate" or "accurate"
	Summary  string   // _summary: "", "true", "text", "data", "count" or "false"
	Elements []string // _elements, as given

	Include    []Include
	RevInclude []Include

	// Ignored are the query keys (with their modifiers, as sent) that were
	// not applied: unknown or unsupported parameters, and parameters whose
	// value is empty (R4: such parameters are ignored). The self link
	// leaves them out.
	Ignored []string
	// Why says, by key of Ignored, why it was not applied (unknown,
	// unsupported...);
	// an empty value has no entry.
	Why map[string]string

	// Tenancy, when set, limits what the query looks at beyond its own
	// type: ParseQuery never sets it; the gateway does, for callers bound
	// to some practices. See Tenancy.
	Tenancy *Tenancy

	// Compartment, when set, limits the search to the resources of one
	// compartment: ParseQuery never sets it; the gateway does, for
	// compartment search (Patient/[id]/Observation) and $everything.
	Compartment *Compartment
}

// Compartment is membership of a compartment (R4 CompartmentDefinition):
// a resource is in it when any of its reference parameters Params points
// at the compartment's resource Type/ID on this server, or, with Self,
// when it is that resource itself. The Params are ORed, unlike Params
// of a Query.
type Compartment struct {
	Type   string
	ID     string
	Params []string
	Self   bool
}

// Tenancy is a restriction on the resources a search reaches through
// references: the targets a chained parameter tests, the resources a _has
// tests and the resources _include and _revinclude bring in. A resource
// of one of Types counts only when its meta.security holds System|code
// for one of Codes (its _security index rows); resources of other types
// are not restricted. The searched type itself is restricted by an
// ordinary _security parameter, so Tenancy does not apply to it.
type Tenancy struct {
	Types  []string
	System string
	Codes  []string
}

// Applies reports whether resources of typ are restricted.
func (t *Tenancy) Applies(typ string) bool {
	if t == nil {
		return false
	}
	for _, x := range t.Types {
		if x == typ {
			return true
		}
	}
	return false
}

// Param is one search parameter occurrence.
type Param struct {
	// Name is the parameter code as sent ("subject", "_id"); for _has it
	// is "_has".
	Name string
	// Def is the parameter on the searched type; nil for _has.
	Def *Definition
	// Modifier is one of the Mod* codes, or "".
	Modifier string
	// TargetType is a reference parameter's type modifier
	// (subject:Patient) or the type a chain names
	// (performer:HealthcareService.name); "" otherwise.
	TargetType string
	// Chain is set for a chained parameter (patient.identifier=...): the
	// Values then belong to Chain.Param, and this Param has none.
	Chain *Chain
	// Has is set for _has:Type:ref:param=...; the Values then belong to
	// Has.Param.
	Has    *Has
	Values []Value
}

// Chain is one level of chaining: resources whose Param reference points
// at a resource of one of Types that matches Param, which may itself be
// chained or a _has (MaxLinks links in all).
type Chain struct {
	// Types are the target types that define the chained parameter:
	// the type modifier if given, else every target type of the reference
	// parameter the registry holds with that parameter.
	Types []string
	// Param is the chained parameter; its Def is the definition on
	// Types[0] (all Types define it with the same type).
	Param Param
}

// Has is a reverse chain: resources referenced, through the reference
// parameter Ref of resources of Type, by a resource that matches Param,
// which may itself be a _has (nested) or chained (MaxLinks links in all).
type Has struct {
	Type  string
	Ref   *Definition
	Param Param
}

// Prefix is a comparison prefix of a date, number or quantity value.
type Prefix string

const (
	PrefixEq Prefix = "eq"
	PrefixNe Prefix = "ne"
	PrefixLt Prefix = "lt"
	PrefixGt Prefix = "gt"
	PrefixLe Prefix = "le"
	PrefixGe Prefix = "ge"
	PrefixSa Prefix = "sa"
	PrefixEb Prefix = "eb"
	PrefixAp Prefix = "ap"
)

// Value is one OR value, parsed by the parameter's type. Which fields are
// set depends on that type and the modifier:
//
//   - :missing: Missing.
//   - token: System and Code, SystemGiven when the value had a '|'
//     ("system|code", "|code" = no system, "system|" = any code of the
//     system); :of-type gives TypeSystem, TypeCode and Code (the
//     identifier value); :text gives Text. _id gives Code.
//   - string: Text (NormalizeString, cut to MaxIndexedString) for the
//     default starts-with and :contains, Exact for :exact.
//   - reference: a relative or absolute literal gives Type, ID, Version
//     and Base as SplitReference reads them plus URL as sent; a bare id
//     gives ID, and Type when the type modifier or a single target type
//     decides it; a canonical parameter gives URL and Version (after '|');
//     :identifier gives System, Code and SystemGiven as a token.
//   - date: Prefix, and Low/High as DateRange gives them.
//   - number: Prefix, Number and NumberLow/NumberHigh (DecimalRange).
//   - quantity: as number, plus System and Code of the unit
//     ("5.4|http://unitsofmeasure.org|mg"; "5.4||mg" has an empty System
//     and the store matches Code against the code or the unit).
//   - uri: URL.
//   - composite: Components, one Value per component of the definition
//     (Definition.Components), each parsed as its component's type; the
//     value was their values joined by '$'.
type Value struct {
	// Raw is the value as sent, escapes removed.
	Raw    string
	Prefix Prefix

	Missing bool

	System      string
	Code        string
	SystemGiven bool
	TypeSystem  string
	TypeCode    string

	Text  string
	Exact string

	Type    string
	ID      string
	Version string
	Base    string
	URL     string

	Low  time.Time
	High time.Time

	Number     Decimal
	NumberLow  Decimal
	NumberHigh Decimal

	Components []Value
}

// SortKey is one _sort key.
type SortKey struct {
	Name       string
	Def        *Definition
	Descending bool
}

// Include is one _include or _revinclude value: resources of Source
// type, following Param (nil Def and Param "*" for every reference
// parameter), restricted to Target type when given.
type Include struct {
	Source  string
	Param   string
	Def     *Definition
	Target  string
	Iterate bool
}

// resultParams are the parameters ParseQuery handles itself. _format and
// _pretty belong to the HTTP layer: accepted and left alone.
var resultParams = map[string]bool{
	"_sort": true, "_count": true, "_total": true, "_summary": true, "_elements": true,
	"_include": true, "_revinclude": true, "_format": true, "_pretty": true,
}

// ParseQuery turns the query parameters of a search on typ into a Query.
// Unknown and unsupported parameters are collected in Ignored, or, when
// strict (Prefer: handling=strict), are an error naming them (not-supported,
// HTTP 400). A malformed value (a bad date, prefix, number, _count ...) is
// always an error naming the parameter (invalid, HTTP 400), and so is a
// modifier the parameter does not support: R4 says servers SHALL reject
// those rather than ignore them, since ignoring a modifier changes the
// meaning of the search.
func ParseQuery(typ string, params url.Values, strict bool) (*Query, error) {
	if Definitions(typ) == nil {
		return nil, fhir.Errorf(fhir.CodeNotSupported, "searching %s is not supported", typ).Because(fhir.DetailUnsupportedSearch)
	}
	q := &Query{Type: typ}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if err := fhir.CheckText(key); err != nil {
			return nil, fhir.Errorf(fhir.CodeInvalid, "a search parameter name cannot be used: %v", err).Because(fhir.DetailMalformed)
		}
		for _, raw := range params[key] {
			if err := fhir.CheckText(raw); err != nil {
				return nil, invalid(key, "the value cannot be a FHIR string: %v", err)
			}
			if err := q.parse(key, raw, strict); err != nil {
				return nil, err
			}
		}
	}
	sort.Strings(q.Ignored)
	q.Ignored = compactStrings(q.Ignored)
	return q, nil
}

// ignore records key as not applied, or fails in strict mode.
func (q *Query) ignore(key, why string, strict bool) error {
	if strict {
		return fhir.Errorf(fhir.CodeNotSupported, "search parameter %s: %s", key, why).Because(fhir.DetailUnsupportedSearch)
	}
	q.Ignored = append(q.Ignored, key)
	if q.Why == nil {
		q.Why = map[string]string{}
	}
	q.Why[key] = why
	return nil
}

func invalid(key, format string, args ...any) error {
	return fhir.Errorf(fhir.CodeInvalid, "search parameter %s: "+format, append([]any{key}, args...)...).Because(fhir.DetailMalformed)
}

func (q *Query) parse(key, raw string, strict bool) error {
	if raw == "" {
		// R4: parameters with an empty value are ignored, even in strict
		// mode (it is not an unknown parameter).
		q.Ignored = append(q.Ignored, key)
		return nil
	}
	name, mod, _ := strings.Cut(key, ":")
	if resultParams[name] {
		return q.parseResult(key, name, mod, raw)
	}
	if name == "_has" {
		p, applied, err := q.parseHas(q.Type, key, mod, raw, strict, 1)
		if err != nil || !applied {
			return err
		}
		q.Params = append(q.Params, p)
		return nil
	}
	p, applied, err := q.parseParam(q.Type, key, key, raw, strict, 0)
	if err != nil || !applied {
		return err
	}
	q.Params = append(q.Params, p)
	return nil
}

// MaxLinks bounds the links of one parameter: chain steps (subject.name)
// and _has levels together. Each link is one more join on the reference
// index, so the bound caps the cost of a search; a parameter with more is
// a 400 whatever the Prefer header says (CheckLinks).
const MaxLinks = 3

// tooDeep is the refusal of a parameter of more than MaxLinks links.
func tooDeep(key string) error {
	return fhir.Errorf(fhir.CodeTooCostly, "search parameter %s: chains and _has of more than %d levels are not supported", key, MaxLinks).Because(fhir.DetailUnsupportedSearch)
}

// parseParam parses spec=raw for a parameter of typ; spec is key, or the
// part of key after a chain's dot or _has:Type:ref:, and key is what
// errors and Ignored name; links is how many chain or _has links lead to
// spec. applied is false when the parameter was ignored (unknown or
// unsupported, lenient mode).
func (q *Query) parseParam(typ, key, spec, raw string, strict bool, links int) (Param, bool, error) {
	head, chained, isChain := strings.Cut(spec, ".")
	name, mod, _ := strings.Cut(head, ":")
	def, ok := Lookup(typ, name)
	if !ok {
		return Param{}, false, q.ignore(key, "unknown for "+typ, strict)
	}
	if !def.Supported {
		return Param{}, false, q.ignore(key, def.Unsupported, strict)
	}
	p := Param{Name: name, Def: def}
	if mod != "" {
		if isResourceTypeName(mod) {
			if def.Type != TypeReference {
				return p, false, invalid(key, "a type modifier needs a reference parameter")
			}
			if len(def.Targets) > 0 && !def.hasTarget(mod) {
				return p, false, invalid(key, "%s is not a target type of %s", mod, name)
			}
			p.TargetType = mod
		} else if !def.HasModifier(mod) {
			return p, false, fhir.Errorf(fhir.CodeNotSupported, "search parameter %s: modifier :%s is not supported on %s", key, mod, name).Because(fhir.DetailUnsupportedSearch)
		} else {
			p.Modifier = mod
		}
	}
	if isChain {
		if links >= MaxLinks {
			return p, false, tooDeep(key)
		}
		if def.Type != TypeReference || def.Canonical {
			return p, false, invalid(key, "only a reference parameter can be chained")
		}
		if p.Modifier != "" {
			return p, false, invalid(key, "a chained parameter takes no modifier but a type")
		}
		c, applied, err := q.parseChain(p, key, chained, raw, strict, links+1)
		if err != nil || !applied {
			return p, false, err
		}
		p.Chain = c
		return p, true, nil
	}
	vals, err := parseValues(p, key, raw)
	if err != nil {
		return p, false, err
	}
	p.Values = vals
	return p, true, nil
}

func (q *Query) parseChain(p Param, key, chained, raw string, strict bool, links int) (*Chain, bool, error) {
	cname, _, _ := strings.Cut(chained, ":")
	if i := strings.IndexByte(cname, '.'); i >= 0 {
		cname = cname[:i]
	}
	candidates := p.Def.Targets
	if p.TargetType != "" {
		candidates = []string{p.TargetType}
	}
	c := &Chain{}
	var ctype ParamType
	for _, t := range candidates {
		d, ok := Lookup(t, cname)
		if !ok || !d.Supported {
			continue
		}
		if ctype != "" && d.Type != ctype {
			return nil, false, invalid(key, "%s has different types on the targets of %s: add a type modifier (%s:%s.%s)", cname, p.Name, p.Name, t, cname)
		}
		ctype = d.Type
		c.Types = append(c.Types, t)
	}
	if len(c.Types) == 0 {
		return nil, false, q.ignore(key, "no target type of "+p.Name+" has a parameter "+cname, strict)
	}
	cp, applied, err := q.parseParam(c.Types[0], key, chained, raw, strict, links)
	if err != nil || !applied {
		return nil, false, err
	}
	c.Param = cp
	return c, true, nil
}

// parseHas parses _has:Type:ref:param[:modifier]=raw on resources of
// target (mod is what follows "_has:"); links counts this _has. The
// parameter may itself be a _has (nested) or a chain, within MaxLinks.
func (q *Query) parseHas(target, key, mod, raw string, strict bool, links int) (Param, bool, error) {
	if links > MaxLinks {
		return Param{}, false, tooDeep(key)
	}
	parts := strings.SplitN(mod, ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return Param{}, false, invalid(key, "expected _has:Type:reference:parameter")
	}
	typ, refName, rest := parts[0], parts[1], parts[2]
	if Definitions(typ) == nil {
		return Param{}, false, q.ignore(key, "searching "+typ+" is not supported", strict)
	}
	ref, ok := Lookup(typ, refName)
	if !ok || !ref.Supported {
		return Param{}, false, q.ignore(key, typ+" has no search parameter "+refName, strict)
	}
	if ref.Type != TypeReference || ref.Canonical {
		return Param{}, false, invalid(key, "%s.%s is not a reference parameter", typ, refName)
	}
	if len(ref.Targets) > 0 && !ref.hasTarget(target) {
		return Param{}, false, invalid(key, "%s.%s cannot point at %s", typ, refName, target)
	}
	var p Param
	var applied bool
	var err error
	if inner, ok := strings.CutPrefix(rest, "_has:"); ok {
		p, applied, err = q.parseHas(typ, key, inner, raw, strict, links+1)
	} else {
		p, applied, err = q.parseParam(typ, key, rest, raw, strict, links)
	}
	if err != nil || !applied {
		return Param{}, false, err
	}
	return Param{Name: "_has", Has: &Has{Type: typ, Ref: ref, Param: p}}, true, nil
}

// Links is the number of chain and _has links of p (0 for a plain
// parameter).
func (p *Param) Links() int {
	switch {
	case p.Chain != nil:
		return 1 + p.Chain.Param.Links()
	case p.Has != nil:
		return 1 + p.Has.Param.Links()
	}
	return 0
}

// Reached calls f with every type p reaches through its chains and _has
// links, at every level.
func (p *Param) Reached(f func(typ string)) {
	switch {
	case p.Chain != nil:
		for _, t := range p.Chain.Types {
			f(t)
		}
		p.Chain.Param.Reached(f)
	case p.Has != nil:
		f(p.Has.Type)
		p.Has.Param.Reached(f)
	}
}

func (q *Query) parseResult(key, name, mod, raw string) error {
	switch name {
	case "_format", "_pretty":
		return nil
	case "_include", "_revinclude":
		iterate := false
		switch mod {
		case "":
		case "iterate", "recurse": // recurse is the R3 name
			iterate = true
		default:
			return fhir.Errorf(fhir.CodeNotSupported, "search parameter %s: modifier :%s is not supported", key, mod).Because(fhir.DetailUnsupportedSearch)
		}
		inc, err := parseInclude(key, raw, iterate)
		if err != nil {
			return err
		}
		if name == "_include" {
			q.Include = append(q.Include, inc)
		} else {
			q.RevInclude = append(q.RevInclude, inc)
		}
		return nil
	}
	if mod != "" {
		return fhir.Errorf(fhir.CodeNotSupported, "search parameter %s takes no modifier", key).Because(fhir.DetailUnsupportedSearch)
	}
	switch name {
	case "_sort":
		for _, k := range splitList(raw, ',') {
			desc := strings.HasPrefix(k, "-")
			k = strings.TrimPrefix(k, "-")
			if k == "" {
				continue
			}
			d, ok := Lookup(q.Type, k)
			if !ok || !d.Supported || d.Type == TypeComposite {
				return invalid(key, "%s cannot sort %s", k, q.Type)
			}
			q.Sort = append(q.Sort, SortKey{Name: k, Def: d, Descending: desc})
		}
	case "_count":
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return invalid(key, "%q is not a non-negative integer", raw)
		}
		q.Count = &n
	case "_total":
		switch raw {
		case "none", "estimate", "accurate":
			q.Total = raw
		default:
			return invalid(key, "%q is not none, estimate or accurate", raw)
		}
	case "_summary":
		switch raw {
		case "true", "text", "data", "count", "false":
			q.Summary = raw
		default:
			return invalid(key, "%q is not true, text, data, count or false", raw)
		}
	case "_elements":
		for _, e := range strings.Split(raw, ",") {
			if e = strings.TrimSpace(e); e != "" {
				q.Elements = append(q.Elements, e)
			}
		}
	}
	return nil
}

// parseInclude reads Source:param[:Target], Source:* or *.
func parseInclude(key, raw string, iterate bool) (Include, error) {
	inc := Include{Iterate: iterate}
	if raw == "*" {
		inc.Source, inc.Param = "*", "*"
		return inc, nil
	}
	parts := strings.Split(raw, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return inc, invalid(key, "%q is not Type:parameter[:TargetType]", raw)
	}
	inc.Source, inc.Param = parts[0], parts[1]
	if Definitions(inc.Source) == nil {
		return inc, invalid(key, "%s is not a searchable type", inc.Source)
	}
	if len(parts) == 3 {
		inc.Target = parts[2]
	}
	if inc.Param == "*" {
		return inc, nil
	}
	d, ok := Lookup(inc.Source, inc.Param)
	if !ok || d.Type != TypeReference || !d.Supported {
		return inc, invalid(key, "%s is not a reference parameter of %s", inc.Param, inc.Source)
	}
	if inc.Target != "" && len(d.Targets) > 0 && !d.hasTarget(inc.Target) {
		return inc, invalid(key, "%s is not a target type of %s:%s", inc.Target, inc.Source, inc.Param)
	}
	inc.Def = d
	return inc, nil
}

// parseValues splits raw at unescaped commas and parses each value.
func parseValues(p Param, key, raw string) ([]Value, error) {
	if p.Modifier == ModMissing {
		switch raw {
		case "true":
			return []Value{{Raw: raw, Missing: true}}, nil
		case "false":
			return []Value{{Raw: raw}}, nil
		}
		return nil, invalid(key, "%q is not true or false", raw)
	}
	var out []Value
	for _, s := range splitList(raw, ',') {
		if s == "" {
			continue
		}
		v, err := parseValue(p, key, s)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, invalid(key, "no value")
	}
	return out, nil
}

// parseValue parses one escaped value (the ',' split already done).
func parseValue(p Param, key, s string) (Value, error) {
	d := p.Def
	v := Value{Raw: unescape(s)}
	switch d.Type {
	case TypeToken:
		switch {
		case d.Code == "_id":
			v.Code = v.Raw
		case p.Modifier == ModText:
			v.Text = cutString(NormalizeString(v.Raw))
		case p.Modifier == ModIn || p.Modifier == ModNotIn:
			v.URL = v.Raw
		case p.Modifier == ModBelow || p.Modifier == ModAbove:
			v.System, v.Code, v.SystemGiven = splitToken(s)
			if v.System == "" || v.Code == "" {
				return v, invalid(key, "%q is not system|code: :%s needs the code system", v.Raw, p.Modifier)
			}
		case p.Modifier == ModOfType:
			parts := splitList(s, '|')
			if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
				return v, invalid(key, "%q is not system|code|value", v.Raw)
			}
			v.TypeSystem, v.TypeCode, v.Code = unescape(parts[0]), unescape(parts[1]), unescape(parts[2])
		default:
			v.System, v.Code, v.SystemGiven = splitToken(s)
		}
	case TypeString:
		v.Text = cutString(NormalizeString(v.Raw))
		v.Exact = v.Raw
	case TypeReference:
		if err := parseReferenceValue(&v, p, key, s); err != nil {
			return v, err
		}
	case TypeDate:
		pre, rest, err := splitPrefix(key, v.Raw)
		if err != nil {
			return v, err
		}
		lo, hi, err := DateRange(rest)
		if err != nil {
			return v, invalid(key, "%q: %v", v.Raw, err)
		}
		v.Prefix, v.Low, v.High = pre, lo, hi
	case TypeNumber, TypeQuantity:
		num := s
		if d.Type == TypeQuantity {
			parts := splitList(s, '|')
			switch len(parts) {
			case 1:
			case 3:
				v.System, v.Code = unescape(parts[1]), unescape(parts[2])
			default:
				return v, invalid(key, "%q is not number, number|system|code or number||code", v.Raw)
			}
			num = parts[0]
		}
		pre, rest, err := splitPrefix(key, unescape(num))
		if err != nil {
			return v, err
		}
		val, lo, hi, err := DecimalRange(rest)
		if err != nil {
			return v, invalid(key, "%q: %v", v.Raw, err)
		}
		v.Prefix, v.Number, v.NumberLow, v.NumberHigh = pre, val, lo, hi
	case TypeURI:
		v.URL = v.Raw
	case TypeComposite:
		parts := splitList(s, '$')
		if len(parts) != len(d.Components) {
			names := make([]string, len(d.Components))
			for i, c := range d.Components {
				names[i] = c.Def.Code
			}
			return v, invalid(key, "%q is not %d values joined by $ (%s)", v.Raw, len(d.Components), strings.Join(names, "$"))
		}
		v.Components = make([]Value, len(parts))
		for i, c := range d.Components {
			if parts[i] == "" {
				return v, invalid(key, "%q has no value for %s", v.Raw, c.Def.Code)
			}
			cv, err := parseValue(Param{Name: p.Name, Def: c.Def}, key, parts[i])
			if err != nil {
				return v, err
			}
			v.Components[i] = cv
		}
	}
	return v, nil
}

func parseReferenceValue(v *Value, p Param, key, s string) error {
	d := p.Def
	if p.Modifier == ModIdentifier {
		v.System, v.Code, v.SystemGiven = splitToken(s)
		return nil
	}
	raw := v.Raw
	if d.Canonical {
		v.URL = raw
		if u, ver, ok := strings.Cut(raw, "|"); ok {
			v.URL, v.Version = u, ver
		}
		return nil
	}
	v.URL = raw
	if strings.HasPrefix(raw, "urn:") {
		return nil // urn:uuid:, urn:oid: references are matched on URL
	}
	if !strings.Contains(raw, "/") {
		if !fhir.ValidID(raw) {
			return invalid(key, "%q is not an id, Type/id or URL", raw)
		}
		v.ID = raw
		switch {
		case p.TargetType != "":
			v.Type = p.TargetType
		case len(d.Targets) == 1:
			v.Type = d.Targets[0]
		}
		return nil
	}
	v.Base, v.Type, v.ID, v.Version = SplitReference(raw)
	if v.Type == "" {
		if strings.Contains(raw, "://") {
			return nil // an absolute URL of another shape: matched on URL
		}
		return invalid(key, "%q is not an id, Type/id or URL", raw)
	}
	if p.TargetType != "" && v.Type != p.TargetType {
		return invalid(key, "%q is not a %s", raw, p.TargetType)
	}
	if len(d.Targets) > 0 && !d.hasTarget(v.Type) {
		return invalid(key, "%s cannot point at %s", p.Name, v.Type)
	}
	return nil
}

// splitToken reads code, system|code, |code or system| (escaped text).
func splitToken(s string) (system, code string, systemGiven bool) {
	parts := splitListN(s, '|', 2)
	if len(parts) == 1 {
		return "", unescape(parts[0]), false
	}
	return unescape(parts[0]), unescape(parts[1]), true
}

// splitPrefix takes a comparison prefix off a date, number or quantity
// value; eq when there is none. The values these types take start with a
// digit or a sign, so two leading letters are always meant as a prefix.
func splitPrefix(key, s string) (Prefix, string, error) {
	if len(s) >= 2 && isLower(s[0]) && isLower(s[1]) {
		switch pre := Prefix(s[:2]); pre {
		case PrefixEq, PrefixNe, PrefixLt, PrefixGt, PrefixLe, PrefixGe, PrefixSa, PrefixEb, PrefixAp:
			return pre, s[2:], nil
		}
		return "", "", invalid(key, "%q has an unknown prefix %q", s, s[:2])
	}
	return PrefixEq, s, nil
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }

// splitList splits s at every sep not escaped by a backslash, keeping the
// escapes (so a value can be split again at another separator).
func splitList(s string, sep byte) []string { return splitListN(s, sep, -1) }

func splitListN(s string, sep byte, n int) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			if n > 0 && len(out) == n-1 {
				continue
			}
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unescape removes the search escapes \, \| \$ \\ (R4 3.1.1.5.7); a
// backslash before any other character is kept.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`,|$\`, s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func compactStrings(s []string) []string {
	if len(s) < 2 {
		return s
	}
	out := s[:1]
	for _, e := range s[1:] {
		if e != out[len(out)-1] {
			out = append(out, e)
		}
	}
	return out
}
