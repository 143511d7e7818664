package fhir

//go:generate go run ./internal/specgen -src ../testdata/fhir/r4-core-4.0.1 -out spec/r4.json.gz

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/signpost-fhir/signpost/fhir/spec"
)

// ValidateOptions tunes Validate.
type ValidateOptions struct {
	// Strict makes elements the specification does not define errors
	// (code structure). By default they are kept, since the gateway is
	// lossless, and reported as warnings.
	Strict bool
}

// Validate checks a resource against the base R4 specification generated
// from the official package (see package spec) and returns every issue
// found, errors and warnings, sorted by location. It checks:
//
//   - the resource type, and every member of every object against the
//     elements of its type or backbone element, choices (valueString) and
//     primitive extensions (_status) included; contained resources and
//     Bundle/Parameters resources are validated as resources;
//   - JSON shapes (code structure): arrays exactly where the cardinality
//     repeats, objects for complex types, the JSON type of each primitive,
//     one type per choice, no empty objects or arrays, no nulls outside
//     primitive arrays with extensions;
//   - primitive values (code value): the published regex (whole value), no
//     empty or blank strings, whole numbers and ranges for integer,
//     positiveInt and unsignedInt, real calendar days in dates, length;
//   - minimum cardinality at every level (code required);
//   - codes of required bindings, where the package can expand the value
//     set (code code-invalid);
//   - an extension has a value[x] or nested extensions, not both and not
//     neither (invariant ext-1, code invariant).
//
// It does not evaluate the other invariants (FHIRPath constraints),
// profiles, extension definitions or reference targets.
//
// The work is bounded, since each element of a hostile body could be an
// issue: the walk stops at the MaxIssues-th error, and an issue (code
// too-costly) then says so; warnings beyond MaxIssues are counted, not
// kept, and an issue says how many were left out.
func Validate(r *Resource, opts ValidateOptions) []Issue {
	if r == nil || r.obj == nil {
		return []Issue{{Severity: SeverityError, Code: CodeStructure, Diagnostics: "no resource"}}
	}
	v := validator{strict: opts.Strict, path: make([]step, 0, 16)}
	v.resource(r.obj)
	if len(v.issues) > 1 {
		sort.SliceStable(v.issues, func(i, j int) bool {
			a, b := v.issues[i], v.issues[j]
			if a.Expression[0] != b.Expression[0] {
				return a.Expression[0] < b.Expression[0]
			}
			if a.Code != b.Code {
				return a.Code < b.Code
			}
			return a.Diagnostics < b.Diagnostics
		})
	}
	// What was left out comes last, after the issues it adds to.
	if v.stopped {
		v.issues = append(v.issues, Issue{Severity: SeverityError, Code: CodeTooCostly, Expression: []string{r.Type()},
			Diagnostics: fmt.Sprintf("and maybe more: validation stopped after %d errors", MaxIssues)})
	}
	if v.droppedWarnings > 0 {
		v.issues = append(v.issues, Issue{Severity: SeverityWarning, Code: CodeTooCostly, Expression: []string{r.Type()},
			Diagnostics: fmt.Sprintf("and %d more warnings", v.droppedWarnings)})
	}
	return v.issues
}

