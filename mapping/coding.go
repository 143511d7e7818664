package mapping

import (
	"context"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/snomed"
)

// AllocationCodes is how an allocation is coded on its ServiceRequest.
type AllocationCodes struct {
	// Code is ServiceRequest.code: a SNOMED CT procedure, or a local
	// navigation-decision code when the decision has no concept.
	Code snomed.Coding
	// PerformerType is ServiceRequest.performerType (a SNOMED CT occupation
	// or a local navigation-role), or nil when the mapping names none.
	PerformerType *snomed.Coding
	// Map is the ConceptMap that decided, as url|version, for Provenance.
	Map string
}

// AllocationMapFunc returns the allocation ConceptMap current at call time
// (for example Terminology.AllocationMap over the store).
type AllocationMapFunc func(ctx context.Context) (*snomed.ConceptMap, error)

// CodeAllocation reads the current allocation ConceptMap and codes an
// allocation with it (see AllocationCoding).
func CodeAllocation(ctx context.Context, current AllocationMapFunc, category, serviceType snomed.Coding) (AllocationCodes, error) {
	cm, err := current(ctx)
	if err != nil {
		return AllocationCodes{}, err
	}
	return AllocationCoding(cm, category, serviceType)
}

// AllocationCoding codes an allocation: the navigation category (a
// navigation-category coding) and the destination's service type (a SNOMED
// CT coding from HealthcareService.type; zero when there is none) are
// translated with the map. The most specific mapping wins: one whose
// dependsOn names the service type over the category's default.
func AllocationCoding(cm *snomed.ConceptMap, category, serviceType snomed.Coding) (AllocationCodes, error) {
	q := snomed.MapQuery{Coding: category}
	if serviceType.Code != "" {
		q.Dependencies = []snomed.Dependency{{Element: snomed.ServiceTypeElement, Concept: []snomed.Coding{serviceType}}}
	}
	for _, m := range cm.Translate(q) {
		if m.Equivalence == "unmatched" || m.Equivalence == "disjoint" || m.Concept.Code == "" {
			continue
		}
		out := AllocationCodes{Code: m.Concept, Map: cm.URL}
		if cm.Version != "" {
			out.Map += "|" + cm.Version
		}
		for _, p := range m.Products {
			if p.Property == snomed.PerformerTypeElement {
				pt := p.Coding
				out.PerformerType = &pt
				break
			}
		}
		return out, nil
	}
	return AllocationCodes{}, fhir.Errorf(fhir.CodeBusinessRule,
		"the allocation ConceptMap %s has no code for category %s with service type %q", cm.URL, category.Code, serviceType.Code)
}
