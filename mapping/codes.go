package mapping

import (
	"context"
	"fmt"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/snomed"
)

// CodingChecker judges one coded element (snomed.Terminology does).
type CodingChecker interface {
	CheckCoding(ctx context.Context, src snomed.Source, expression string, c snomed.Coding, valueSet string, opts snomed.CheckOptions) ([]fhir.Issue, error)
	Base() string
}

var _ CodingChecker = (*snomed.Terminology)(nil)

// codedInputs are the navigation-input codes whose values are SNOMED CT
// codings (NAVIGATION-API.md, "Intake: a Task").
var codedInputs = map[string]bool{"symptom": true, "communication-need": true, "seen-elsewhere": true}

// CheckNavigationCodes is validation on write of the navigation contract's
// coded elements: the SNOMED CT codings of a navigation Task's symptom,
// communication-need and seen-elsewhere inputs, and the code and
// performerType of an allocation ServiceRequest (one categorised with the
// navigation-category code system). A malformed SNOMED CT id, or a local
// code outside its code system, is an error; a well-formed SNOMED CT id
// outside the loaded set is a warning, an error when strict. Resources
// that are not navigation Tasks or allocations pass untouched.
func CheckNavigationCodes(ctx context.Context, t CodingChecker, src snomed.Source, r *fhir.Resource, strict bool) ([]fhir.Issue, error) {
	obj := r.Object()
	base := t.Base()
	opts := snomed.CheckOptions{Strict: strict}
	var issues []fhir.Issue
	check := func(expr string, cc any) error {
		for j, c := range ccCodings(cc) {
			found, err := t.CheckCoding(ctx, src, fmt.Sprintf("%s.coding[%d]", expr, j), c, "", opts)
			if err != nil {
				return err
			}
			issues = append(issues, found...)
		}
		return nil
	}
	switch r.Type() {
	case "Task":
		if !hasCoding(obj["code"], base+"/CodeSystem/navigation-task", "") {
			return nil, nil
		}
		inputs, _ := obj["input"].([]any)
		for i, in := range inputs {
			m := object(in)
			code := codeOfSystem(m["type"], base+"/CodeSystem/navigation-input")
			if !codedInputs[code] {
				continue
			}
			if err := check(fmt.Sprintf("Task.input[%d].valueCodeableConcept", i), m["valueCodeableConcept"]); err != nil {
				return nil, err
			}
		}
	case "ServiceRequest":
		cats, _ := obj["category"].([]any)
		isAllocation := false
		for _, c := range cats {
			if hasCoding(c, base+"/CodeSystem/navigation-category", "") {
				isAllocation = true
			}
		}
		if !isAllocation {
			return nil, nil
		}
		if err := check("ServiceRequest.code", obj["code"]); err != nil {
			return nil, err
		}
		if err := check("ServiceRequest.performerType", obj["performerType"]); err != nil {
			return nil, err
		}
	}
	return issues, nil
}

// hasCoding reports whether a CodeableConcept has a coding of system
// (with code, unless code is "").
func hasCoding(cc any, system, code string) bool {
	for _, c := range ccCodings(cc) {
		if c.System == system && (code == "" || c.Code == code) {
			return true
		}
	}
	return false
}