// Validate returns nil, or an *Error holding every error-severity issue
// Validate finds (warnings are dropped). Its detail is DetailMalformed (400) when the
// body is malformed (a structure or value issue) and DetailInvalidContent
// (422) when it is well-formed but incomplete, uses codes outside a
// required value set or breaks ext-1.
func (r *Resource) Validate(opts ValidateOptions) error {
	var errs []Issue
	detail := DetailInvalidContent
	for _, is := range Validate(r, opts) {
		if is.Severity != SeverityError && is.Severity != SeverityFatal {
			continue
		}
		errs = append(errs, is)
		if is.Code == CodeStructure || is.Code == CodeValue {
			detail = DetailMalformed
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return (&Error{Issues: errs}).Because(detail)
}

// elementShape is the shape of a primitive's "_name" object: the members of
// Element (id and extension).
var elementShape = sync.OnceValue(func() *spec.Structure {
	t, ok := spec.LookupType("Element")
	if !ok {
		panic("fhir: the specification has no Element type")
	}
	return t.Structure()
})

// extensionShape is the shape of Extension, whose ext-1 invariant Validate
// checks.
var extensionShape = sync.OnceValue(func() *spec.Structure {
	t, ok := spec.LookupType("Extension")
	if !ok {
		panic("fhir: the specification has no Extension type")
	}
	return t.Structure()
})

// step is one segment of the location being validated; index is -1 for a
// single value.
type step struct {
	name  string
	index int
}

// validator walks one resource. The location is a stack of steps rendered
// only when an issue is raised, so a clean walk does not allocate paths.
type validator struct {
	strict bool
	issues []Issue
	path   []step
	// errors and warnings count the issues kept of each kind; stopped is
	// set at the MaxIssues-th error (the walk then unwinds), and
	// droppedWarnings counts the warnings after the MaxIssues-th.
	errors, warnings int
	stopped          bool
	droppedWarnings  int
}

func (v *validator) push(name string) { v.path = append(v.path, step{name: name, index: -1}) }
func (v *validator) pop()             { v.path = v.path[:len(v.path)-1] }
func (v *validator) at(i int)         { v.path[len(v.path)-1].index = i }

// location renders the stack as a FHIRPath: Task.input[2].valueCode.
func (v *validator) location() string {
	if len(v.path) == 0 {
		return "resourceType"
	}
	var b strings.Builder
	for i, s := range v.path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.name)
		if s.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
		}
	}
	return b.String()
}

func (v *validator) report(sev Severity, code IssueCode, format string, args ...any) {
	switch {
	case v.stopped:
		return
	case sev == SeverityError || sev == SeverityFatal:
		v.errors++
		v.stopped = v.errors >= MaxIssues
	case v.warnings >= MaxIssues:
		v.droppedWarnings++
		return
	default:
		v.warnings++
	}
	v.issues = append(v.issues, Issue{
		Severity:    sev,
		Code:        code,
		Diagnostics: fmt.Sprintf(format, args...),
		Expression:  []string{v.location()},
	})
}

func (v *validator) fail(code IssueCode, format string, args ...any) {
	v.report(SeverityError, code, format, args...)
}

// resource validates obj as a resource of the type its resourceType names.
// At the top the type starts the location; inside (contained, Bundle entries)
// the location continues from the holding element.
func (v *validator) resource(obj map[string]any) {
	rt, ok := obj["resourceType"].(string)
	if !ok {
		v.fail(CodeStructure, "resourceType is missing or not a string")
		return
	}
	t, ok := spec.LookupType(rt)
	if !ok || !t.IsResource() {
		v.fail(CodeStructure, "%q is not an R4 resource type", clip(rt))
		return
	}
	top := len(v.path) == 0
	if top {
		v.push(rt)
	}
	v.object(obj, t.Structure(), true)
	if top {
		v.pop()
	}
}

// choiceSeen remembers which variant of each choice an object used, to
// report a second one (valueString beside valueCode) once.
type choiceSeen struct {
	fixed [4]choiceUse
	n     int
	more  []choiceUse
}

type choiceUse struct {
	e        *spec.Element
	name     string // without "_"
	reported bool
}

// note records a variant; it reports true the first time another variant
// of the same choice turns up.
func (c *choiceSeen) note(e *spec.Element, name string) bool {
	var u *choiceUse
	for i := 0; i < c.n; i++ {
		if c.fixed[i].e == e {
			u = &c.fixed[i]
		}
	}
	for i := range c.more {
		if c.more[i].e == e {
			u = &c.more[i]
		}
	}
	switch {
	case u == nil:
		if c.n < len(c.fixed) {
			c.fixed[c.n] = choiceUse{e: e, name: name}
			c.n++
		} else {
			c.more = append(c.more, choiceUse{e: e, name: name})
		}
		return false
	case u.name == name || u.reported:
		return false
	default:
		u.reported = true
		return true
	}
}

// choiceClash reports a choice given in more than one type, at the choice
// and naming the members in the specification's order, so the issue does
// not depend on map order.
func (v *validator) choiceClash(obj map[string]any, e *spec.Element) {
	var names []string
	for _, n := range e.MemberNames {
		if _, ok := obj[n]; ok && n[0] != '_' {
			names = append(names, n)
		}
	}
	v.push(e.Name)
	v.fail(CodeStructure, "%s takes one type, but has %s", e.Path, strings.Join(names, ", "))
	v.pop()
}

