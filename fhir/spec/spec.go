package spec

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/signpost-fhir/signpost/fhir/internal/specfile"
)

//go:embed r4.json.gz
var embedded []byte

// Kind is what a Type describes.
type Kind uint8

const (
	KindPrimitive Kind = iota + 1 // string, code, dateTime, ...
	KindComplex                   // Coding, Reference, Extension, ...
	KindResource                  // Task, Bundle, ... and the abstract Resource, DomainResource
)

func (k Kind) String() string {
	switch k {
	case KindPrimitive:
		return specfile.KindPrimitive
	case KindComplex:
		return specfile.KindComplex
	case KindResource:
		return specfile.KindResource
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Type is one base type of the specification. Types, Elements, Structures
// and ValueSets are shared by every caller: read them, never change them.
type Type struct {
	Name     string
	Kind     Kind
	Abstract bool
	Base     *Type // nil for Element and Resource
	// Regex matches a whole valid value of a primitive (the published
	// pattern, anchored); nil for complex types, resources and xhtml.
	Regex *regexp.Regexp
	// MaxLength bounds a primitive's value in characters; 0 means none.
	MaxLength int
	// Elements is the snapshot without its root, in snapshot order.
	Elements []*Element

	structure *Structure
	match     func(string) bool
}

// Matches reports whether value is a valid value of primitive t by its
// regex (true when t has none). See fastMatchers for the patterns it checks
// without the regex engine.
func (t *Type) Matches(value string) bool {
	if t.match != nil {
		return t.match(value)
	}
	return t.Regex == nil || t.Regex.MatchString(value)
}

// Structure is the shape of the JSON object that holds a value of the type;
// nil for primitives.
func (t *Type) Structure() *Structure { return t.structure }

// IsResource reports whether t is a concrete resource type.
func (t *Type) IsResource() bool { return t.Kind == KindResource && !t.Abstract }

// Element is one element definition.
type Element struct {
	Path string // "Task.input.value[x]"
	Name string // last path segment: "value[x]"
	Min  int
	Max  int // Unbounded for "*"
	// Types are the allowed types; more than one only for a choice. An
	// element with a ContentReference has the Types of its target.
	Types            []TypeRef
	ContentReference string // "#Questionnaire.item", or ""
	// Binding is the ValueSet URL of a required binding, or "", and
	// ValueSet its expansion.
	Binding  string
	ValueSet *ValueSet
	// Children is the shape of a backbone element's objects (its own
	// children, or those of its ContentReference target); nil when the
	// element's type defines the shape.
	Children *Structure
	// MemberNames are the JSON member names that carry this element: each
	// choice variant, and the "_" form of every primitive one.
	MemberNames []string
	// Summary is the definition's isSummary: the element belongs to the
	// subset _summary=true returns.
	Summary bool
}

// Unbounded is Element.Max for "*".
const Unbounded = -1

// Repeats reports whether the element is a JSON array.
func (e *Element) Repeats() bool { return e.Max != 1 }

// Choice reports whether the element is a value[x] choice.
func (e *Element) Choice() bool { return strings.HasSuffix(e.Name, "[x]") }

// TypeRef is one allowed type of an element.
type TypeRef struct {
	Code           string
	Type           *Type
	TargetProfiles []string // for Reference and canonical: allowed targets
}

// Structure is the set of members one JSON object may have: those of a
// complex type or resource, or of one backbone element.
type Structure struct {
	Path     string     // "Task", "Task.input", "Coding"
	Elements []*Element // direct children, in snapshot order
	Required []*Element // the Elements with Min >= 1
	members  map[string]Member
}

// Member is what a JSON member name means in a Structure.
type Member struct {
	Element *Element
	// Type is the member's type: for a choice, the variant's
	// (valueString -> string); for a backbone element BackboneElement or
	// Element, whose shape is Element.Children.
	Type *Type
	// ExtensionName is the member that holds a primitive's id and
	// extensions ("_status" beside "status"); "" for other types.
	ExtensionName string
}

// Member looks up a JSON member name ("status", "valueQuantity"). Names
// starting with "_" (primitive extensions) and "resourceType" are not
// members: callers handle those.
func (s *Structure) Member(name string) (Member, bool) {
	m, ok := s.members[name]
	return m, ok
}

// ValueSet is the expansion of a ValueSet bound as required.
type ValueSet struct {
	URL string
	// Unchecked says why the package could not expand it (MIME types,
	// UCUM, ISO 4217, ...); "" when the codes below are complete.
	Unchecked string
	systems   map[string]map[string]struct{}
	codes     map[string]struct{} // across systems
}

// Checked reports whether codes can be checked against v.
func (v *ValueSet) Checked() bool { return v.Unchecked == "" }

// HasCode reports whether code is in v in any of its systems (for elements
// of type code, which carry no system).
func (v *ValueSet) HasCode(code string) bool {
	_, ok := v.codes[code]
	return ok
}

// HasCoding reports whether system|code is in v.
func (v *ValueSet) HasCoding(system, code string) bool {
	_, ok := v.systems[system][code]
	return ok
}

// HasSystem reports whether v takes any code from system.
func (v *ValueSet) HasSystem(system string) bool {
	_, ok := v.systems[system]
	return ok
}

// Systems lists the code systems of v, sorted.
func (v *ValueSet) Systems() []string {
	out := make([]string, 0, len(v.systems))
	for s := range v.systems {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Codes lists the codes v takes from system, sorted.
func (v *ValueSet) Codes(system string) []string {
	out := make([]string, 0, len(v.systems[system]))
	for c := range v.systems[system] {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// catalog is the loaded specification.
type catalog struct {
	version       string
	types         map[string]*Type
	elements      map[string]*Element
	valueSets     map[string]*ValueSet
	resourceTypes []string
}

var (
	loadOnce sync.Once
	loaded   *catalog
)

// get loads the embedded specification on first use. The data is generated
// and checked by this package's tests, so a failure to load is a build
// defect, not a runtime condition: it panics.
func get() *catalog {
	loadOnce.Do(func() {
		c, err := load(embedded)
		if err != nil {
			panic("spec: embedded r4.json.gz: " + err.Error())
		}
		loaded = c
	})
	return loaded
}

// Load forces loading, so a server can pay for it at start-up rather than
// on its first write.
func Load() { get() }

// FHIRVersion is the FHIR version of the embedded specification ("4.0.1").
func FHIRVersion() string { return get().version }

// ResourceTypes lists the concrete resource types, sorted.
func ResourceTypes() []string {
	return append([]string(nil), get().resourceTypes...)
}

// IsResourceType reports whether name is a concrete resource type.
func IsResourceType(name string) bool {
	t, ok := get().types[name]
	return ok && t.IsResource()
}

// LookupType finds a type by name ("Task", "Coding", "dateTime").
func LookupType(name string) (*Type, bool) {
	t, ok := get().types[name]
	return t, ok
}

// ElementByPath finds an element by its snapshot path
// ("Task.input.value[x]", "Questionnaire.item.item").
func ElementByPath(path string) (*Element, bool) {
	e, ok := get().elements[path]
	return e, ok
}

// RequiredValueSet finds the expansion of a ValueSet that some element binds
// as required, by URL with or without a "|version".
func RequiredValueSet(url string) (*ValueSet, bool) {
	if i := strings.IndexByte(url, '|'); i >= 0 {
		url = url[:i]
	}
	v, ok := get().valueSets[url]
	return v, ok
}

// PrimitiveRegex is the anchored regex of a primitive type; false for
// unknown or non-primitive types and for xhtml, which has none.
func PrimitiveRegex(name string) (*regexp.Regexp, bool) {
	t, ok := get().types[name]
	if !ok || t.Regex == nil {
		return nil, false
	}
	return t.Regex, true
}

func load(gz []byte) (*catalog, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	var f specfile.File
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, err
	}
	c := &catalog{
		version:   f.FHIRVersion,
		types:     make(map[string]*Type, len(f.Types)),
		elements:  make(map[string]*Element, 8192),
		valueSets: make(map[string]*ValueSet, len(f.ValueSets)),
	}
	for _, fv := range f.ValueSets {
		c.valueSets[fv.URL] = newValueSet(fv)
	}
	for _, ft := range f.Types {
		t := &Type{Name: ft.Name, Abstract: ft.Abstract, MaxLength: ft.MaxLength}
		switch ft.Kind {
		case specfile.KindPrimitive:
			t.Kind = KindPrimitive
		case specfile.KindComplex:
			t.Kind = KindComplex
		case specfile.KindResource:
			t.Kind = KindResource
		default:
			return nil, fmt.Errorf("type %s: unknown kind %q", ft.Name, ft.Kind)
		}
		if ft.Regex != "" {
			// The published patterns describe whole values.
			if t.Regex, err = regexp.Compile(`^(?:` + ft.Regex + `)$`); err != nil {
				return nil, fmt.Errorf("type %s: %w", ft.Name, err)
			}
			t.match = fastMatchers[ft.Regex]
		}
		c.types[t.Name] = t
		if t.IsResource() {
			c.resourceTypes = append(c.resourceTypes, t.Name)
		}
	}
	sort.Strings(c.resourceTypes)
	for _, ft := range f.Types {
		t := c.types[ft.Name]
		if ft.Base != "" {
			if t.Base = c.types[ft.Base]; t.Base == nil {
				return nil, fmt.Errorf("type %s: unknown base %s", ft.Name, ft.Base)
			}
		}
		if t.Kind == KindPrimitive {
			continue
		}
		if err := c.addElements(t, ft.Elements); err != nil {
			return nil, err
		}
	}
	// Content references point into other element trees, so they resolve
	// once every tree is built; members come last, once every element has
	// its types.
	for _, e := range c.elements {
		if err := c.resolveContentReference(e, 0); err != nil {
			return nil, err
		}
	}
	for _, t := range c.types {
		if t.structure == nil {
			continue
		}
		if err := indexMembers(t.structure); err != nil {
			return nil, err
		}
		for _, e := range t.Elements {
			if e.Children != nil && e.ContentReference == "" {
				if err := indexMembers(e.Children); err != nil {
					return nil, err
				}
			}
		}
	}
	return c, nil
}

func newValueSet(fv specfile.ValueSet) *ValueSet {
	v := &ValueSet{URL: fv.URL, Unchecked: fv.Unchecked, systems: map[string]map[string]struct{}{}, codes: map[string]struct{}{}}
	for _, sc := range fv.Systems {
		m := make(map[string]struct{}, len(sc.Codes))
		for _, code := range sc.Codes {
			m[code] = struct{}{}
			v.codes[code] = struct{}{}
		}
		v.systems[sc.System] = m
	}
	return v
}

// addElements builds t's element tree. Snapshots list parents before
// children, so every parent exists when its children arrive.
func (c *catalog) addElements(t *Type, fes []specfile.Element) error {
	t.structure = &Structure{Path: t.Name}
	t.Elements = make([]*Element, 0, len(fes))
	for _, fe := range fes {
		dot := strings.LastIndexByte(fe.Path, '.')
		if dot < 0 {
			return fmt.Errorf("element %s has no parent", fe.Path)
		}
		e := &Element{
			Path:             fe.Path,
			Name:             fe.Path[dot+1:],
			Min:              fe.Min,
			ContentReference: fe.ContentReference,
			Binding:          fe.Binding,
			Summary:          fe.Summary,
		}
		switch fe.Max {
		case "*":
			e.Max = Unbounded
		default:
			n, err := strconv.Atoi(fe.Max)
			if err != nil {
				return fmt.Errorf("element %s: max %q", fe.Path, fe.Max)
			}
			e.Max = n
		}
		for _, ft := range fe.Types {
			ty, ok := c.types[ft.Code]
			if !ok {
				return fmt.Errorf("element %s: unknown type %s", fe.Path, ft.Code)
			}
			e.Types = append(e.Types, TypeRef{Code: ft.Code, Type: ty, TargetProfiles: ft.TargetProfile})
		}
		if e.Binding != "" {
			if e.ValueSet = c.valueSets[e.Binding]; e.ValueSet == nil {
				return fmt.Errorf("element %s: value set %s is missing", fe.Path, e.Binding)
			}
		}
		parent := t.structure
		if pp := fe.Path[:dot]; pp != t.Name {
			pe, ok := c.elements[pp]
			if !ok {
				return fmt.Errorf("element %s: parent %s is missing", fe.Path, pp)
			}
			if pe.Children == nil {
				pe.Children = &Structure{Path: pp}
			}
			parent = pe.Children
		}
		parent.Elements = append(parent.Elements, e)
		if e.Min > 0 {
			parent.Required = append(parent.Required, e)
		}
		if _, dup := c.elements[e.Path]; dup {
			return fmt.Errorf("element %s is defined twice", e.Path)
		}
		c.elements[e.Path] = e
		t.Elements = append(t.Elements, e)
	}
	return nil
}

func (c *catalog) resolveContentReference(e *Element, depth int) error {
	if e.ContentReference == "" || e.Children != nil {
		return nil
	}
	if depth > 8 {
		return fmt.Errorf("element %s: content references loop", e.Path)
	}
	target, ok := c.elements[strings.TrimPrefix(e.ContentReference, "#")]
	if !ok {
		return fmt.Errorf("element %s: content reference %s is missing", e.Path, e.ContentReference)
	}
	if err := c.resolveContentReference(target, depth+1); err != nil {
		return err
	}
	if target.Children == nil {
		return fmt.Errorf("element %s: content reference %s has no children", e.Path, e.ContentReference)
	}
	e.Children = target.Children
	if len(e.Types) == 0 {
		e.Types = target.Types
	}
	return nil
}

// indexMembers fills s.members and every element's MemberNames.
func indexMembers(s *Structure) error {
	s.members = make(map[string]Member, len(s.Elements)+8)
	add := func(name string, m Member) error {
		if _, dup := s.members[name]; dup {
			return fmt.Errorf("%s: member %s is ambiguous", s.Path, name)
		}
		s.members[name] = m
		return nil
	}
	for _, e := range s.Elements {
		if len(e.Types) == 0 {
			return fmt.Errorf("element %s has no type", e.Path)
		}
		e.MemberNames = e.MemberNames[:0]
		if !e.Choice() {
			if len(e.Types) != 1 {
				return fmt.Errorf("element %s has %d types but is no choice", e.Path, len(e.Types))
			}
			if err := add(e.Name, newMember(e, e.Name, e.Types[0].Type)); err != nil {
				return err
			}
			e.MemberNames = append(e.MemberNames, e.Name)
			if e.Types[0].Type.Kind == KindPrimitive {
				e.MemberNames = append(e.MemberNames, "_"+e.Name)
			}
			continue
		}
		base := strings.TrimSuffix(e.Name, "[x]")
		for _, tr := range e.Types {
			name := base + strings.ToUpper(tr.Code[:1]) + tr.Code[1:]
			if err := add(name, newMember(e, name, tr.Type)); err != nil {
				return err
			}
			e.MemberNames = append(e.MemberNames, name)
			if tr.Type.Kind == KindPrimitive {
				e.MemberNames = append(e.MemberNames, "_"+name)
			}
		}
	}
	return nil
}

func newMember(e *Element, name string, t *Type) Member {
	m := Member{Element: e, Type: t}
	if t.Kind == KindPrimitive {
		m.ExtensionName = "_" + name
	}
	return m
}
