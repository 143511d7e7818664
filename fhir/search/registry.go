package search

//go:generate go run ./internal/gen -params ../../testdata/fhir/search-parameters/search-parameters.official-4.0.1.json -core ../../testdata/fhir/r4-core-4.0.1 -out table_gen.go

import (
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/signpost-fhir/signpost/fhir/search/internal/fhirpath"
)

// ParamType is a search parameter type.
type ParamType string

const (
	TypeToken     ParamType = "token"
	TypeString    ParamType = "string"
	TypeReference ParamType = "reference"
	TypeDate      ParamType = "date"
	TypeNumber    ParamType = "number"
	TypeQuantity  ParamType = "quantity"
	TypeURI       ParamType = "uri"
	TypeComposite ParamType = "composite"
	TypeSpecial   ParamType = "special"
)

// Modifier codes ParseQuery accepts. A reference parameter's type modifier
// (subject:Patient) is not a code of its own: Param.TargetType holds it.
const (
	ModMissing    = "missing"
	ModExact      = "exact"
	ModContains   = "contains"
	ModText       = "text"
	ModNot        = "not"
	ModOfType     = "of-type"
	ModIdentifier = "identifier"
	// ModBelow and ModAbove are prefix matches on a uri; on a token they
	// are subsumption, which the caller expands into codes as :in
	// (ExpandCodes).
	ModBelow = "below"
	ModAbove = "above"
	// ModIn and ModNotIn take a value set's canonical URL (Value.URL).
	// The store does not evaluate them: the caller expands the value set
	// into the codes of a plain (:in) or :not (:not-in) parameter first
	// (ExpandValueSets).
	ModIn    = "in"
	ModNotIn = "not-in"
)

// Definition is one search parameter as it applies to one resource type.
// Definitions are shared and read-only.
type Definition struct {
	Code string
	// Base is the resource type the definition was looked up for; the
	// common parameters (_id, _tag ...) have one Definition per type.
	Base string
	Type ParamType
	URL  string // the SearchParameter's canonical URL
	// Expression is the part of the R4 expression that applies to Base
	// ("Task.for.where(resolve() is Patient)"), parts joined by " | ".
	Expression string
	// Targets are the resource types a reference parameter may point at.
	Targets []string
	// Modifiers are the modifiers ParseQuery accepts for the parameter,
	// the type modifier of reference parameters aside.
	Modifiers []string
	// Comparators are the prefixes the definition declares (date, number,
	// quantity); ParseQuery accepts every R4 prefix on those types.
	Comparators []string
	// Chains are the chain names the definition declares; R4's core
	// definitions declare none, and ParseQuery allows any parameter of
	// the target type.
	Chains []string
	// Canonical marks a reference parameter whose values are canonical
	// URLs (or uris), not References: its index rows and search values
	// carry URL and Version only.
	Canonical bool
	// Supported tells whether Extract indexes the parameter and ParseQuery
	// accepts it; Unsupported says why not.
	Supported   bool
	Unsupported string

	// Components are a composite parameter's components, in the order
	// its values give them (code$value); nil for other types.
	Components []*Component

	parts []part
	// instanceParams are InstanceParam(Code, n) for the first n.
	instanceParams []string
}

// Component is one component of a composite parameter: a parameter of
// its own (Def: code, type and a parse of its values) evaluated on each
// value of the composite's expression (an Observation.component ...), so
// that all components of a search value must match within the same one.
type Component struct {
	Def        *Definition
	expr       *fhirpath.Expr
	staticType string
}

// part is one compiled union part and the FHIR type its values have unless
// evaluation types them (choice variants, casts).
type part struct {
	expr       *fhirpath.Expr
	staticType string // "" when the part ends in a choice element
}

// paramRow and partRow are the shapes of the generated table.
type paramRow struct {
	code, base, typ, url, usage string
	parts                       []partRow
	targets                     []string
	modifiers                   []string
	chains                      []string
	comparators                 []string
	components                  []componentRow
	noComposite                 string
}

type componentRow struct {
	code, typ, expr string
	types           []string
}

type partRow struct {
	expr  string
	types []string
}

// registry is built from the generated table on first use.
type registry struct {
	byType map[string]map[string]*Definition
	sorted map[string][]*Definition
	types  []string
	// counts are the supported parameters per type and parameter type.
	counts  map[string]map[ParamType]int
	errs    []error // expressions that failed to compile (a test asserts none)
	choices map[string][]string
}

var (
	regOnce sync.Once
	reg     *registry
)

func theRegistry() *registry {
	regOnce.Do(func() { reg = buildRegistry() })
	return reg
}

func buildRegistry() *registry {
	r := &registry{
		byType: map[string]map[string]*Definition{}, sorted: map[string][]*Definition{},
		counts: map[string]map[ParamType]int{}, choices: choiceTypes,
	}
	var common []*paramRow
	for i := range generated {
		row := &generated[i]
		if row.base == "Resource" {
			common = append(common, row)
			continue
		}
		r.add(row, row.base)
	}
	r.types = append(r.types, generatedTypes...)
	sort.Strings(r.types)
	for _, t := range r.types {
		for _, row := range common {
			r.add(row, t)
		}
	}
	for t, m := range r.byType {
		defs := make([]*Definition, 0, len(m))
		for _, d := range m {
			defs = append(defs, d)
		}
		sort.Slice(defs, func(i, j int) bool { return defs[i].Code < defs[j].Code })
		r.sorted[t] = defs
		r.counts[t] = map[ParamType]int{}
		for _, d := range defs {
			if d.Supported {
				r.counts[t][d.Type]++
			}
		}
	}
	return r
}

