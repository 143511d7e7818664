package mapping

import (
	"sort"
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
	m, ok := v.(map[string]any)
	return identifierView{System: fhir.Str(m["system"]), Value: fhir.Str(m["value"])}, ok
}

// referenceView is an R4 Reference.
type referenceView struct {
	Reference, Type, Display string
	// Identifier is the logical reference; HasIdentifier says whether
	// one was given.
	Identifier    identifierView
	HasIdentifier bool
	// Raw is the Reference as the resource holds it, nil when absent.
	Raw map[string]any
}

func viewReference(v any) referenceView {
	m := object(v)
	r := referenceView{Reference: fhir.Str(m["reference"]), Type: fhir.Str(m["type"]), Display: fhir.Str(m["display"]), Raw: m}
	r.Identifier, r.HasIdentifier = viewIdentifier(m["identifier"])
	return r
}

// periodView is an R4 Period, its ends as written.
type periodView struct{ Start, End string }

func viewPeriod(v any) periodView {
	m := object(v)
	return periodView{Start: fhir.Str(m["start"]), End: fhir.Str(m["end"])}
}

// quantityView is an R4 Quantity (a Duration), its value as its JSON
// number text.
type quantityView struct{ Value, Unit, System, Code string }

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
	sort.Slice(p.Values, func(i, j int) bool { return p.Values[i].Name < p.Values[j].Name })
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

func viewTask(obj map[string]any) taskView {
	t := taskView{ID: fhir.Str(obj["id"]), Status: fhir.Str(obj["status"]), Intent: fhir.Str(obj["intent"]),
		AuthoredOn: fhir.Str(obj["authoredOn"]), Code: obj["code"], BusinessStatus: obj["businessStatus"],
		VersionID: fhir.Str(object(obj["meta"])["versionId"]), StatusReasonText: fhir.Str(object(obj["statusReason"])["text"])}
	t.For, t.Owner = viewReference(obj["for"]), viewReference(obj["owner"])
	for _, e := range fhir.List(obj["input"]) {
		t.Input = append(t.Input, viewParameter(e))
	}
	for _, e := range fhir.List(obj["output"]) {
		t.Output = append(t.Output, viewParameter(e))
	}
	return t
}
