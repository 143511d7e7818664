package terminology

import (
	"context"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/snomed"
)

// Token :in and :not-in: code:in=<value set URL> matches resources with a
// code of the value set, code:not-in=<URL> those with none (or without the
// element, as :not). The value sets are those the server holds, under its
// canonical base (<base>/ValueSet/<id>: the shipped ones and any stored
// there), expanded by the terminology at the time of the search: a value
// set that includes a code system the server does not hold must list its
// codes. Every search passes through the gateway's tenancy decorator,
// which expands them, so REST searches, Bundle entries, conditional
// criteria, compartments and $everything all serve them. A value set the
// server does not hold, one it cannot expand (filters, nested value sets)
// or one of more than snomed.MaxExpansion codes cannot be searched by
// (fhir.DetailUnsupportedSearch). Subscription criteria may not use them:
// a value set may change after the criteria are accepted.
//
// :below and :above on tokens (subsumption) are expanded the same way,
// into the code and its descendants (or ancestors) by the is-a hierarchy
// of a code system the server holds under its canonical base
// (snomed.Terminology.Hierarchy). SNOMED CT, code systems without an is-a
// hierarchy and those the server does not hold are refused: the SNOMED CT
// concepts Signpost holds carry no is-a relationships, and the code
// alone would pass for a complete answer.

// ExpandValueSets is q with its :in, :not-in, :below and :above
// parameters expanded by t (nil: the server serves no terminology),
// reading the value sets and code systems through src.
func ExpandValueSets(ctx context.Context, t *snomed.Terminology, src snomed.Source, q *search.Query) (*search.Query, error) {
	return search.ExpandCodes(q, search.Expanders{ValueSet: func(url string) ([]search.Code, error) {
		if t == nil {
			return nil, fhir.Errorf(fhir.CodeNotSupported, "search by value set (:in, :not-in) needs the terminology, which this server does not serve").Because(fhir.DetailUnsupportedSearch)
		}
		exp, err := t.Expand(ctx, src, snomed.ExpandRequest{URL: url})
		if err != nil {
			if fe, ok := fhir.AsError(err); ok {
				is := fe.Issues[0]
				return nil, fhir.Errorf(is.Code, "search by value set %s: %s", url, is.Diagnostics).Because(fhir.DetailUnsupportedSearch)
			}
			return nil, err
		}
		if exp.Total > len(exp.Contains) {
			return nil, fhir.Errorf(fhir.CodeTooCostly, "search by value set %s: it has %d codes, more than the %d a search expands", url, exp.Total, snomed.MaxExpansion).Because(fhir.DetailUnsupportedSearch)
		}
		out := make([]search.Code, 0, len(exp.Contains))
		for _, c := range exp.Contains {
			out = append(out, search.Code{System: c.System, Code: c.Code})
		}
		return out, nil
	}, Hierarchy: func(system, code string, below bool) ([]search.Code, error) {
		if t == nil {
			return nil, fhir.Errorf(fhir.CodeNotSupported, "search by code hierarchy (:below, :above) needs the terminology, which this server does not serve").Because(fhir.DetailUnsupportedSearch)
		}
		codes, err := t.Hierarchy(ctx, src, system, code, below)
		if err != nil {
			return nil, err
		}
		out := make([]search.Code, 0, len(codes))
		for _, c := range codes {
			out = append(out, search.Code{System: c.System, Code: c.Code})
		}
		return out, nil
	}})
}