// object validates the members of obj against shape s.
func (v *validator) object(obj map[string]any, s *spec.Structure, isResource bool) {
	if len(v.path) > maxDepth {
		// Only a tree built in Go can get here (decodeJSON stops at
		// maxDepth), possibly a cyclic one: stop rather than recurse.
		v.fail(CodeStructure, "nested deeper than %d levels", maxDepth)
		return
	}
	if len(obj) == 0 {
		v.fail(CodeStructure, "an object must have at least one member")
		return
	}
	var choices choiceSeen
	for name, val := range obj {
		if v.stopped {
			return
		}
		if isResource && name == "resourceType" {
			continue
		}
		base := name
		if len(name) > 1 && name[0] == '_' {
			base = name[1:]
		}
		m, ok := s.Member(base)
		if !ok {
			v.unknown(name)
			continue
		}
		if m.Element.Choice() && choices.note(m.Element, base) {
			v.choiceClash(obj, m.Element)
		}
		if base != name {
			v.primitiveExtension(obj, name, val, m)
			continue
		}
		v.member(obj, name, val, m)
	}
	for _, e := range s.Required {
		v.required(obj, e)
	}
	if s == extensionShape() {
		// ext-1, the one invariant checked: it decides what an
		// extension is (simple or complex), so it is part of its shape.
		// value[x] is Extension's only choice.
		_, nested := obj["extension"]
		if nested == (choices.n > 0) {
			v.fail(CodeInvariant, "an extension has either a value[x] or nested extensions, not both and not neither (ext-1)")
		}
	}
}

func (v *validator) required(obj map[string]any, e *spec.Element) {
	for _, n := range e.MemberNames {
		if _, ok := obj[n]; ok {
			return
		}
	}
	v.push(e.Name)
	v.fail(CodeRequired, "%s is required (minimum cardinality %d)", e.Path, e.Min)
	v.pop()
}

func (v *validator) unknown(name string) {
	v.push(name)
	if v.strict {
		v.fail(CodeStructure, "%s is not an element of FHIR R4 here", clip(name))
	} else {
		v.report(SeverityWarning, CodeStructure, "%s is not an element of FHIR R4 here: it is kept but not validated", clip(name))
	}
	v.pop()
}

// member validates one member's value against its element's cardinality,
// then each value.
func (v *validator) member(obj map[string]any, name string, val any, m spec.Member) {
	e := m.Element
	v.push(name)
	defer v.pop()
	if !e.Repeats() {
		switch val.(type) {
		case []any:
			v.fail(CodeStructure, "%s takes a single value, not an array", e.Path)
		case nil:
			v.fail(CodeStructure, "null is not a value of %s; leave the member out", e.Path)
		default:
			v.value(val, m)
		}
		return
	}
	arr, ok := val.([]any)
	if !ok {
		v.fail(CodeStructure, "%s repeats, so its value must be an array", e.Path)
		return
	}
	if len(arr) == 0 {
		v.fail(CodeStructure, "an array must not be empty; leave the member out")
		return
	}
	if e.Max > 1 && len(arr) > e.Max {
		v.fail(CodeStructure, "%s takes at most %d values, not %d", e.Path, e.Max, len(arr))
	}
	if len(arr) < e.Min {
		v.fail(CodeRequired, "%s takes at least %d values, not %d", e.Path, e.Min, len(arr))
	}
	var ext []any
	if m.ExtensionName != "" {
		ext, _ = obj[m.ExtensionName].([]any)
	}
	for i, item := range arr {
		if v.stopped {
			return
		}
		v.at(i)
		if item == nil {
			// A null only holds a place for an extension in _name.
			switch {
			case m.ExtensionName == "":
				v.fail(CodeStructure, "null is not a value of %s; leave it out of the array", e.Path)
			case i >= len(ext) || ext[i] == nil:
				v.fail(CodeStructure, "null in %s is only allowed where %s has an extension at the same index", e.Path, m.ExtensionName)
			}
			continue
		}
		v.value(item, m)
	}
}

