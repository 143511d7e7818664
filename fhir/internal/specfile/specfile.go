package specfile

// File is the root of spec/r4.json.gz.
type File struct {
	// Package names the source package, e.g. "hl7.fhir.r4.core#4.0.1".
	Package     string     `json:"package"`
	FHIRVersion string     `json:"fhirVersion"`
	Types       []Type     `json:"types"`     // sorted by Name
	ValueSets   []ValueSet `json:"valueSets"` // sorted by URL
}

// Kinds of Type, as in StructureDefinition.kind.
const (
	KindPrimitive = "primitive-type"
	KindComplex   = "complex-type"
	KindResource  = "resource"
)

// Type is one base StructureDefinition (never a profile).
type Type struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Abstract bool   `json:"abstract,omitempty"`
	// Base is the name of the type this one specializes ("" for Element
	// and Resource).
	Base string `json:"base,omitempty"`
	// Regex is a primitive's value pattern as published; it is meant to
	// match the whole value (the loader anchors it).
	Regex     string `json:"regex,omitempty"`
	MaxLength int    `json:"maxLength,omitempty"`
	// Elements is the snapshot without the root element, in snapshot
	// order (parents before children). Empty for primitives.
	Elements []Element `json:"elements,omitempty"`
}

// Element is one ElementDefinition of a snapshot.
type Element struct {
	Path string `json:"path"` // e.g. "Task.input.value[x]"
	Min  int    `json:"min,omitempty"`
	Max  string `json:"max"` // "1", "*" or a number
	// Types are the allowed types. A System.String (element ids,
	// Extension.url) is written as the FHIR type the spec gives it.
	Types []TypeRef `json:"types,omitempty"`
	// ContentReference is "#Path" of the element whose definition this
	// one reuses (Questionnaire.item.item -> #Questionnaire.item).
	ContentReference string `json:"contentReference,omitempty"`
	// Binding is the ValueSet URL (no version) of a required binding.
	Binding string `json:"binding,omitempty"`
	// Summary is the element's isSummary: what _summary=true keeps.
	Summary bool `json:"summary,omitempty"`
}

// TypeRef is one allowed type of an element.
type TypeRef struct {
	Code          string   `json:"code"`
	TargetProfile []string `json:"targetProfile,omitempty"`
}

// ValueSet is the expansion of a ValueSet some element binds as required.
type ValueSet struct {
	URL string `json:"url"`
	// Unchecked, when set, says why the codes could not be expanded from
	// the package; validators must then accept any code.
	Unchecked string        `json:"unchecked,omitempty"`
	Systems   []SystemCodes `json:"systems,omitempty"` // sorted by System
}

// SystemCodes lists the codes a ValueSet takes from one code system.
type SystemCodes struct {
	System string   `json:"system"`
	Codes  []string `json:"codes"` // sorted, unique
}
