package mapping

import (
	"slices"
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/snomed"
)

// Read-only typed views of the R4 elements mapping reads. The stored JSON
// (decoded by the fhir codec) stays the source of truth: a view is made
// from it by one walk, holds what mapping reads, and nothing is written
// back through it. Elements mapping hands on unchanged (a Reference a
// client gave) are kept as they were (Raw), never re-encoded from a view.
// This file is the one place in mapping that looks inside the JSON objects
// of these elements.

// object is v as a JSON object, or nil.
func object(v any) map[string]any { m, _ := v.(map[string]any); return m }

// identifierView is an R4 Identifier.
type identifierView struct{ System, Value string }

func viewIdentifier(v any) (identifierView, bool) {
	m := object(v)
	return identifierView{System: fhir.Str(m["system"]), Value: fhir.Str(m["value"])}, m != nil
}

// referenceView is an R4 Reference.
type referenceView struct {
	Reference, Type, Display string
	// Identifier is the logical reference; HasIdentifier says whether
	// one was given.
	Identifier    identifierView
	HasIdentifier bool
	// Raw is the Reference as the resource holds it, nil when absent
	// (or not a JSON object).
	Raw clientJSON
}

func viewReference(v any) referenceView {
	m := object(v)
	r := referenceView{Reference: fhir.Str(m["reference"]), Type: fhir.Str(m["type"]), Display: fhir.Str(m["display"])}
	if m != nil {
		r.Raw = m
	}
	r.Identifier, r.HasIdentifier = viewIdentifier(m["identifier"])
	return r
}

// client is the Reference as a client's Reference mapping hands on, nil
// when absent.
func (r referenceView) client() *ClientReference {
	if r.Raw == nil {
		return nil
	}
	return &ClientReference{Reference: r.Reference, Type: r.Type, Display: r.Display, JSON: r.Raw}
}

// periodView is an R4 Period, its ends as written.
type periodView struct{ Start, End string }

// viewPeriod reads a Period; ok is false when v is not one (not an
// object).
func viewPeriod(v any) (_ periodView, ok bool) {
	m := object(v)
	return periodView{Start: fhir.Str(m["start"]), End: fhir.Str(m["end"])}, m != nil
}

// quantityView is an R4 Quantity (a Duration), its value as its JSON
// number text.
type quantityView struct{ Value, Unit, System, Code string }

// rangeView is an R4 Range: its bounds, nil when absent.
type rangeView struct{ Low, High *quantityView }

// viewRange reads a Range; ok is false when v is not one.
func viewRange(v any) (_ rangeView, ok bool) {
	m := object(v)
	var r rangeView
	if q := object(m["low"]); q != nil {
		lo := viewQuantity(q)
		r.Low = &lo
	}
	if q := object(m["high"]); q != nil {
		hi := viewQuantity(q)
		r.High = &hi
	}
	return r, m != nil
}

// availableTimeView is a HealthcareService.availableTime.
type availableTimeView struct {
	// Days are the daysOfWeek codes ("" for an element that is not a
	// string).
	Days       []string
	AllDay     bool
	Start, End string
}

func viewAvailableTime(v any) availableTimeView {
	m := object(v)
	a := availableTimeView{Start: fhir.Str(m["availableStartTime"]), End: fhir.Str(m["availableEndTime"])}
	a.AllDay, _ = m["allDay"].(bool)
	for _, d := range fhir.List(m["daysOfWeek"]) {
		a.Days = append(a.Days, fhir.Str(d))
	}
	return a
}

// notAvailableView is a HealthcareService.notAvailable; During is the
// period as held, HasDuring whether the member is there at all.
type notAvailableView struct {
	Description string
	During      any
	HasDuring   bool
}

func viewNotAvailable(v any) notAvailableView {
	m := object(v)
	n := notAvailableView{Description: fhir.Str(m["description"])}
	n.During, n.HasDuring = m["during"]
	return n
}

func viewQuantity(v any) quantityView {
	m := object(v)
	return quantityView{Value: jnumber(m["value"]), Unit: fhir.Str(m["unit"]), System: fhir.Str(m["system"]), Code: fhir.Str(m["code"])}
}

// ccCodings reads the codings of a CodeableConcept.
func ccCodings(cc any) []snomed.Coding {
	var out []snomed.Coding
	for _, e := range fhir.List(object(cc)["coding"]) {
		c := object(e)
		out = append(out, snomed.Coding{System: fhir.Str(c["system"]), Version: fhir.Str(c["version"]), Code: fhir.Str(c["code"]), Display: fhir.Str(c["display"])})
	}
	return out
}