// value validates one value of an element.
func (v *validator) value(val any, m spec.Member) {
	e := m.Element
	if e.Children != nil {
		obj, ok := val.(map[string]any)
		if !ok {
			v.fail(CodeStructure, "%s must be a JSON object", e.Path)
			return
		}
		v.object(obj, e.Children, false)
		return
	}
	t := m.Type
	switch t.Kind {
	case spec.KindPrimitive:
		if v.primitive(val, t) && e.ValueSet != nil && t.Name == "code" && e.ValueSet.Checked() {
			if code := val.(string); !e.ValueSet.HasCode(code) {
				v.fail(CodeCodeInvalid, "%q is not in the required value set %s", clip(code), e.ValueSet.URL)
			}
		}
	case spec.KindResource:
		obj, ok := val.(map[string]any)
		if !ok {
			v.fail(CodeStructure, "%s must be a resource (a JSON object)", e.Path)
			return
		}
		v.resource(obj)
	default:
		obj, ok := val.(map[string]any)
		if !ok {
			v.fail(CodeStructure, "%s must be a JSON object (%s)", e.Path, t.Name)
			return
		}
		v.object(obj, t.Structure(), false)
		if e.ValueSet != nil && e.ValueSet.Checked() {
			v.codings(obj, t, e.ValueSet)
		}
	}
}

// codings checks a Coding or CodeableConcept bound to a required value set:
// every coding in one of the set's systems must carry a code of the set, and
// a concept that has codings needs one from the set (others may be
// translations). A concept with only text is left alone.
func (v *validator) codings(obj map[string]any, t *spec.Type, vs *spec.ValueSet) {
	switch t.Name {
	case "Coding":
		if ok, known := codingIn(obj, vs); !ok {
			v.badCoding(vs, known)
		}
	case "CodeableConcept":
		list, _ := obj["coding"].([]any)
		if len(list) == 0 {
			return
		}
		matched, reported := false, false
		v.push("coding")
		for i, item := range list {
			if v.stopped {
				break
			}
			c, ok := item.(map[string]any)
			if !ok {
				continue // reported by the walk
			}
			in, known := codingIn(c, vs)
			if in {
				matched = true
			} else if known {
				v.at(i)
				v.badCoding(vs, true)
				reported = true
			}
		}
		v.pop()
		if !matched && !reported {
			v.fail(CodeCodeInvalid, "no coding is from the required value set %s", vs.URL)
		}
	}
}

// codingIn reports whether a coding is in vs, and whether its system is one
// of vs's (a coding without system is judged by its code alone).
func codingIn(c map[string]any, vs *spec.ValueSet) (in, knownSystem bool) {
	code, _ := c["code"].(string)
	system, hasSystem := c["system"].(string)
	if !hasSystem {
		return code != "" && vs.HasCode(code), code != ""
	}
	if !vs.HasSystem(system) {
		return false, false
	}
	return vs.HasCoding(system, code), true
}

func (v *validator) badCoding(vs *spec.ValueSet, knownSystem bool) {
	if !knownSystem {
		v.fail(CodeCodeInvalid, "the coding is not from the required value set %s", vs.URL)
		return
	}
	v.push("code")
	v.fail(CodeCodeInvalid, "the code is not in the required value set %s", vs.URL)
	v.pop()
}

// primitiveExtension validates "_name": the id and extensions of primitive
// "name", an object, or for a repeating element an array of objects and
// nulls in step with the values.
func (v *validator) primitiveExtension(obj map[string]any, name string, val any, m spec.Member) {
	base := name[1:]
	if m.ExtensionName == "" {
		v.push(name)
		v.fail(CodeStructure, "%s is not a primitive element, so %s is not allowed", m.Element.Path, name)
		v.pop()
		return
	}
	// Issues inside are located at the primitive: FHIRPath reaches a
	// primitive's extensions as name.extension.
	v.push(base)
	defer v.pop()
	if !m.Element.Repeats() {
		o, ok := val.(map[string]any)
		if !ok {
			v.fail(CodeStructure, "%s must be an object holding id and/or extension", name)
			return
		}
		v.extensionObject(o, name, obj[base] != nil)
		return
	}
	arr, ok := val.([]any)
	if !ok {
		v.fail(CodeStructure, "%s must be an array in step with %s", name, base)
		return
	}
	prim, hasPrim := obj[base].([]any)
	if hasPrim && len(prim) != len(arr) {
		v.fail(CodeStructure, "%s has %d items but %s has %d: they must be the same length", name, len(arr), base, len(prim))
		return
	}
	for i, item := range arr {
		if v.stopped {
			return
		}
		v.at(i)
		if item == nil {
			if !hasPrim {
				v.fail(CodeStructure, "null in %s holds the place of no value", name)
			}
			continue // a null in both arrays is reported with the values
		}
		o, ok := item.(map[string]any)
		if !ok {
			v.fail(CodeStructure, "%s items must be objects holding id and/or extension, or null", name)
			continue
		}
		v.extensionObject(o, name, hasPrim && prim[i] != nil)
	}
}