func (r *registry) add(row *paramRow, base string) {
	d := &Definition{
		Code: row.code, Base: base, Type: ParamType(row.typ), URL: row.url,
		Targets: row.targets, Chains: row.chains, Comparators: row.comparators,
	}
	exprs := make([]string, 0, len(row.parts))
	for _, p := range row.parts {
		exprs = append(exprs, p.expr)
		e, err := fhirpath.Compile(p.expr, choiceTypes)
		if err != nil {
			r.errs = append(r.errs, err)
			continue
		}
		st := ""
		if len(p.types) == 1 {
			st = p.types[0]
		}
		d.parts = append(d.parts, part{expr: e, staticType: st})
	}
	d.Expression = strings.Join(exprs, " | ")
	d.Canonical = d.Type == TypeReference && onlyTypes(row.parts, "canonical", "uri")
	d.Supported, d.Unsupported = supported(row)
	if d.Supported && d.Type == TypeComposite {
		for _, c := range row.components {
			e, err := fhirpath.Compile(c.expr, choiceTypes)
			if err != nil {
				r.errs = append(r.errs, err)
				d.Supported, d.Unsupported, d.Components = false, "component "+c.code+" cannot be evaluated", nil
				break
			}
			st := ""
			if len(c.types) == 1 {
				st = c.types[0]
			}
			cd := &Definition{Code: c.code, Base: base, Type: ParamType(c.typ), Supported: true}
			d.Components = append(d.Components, &Component{Def: cd, expr: e, staticType: st})
		}
		for n := range 8 {
			d.instanceParams = append(d.instanceParams, InstanceParam(d.Code, n))
		}
	}
	d.Modifiers = modifiersFor(d, row)
	if r.byType[base] == nil {
		r.byType[base] = map[string]*Definition{}
	}
	r.byType[base][d.Code] = d
}

// supported decides which parameters Signpost serves. Composite and
// special parameters, and string parameters whose definition means
// phonetic matching, are listed in the CapabilityStatement only as far as
// the caller wants; Extract skips them and ParseQuery treats them as
// unknown.
func supported(row *paramRow) (bool, string) {
	switch ParamType(row.typ) {
	case TypeComposite:
		if len(row.components) == 0 {
			return false, "composite parameter not supported: " + row.noComposite
		}
	case TypeSpecial:
		return false, "special parameters are not indexed"
	}
	if row.usage != "" {
		return false, "a " + row.usage + " search is not provided"
	}
	return true, ""
}

// modifiersFor lists the modifiers served for d: those R4 defines for its
// type that Signpost implements, narrowed to the ones the definition
// declares when it declares any (R4's core definitions declare none).
func modifiersFor(d *Definition, row *paramRow) []string {
	if !d.Supported {
		return nil
	}
	mods := modifiersForType(d, row)
	if len(row.modifiers) == 0 || d.Type == TypeComposite {
		return mods
	}
	out := []string{ModMissing}
	for _, m := range mods {
		if m != ModMissing && slices.Contains(row.modifiers, m) {
			out = append(out, m)
		}
	}
	return out
}

func modifiersForType(d *Definition, row *paramRow) []string {
	switch d.Type {
	case TypeComposite:
		return []string{ModMissing}
	case TypeString:
		return []string{ModMissing, ModExact, ModContains}
	case TypeToken:
		mods := []string{ModMissing, ModNot, ModText}
		if d.Code != "_id" {
			mods = append(mods, ModIn, ModNotIn, ModBelow, ModAbove)
		}
		for _, p := range row.parts {
			for _, t := range p.types {
				if t == "Identifier" {
					return append(mods, ModOfType)
				}
			}
		}
		return mods
	case TypeReference:
		if d.Canonical {
			return []string{ModMissing}
		}
		return []string{ModMissing, ModIdentifier}
	case TypeURI:
		return []string{ModMissing, ModBelow, ModAbove}
	}
	return []string{ModMissing}
}

// Lookup finds the parameter code of a resource type.
func Lookup(resourceType, code string) (*Definition, bool) {
	d, ok := theRegistry().byType[resourceType][code]
	return d, ok
}

// Definitions are every parameter of a resource type, supported or not,
// sorted by code; nil for a type the registry does not hold.
func Definitions(resourceType string) []*Definition {
	return theRegistry().sorted[resourceType]
}

// ResourceTypes are the resource types the registry holds, sorted.
func ResourceTypes() []string {
	return append([]string(nil), theRegistry().types...)
}

// HasModifier reports whether ParseQuery accepts modifier m on d.
func (d *Definition) HasModifier(m string) bool {
	for _, x := range d.Modifiers {
		if x == m {
			return true
		}
	}
	return false
}

// hasTarget reports whether a reference parameter may point at typ.
func (d *Definition) hasTarget(typ string) bool {
	for _, t := range d.Targets {
		if t == typ {
			return true
		}
	}
	return false
}

// onlyTypes reports whether every static type of every part is one of
// names.
func onlyTypes(parts []partRow, names ...string) bool {
	for _, p := range parts {
		for _, t := range p.types {
			found := false
			for _, n := range names {
				found = found || t == n
			}
			if !found {
				return false
			}
		}
	}
	return len(parts) > 0
}
