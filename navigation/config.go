package navigation

import (
	"context"
	"errors"
	"fmt"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// protocol is the practice's protocol, compiled once per stored version.
// A stored protocol that no longer compiles (written before a check, or
// edited in the database) is not used: the decision falls back to a
// practice clinician, with a warning.
func (nav *Service) protocol(ctx context.Context, practice string) (*mapping.Protocol, []fhir.Issue, error) {
	if practice == "" {
		return nil, nil, nil
	}
	id := mapping.ProtocolID(practice)
	var v store.Version
	pp, err := nav.protocols.Get(practice, func() (int64, error) {
		var err error
		v, err = nav.host.Store().Read(ctx, "PlanDefinition", id)
		if errors.Is(err, fhir.ErrNotFound) || errors.Is(err, fhir.ErrDeleted) {
			return 0, nil
		}
		return v.VersionID, err
	}, func(version int64) (practiceProtocol, error) {
		if version == 0 {
			return practiceProtocol{}, nil
		}
		obj, err := decode(v.Body)
		if err != nil {
			return practiceProtocol{}, err
		}
		p, issues := mapping.ParseProtocol(obj, nav.names)
		if hasErrors(issues) {
			return practiceProtocol{issues: []fhir.Issue{{Severity: fhir.SeverityWarning, Code: fhir.CodeProcessing,
				Diagnostics: fmt.Sprintf("the stored protocol PlanDefinition/%s/_history/%d does not compile (%s): it is not used", id, v.VersionID, errorIssues(issues)[0].Diagnostics)}}}, nil
		}
		return practiceProtocol{protocol: p}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return pp.protocol, pp.issues, nil
}

// allocationMap is the allocation ConceptMap as Terminology.AllocationMap
// reads it, parsed once per stored version: a PUT of the map is a new
// version, used by the next decision.
func (nav *Service) allocationMap(ctx context.Context) (*snomed.ConceptMap, error) {
	var v store.Version
	unread := errors.New("the allocation ConceptMap is not read from the store")
	cm, err := nav.cmap.Get("", func() (int64, error) {
		var err error
		if v, err = nav.host.Store().Read(ctx, "ConceptMap", snomed.AllocationMap); err != nil {
			return 0, unread
		}
		return v.VersionID, nil
	}, func(int64) (*snomed.ConceptMap, error) {
		r, err := fhir.ParseResource(v.Body)
		if err != nil {
			return nil, err
		}
		return snomed.ParseConceptMap(r)
	})
	if errors.Is(err, unread) {
		// Not found, deleted, or the store failing: as the terminology
		// reports it.
		return nav.term.AllocationMap(ctx, nav.host.Store())
	}
	return cm, err
}

// safetyLists are the shipped lists with the red-flag value set of the
// store added (never less than the shipped red flags), expanded once per
// stored version of the value set.
func (nav *Service) safetyLists(ctx context.Context) (*mapping.SafetyLists, error) {
	return nav.lists.Get("", func() (int64, error) {
		v, err := nav.host.Store().Read(ctx, "ValueSet", snomed.RedFlagFindingVS)
		if errors.Is(err, fhir.ErrNotFound) || errors.Is(err, fhir.ErrDeleted) {
			return 0, nil
		}
		return v.VersionID, err
	}, func(version int64) (*mapping.SafetyLists, error) {
		if version == 0 {
			return mapping.DefaultSafetyLists(nil), nil
		}
		exp, err := nav.term.Expand(ctx, nav.host.Store(), snomed.ExpandRequest{ID: snomed.RedFlagFindingVS})
		if err != nil {
			return nil, err
		}
		extra := map[string]string{}
		for _, e := range exp.Contains {
			if e.System == snomed.System && !e.Inactive {
				extra[e.Code] = e.Display
			}
		}
		return mapping.DefaultSafetyLists(extra), nil
	})
}