// codeOfSystem is the code of the first coding of system in a
// CodeableConcept, or "". It allocates nothing: the measures read it
// hundreds of thousands of times.
func codeOfSystem(cc any, system string) string {
	for _, e := range fhir.List(object(cc)["coding"]) {
		c := object(e)
		if fhir.Str(c["system"]) == system {
			return fhir.Str(c["code"])
		}
	}
	return ""
}

// parameterView is a Task.input or Task.output: its type and its
// value[x], which R4 makes one element but JSON can carry as several
// members.
type parameterView struct {
	Type any // the CodeableConcept
	// Values are the value[x] members present, by name: value[x] is
	// read from exactly one, the same one whatever the order of the
	// JSON's keys.
	Values []namedValue
}

// namedValue is one value[x] member: its name (valueString...) and value.
type namedValue struct {
	Name  string
	Value any
}

func viewParameter(v any) parameterView {
	m := object(v)
	p := parameterView{Type: m["type"]}
	for k, x := range m {
		if strings.HasPrefix(k, "value") {
			p.Values = append(p.Values, namedValue{k, x})
		}
	}
	if len(p.Values) > 1 {
		slices.SortFunc(p.Values, func(a, b namedValue) int { return strings.Compare(a.Name, b.Name) })
	}
	return p
}

// valueNamed is the value member named name, or nil.
func (p parameterView) valueNamed(name string) any {
	for _, v := range p.Values {
		if v.Name == name {
			return v.Value
		}
	}
	return nil
}

// taskView is the part of a Task mapping reads.
type taskView struct {
	ID, VersionID, Status, Intent, AuthoredOn string
	Code, BusinessStatus                      any // CodeableConcepts
	StatusReasonText                          string
	// For and Owner have a nil Raw when absent.
	For, Owner    referenceView
	Input, Output []parameterView
}

func viewTask(v any) taskView {
	obj := object(v)
	t := taskView{ID: fhir.Str(obj["id"]), Status: fhir.Str(obj["status"]), Intent: fhir.Str(obj["intent"]),
		AuthoredOn: fhir.Str(obj["authoredOn"]), Code: obj["code"], BusinessStatus: obj["businessStatus"],
		VersionID: fhir.Str(object(obj["meta"])["versionId"]), StatusReasonText: fhir.Str(object(obj["statusReason"])["text"])}
	t.For, t.Owner = viewReference(obj["for"]), viewReference(obj["owner"])
	if in := fhir.List(obj["input"]); len(in) > 0 {
		t.Input = make([]parameterView, len(in))
		for i, e := range in {
			t.Input[i] = viewParameter(e)
		}
	}
	if out := fhir.List(obj["output"]); len(out) > 0 {
		t.Output = make([]parameterView, len(out))
		for i, e := range out {
			t.Output[i] = viewParameter(e)
		}
	}
	return t
}

// partiesView is who a Task names: its requester's identifier and the
// ODS code of the practice that owns it ("" when it names none).
type partiesView struct {
	Requester identifierView
	OwnerODS  string
}

func viewParties(task any) partiesView {
	m := object(task)
	t := partiesView{Requester: viewReference(m["requester"]).Identifier}
	if id := viewReference(m["owner"]).Identifier; id.System == ODSSystem {
		t.OwnerODS = strings.ToUpper(strings.TrimSpace(id.Value))
	}
	return t
}

// extensionView is an R4 Extension: its url, its parts (a complex
// extension's extensions) and its value, read by type.
type extensionView struct {
	URL   string
	Parts []extensionView
	m     map[string]any
}

func viewExtension(v any) extensionView {
	m := object(v)
	x := extensionView{URL: fhir.Str(m["url"]), m: m}
	for _, e := range fhir.List(m["extension"]) {
		x.Parts = append(x.Parts, viewExtension(e))
	}
	return x
}

// viewExtensions are the extensions of an element.
func viewExtensions(v any) []extensionView {
	var out []extensionView
	for _, e := range fhir.List(v) {
		out = append(out, viewExtension(e))
	}
	return out
}

// The extension's value, by its R4 type ("" or a zero view when the
// value is absent or of another type).
func (x extensionView) valueCode() string     { return fhir.Str(x.m["valueCode"]) }
func (x extensionView) valueString() string   { return fhir.Str(x.m["valueString"]) }
func (x extensionView) valueDateTime() string { return fhir.Str(x.m["valueDateTime"]) }
func (x extensionView) valueInstant() string  { return fhir.Str(x.m["valueInstant"]) }