// extensionObject validates one object of "_name". An empty one beside a
// value says nothing but loses nothing either (XML converters write them
// for comments), so it is only a warning; without a value the element
// would have neither value nor children (ele-1), an error.
func (v *validator) extensionObject(o map[string]any, name string, hasValue bool) {
	if len(o) == 0 && hasValue {
		v.report(SeverityWarning, CodeStructure, "%s is an empty object: it carries nothing", name)
		return
	}
	v.object(o, elementShape(), false)
}

// primitive checks one primitive value; it reports whether the value is
// well-formed.
func (v *validator) primitive(val any, t *spec.Type) bool {
	switch t.Name {
	case "boolean":
		if _, ok := val.(bool); !ok {
			v.fail(CodeStructure, "a boolean must be JSON true or false")
			return false
		}
		return true
	case "integer", "positiveInt", "unsignedInt":
		text, ok := numberText(val)
		if !ok {
			v.fail(CodeStructure, "an %s must be a JSON number", t.Name)
			return false
		}
		n, err := strconv.ParseInt(text, 10, 32)
		switch {
		case strings.ContainsAny(text, ".eE"):
			v.fail(CodeValue, "%s is not a whole number without fraction or exponent, as %s requires", clip(text), t.Name)
			return false
		case err != nil:
			v.fail(CodeValue, "%s is outside the 32-bit range of %s", clip(text), t.Name)
			return false
		case t.Name == "positiveInt" && n < 1:
			v.fail(CodeValue, "a positiveInt must be 1 or more, not %d", n)
			return false
		case t.Name == "unsignedInt" && n < 0:
			v.fail(CodeValue, "an unsignedInt must be 0 or more, not %d", n)
			return false
		}
		return true
	case "decimal":
		text, ok := numberText(val)
		if !ok {
			v.fail(CodeStructure, "a decimal must be a JSON number")
			return false
		}
		if !t.Matches(text) {
			v.fail(CodeValue, "%s is not a valid decimal", clip(text))
			return false
		}
		return true
	}
	s, ok := val.(string)
	if !ok {
		v.fail(CodeStructure, "a %s must be a JSON string", t.Name)
		return false
	}
	if strings.Trim(s, xmlWhitespace) == "" {
		v.fail(CodeValue, "a %s must not be empty or only whitespace", t.Name)
		return false
	}
	if !t.Matches(s) {
		v.fail(CodeValue, "%q is not a valid %s", clip(s), t.Name)
		return false
	}
	if t.MaxLength > 0 && len(s) > t.MaxLength && utf8.RuneCountInString(s) > t.MaxLength {
		v.fail(CodeValue, "a %s holds at most %d characters", t.Name, t.MaxLength)
		return false
	}
	switch t.Name {
	case "xhtml":
		if msg := narrativeProblem(s); msg != "" {
			v.fail(CodeValue, "%s", msg)
			return false
		}
	case "date", "dateTime", "instant":
		if !realDay(s) {
			v.fail(CodeValue, "%q is not a calendar date", clip(s))
			return false
		}
	}
	return true
}

// realDay reports whether a value the date regexes accepted names a day the
// calendar has (the regexes allow 2023-02-31). R4: dates SHALL be valid.
func realDay(s string) bool {
	if len(s) < 10 || s[7] != '-' {
		return true // year or year-month only
	}
	year, _ := strconv.Atoi(s[:4])
	month, _ := strconv.Atoi(s[5:7])
	day, _ := strconv.Atoi(s[8:10])
	if month < 1 || month > 12 {
		return false
	}
	days := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[month-1]
	if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		days = 29
	}
	return day <= days
}

// numberText is the literal text of a JSON number. Trees decoded by this
// package hold json.Number; trees built in Go may hold ints or floats.
func numberText(val any) (string, bool) {
	switch n := val.(type) {
	case json.Number:
		return string(n), true
	case int:
		return strconv.Itoa(n), true
	case int64:
		return strconv.FormatInt(n, 10), true
	case float64:
		return strconv.FormatFloat(n, 'g', -1, 64), true
	}
	return "", false
}

// clip shortens a client value quoted back in a diagnostic.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	i := limit
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