// codingView is an R4 Coding's system and code.
type codingView struct{ System, Code string }

func (x extensionView) valueCoding() codingView {
	c := object(x.m["valueCoding"])
	return codingView{System: fhir.Str(c["system"]), Code: fhir.Str(c["code"])}
}

func (x extensionView) valueIdentifier() identifierView {
	id, _ := viewIdentifier(x.m["valueIdentifier"])
	return id
}

// valueCodeableConcept, valueRange and valuePeriod are the value as it
// is held, for the readers of those types.
func (x extensionView) valueCodeableConcept() any { return x.m["valueCodeableConcept"] }
func (x extensionView) valueRange() any           { return x.m["valueRange"] }
func (x extensionView) valuePeriod() any          { return x.m["valuePeriod"] }

// usageContextView is an R4 UsageContext: its code, and its value as a
// CodeableConcept (held) or a Reference.
type usageContextView struct {
	Code           codingView
	ValueCC        any
	ValueReference referenceView
}

func viewUsageContexts(v any) []usageContextView {
	var out []usageContextView
	for _, e := range fhir.List(v) {
		m := object(e)
		c := object(m["code"])
		out = append(out, usageContextView{Code: codingView{System: fhir.Str(c["system"]), Code: fhir.Str(c["code"])},
			ValueCC: m["valueCodeableConcept"], ValueReference: viewReference(m["valueReference"])})
	}
	return out
}

// expressionView is an R4 Expression.
type expressionView struct{ Language, Expression string }

func viewExpression(v any) expressionView {
	m := object(v)
	return expressionView{Language: fhir.Str(m["language"]), Expression: fhir.Str(m["expression"])}
}

// conditionView and dynamicValueView are the parts of a
// PlanDefinition.action a rule's expressions are read from.
type conditionView struct {
	Kind       string
	Expression expressionView
}

type dynamicValueView struct {
	Path       string
	Expression expressionView
}

// actionView is the part of a PlanDefinition.action a navigation rule
// is read from.
type actionView struct {
	ID, Title, Description string
	Condition              []conditionView
	// Code are its CodeableConcepts and Roles its participants' roles,
	// as held.
	Code, Roles  []any
	DynamicValue []dynamicValueView
}

func viewAction(v any) actionView {
	m := object(v)
	a := actionView{ID: fhir.Str(m["id"]), Title: fhir.Str(m["title"]), Description: fhir.Str(m["description"]), Code: fhir.List(m["code"])}
	for _, c := range fhir.List(m["condition"]) {
		cm := object(c)
		a.Condition = append(a.Condition, conditionView{fhir.Str(cm["kind"]), viewExpression(cm["expression"])})
	}
	for _, p := range fhir.List(m["participant"]) {
		a.Roles = append(a.Roles, object(p)["role"])
	}
	for _, d := range fhir.List(m["dynamicValue"]) {
		dm := object(d)
		a.DynamicValue = append(a.DynamicValue, dynamicValueView{fhir.Str(dm["path"]), viewExpression(dm["expression"])})
	}
	return a
}

// planDefinitionView is the part of a PlanDefinition a navigation
// protocol is read from.
type planDefinitionView struct {
	ID, VersionID, Version, URL, Title, Status, ApprovalDate string
	UseContext                                               []usageContextView
	// Endorsers are the endorsers' names that are given.
	Endorsers []string
	// Effective is effectivePeriod; HasEffective says it is there.
	Effective    periodView
	HasEffective bool
	Action       []actionView
}

func viewPlanDefinition(v any) planDefinitionView {
	m := object(v)
	d := planDefinitionView{ID: fhir.Str(m["id"]), Version: fhir.Str(m["version"]), URL: fhir.Str(m["url"]), Title: fhir.Str(m["title"]),
		Status: fhir.Str(m["status"]), ApprovalDate: fhir.Str(m["approvalDate"]), VersionID: fhir.Str(object(m["meta"])["versionId"]),
		UseContext: viewUsageContexts(m["useContext"])}
	for _, e := range fhir.List(m["endorser"]) {
		if name := fhir.Str(object(e)["name"]); name != "" {
			d.Endorsers = append(d.Endorsers, name)
		}
	}
	d.Effective, d.HasEffective = viewPeriod(m["effectivePeriod"])
	for _, a := range fhir.List(m["action"]) {
		d.Action = append(d.Action, viewAction(a))
	}
	return d
}
