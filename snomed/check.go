package snomed

import (
	"context"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/snomed/sctid"
)

// CheckOptions tunes CheckCoding.
type CheckOptions struct {
	// Strict refuses a well-formed SNOMED CT concept id that is not in the
	// loaded set; by default it is accepted with a warning, since a
	// deployment's clinical systems may use concepts Signpost does not load.
	Strict bool
}

// CheckCoding is validation on write for one coded element of the
// navigation contract (Task inputs symptom, communication-need,
// seen-elsewhere; the allocation's code and performerType). expression is
// the element's FHIRPath, named in every issue. It returns error issues
// (code-invalid, which the gateway answers with 422) for:
//   - a SNOMED CT code that is not a well-formed concept id;
//   - a code of a local code system that is not in valueSet (or, when
//     valueSet is "", not in its CodeSystem);
//
// and a warning (an error when opts.Strict) for a well-formed SNOMED CT id
// outside the loaded set, and a warning for a display that is not one of
// the concept's terms. Codings of other systems are not checked. The error
// return is for failures to read the store, not for bad codes.
func (t *Terminology) CheckCoding(ctx context.Context, src Source, expression string, c Coding, valueSet string, opts CheckOptions) ([]fhir.Issue, error) {
	issue := func(sev fhir.Severity, msg string) []fhir.Issue {
		return []fhir.Issue{{Severity: sev, Code: fhir.CodeCodeInvalid, Diagnostics: msg, Expression: []string{expression}}}
	}
	switch {
	case c.System == System:
		if _, err := sctid.ParseConcept(c.Code); err != nil {
			return issue(fhir.SeverityError, err.Error()), nil
		}
		con, ok := t.concepts.Get(c.Code)
		if !ok {
			_, why := t.snomedConcept(c.Code)
			sev := fhir.SeverityWarning
			if opts.Strict {
				sev = fhir.SeverityError
			}
			return issue(sev, why), nil
		}
		if c.Display != "" && !sameText(c.Display, con.Preferred, con.FSN) && !sameText(c.Display, con.Synonyms...) {
			return issue(fhir.SeverityWarning, "display \""+c.Display+"\" is not a term of SNOMED CT "+c.Code+"; the preferred term is \""+display(con)+"\""), nil
		}
		return nil, nil
	case isLocal(t, c.System):
		req := ValidateCodeRequest{URL: valueSet, Codings: []Coding{c}}
		var res *ValidateCodeResult
		var err error
		if valueSet != "" {
			res, err = t.ValidateValueSetCode(ctx, src, req)
		} else {
			req.URL = c.System
			res, err = t.ValidateCode(ctx, src, req)
		}
		if fe, ok := fhir.AsError(err); ok && fe.Code() == fhir.CodeNotFound {
			return issue(fhir.SeverityError, fe.Error()), nil
		}
		if err != nil {
			return nil, err
		}
		if !res.Result {
			return issue(fhir.SeverityError, res.Message), nil
		}
		if res.Message != "" {
			return issue(fhir.SeverityWarning, res.Message), nil
		}
	}
	return nil, nil
}

func isLocal(t *Terminology, system string) bool {
	_, ok := t.localID("CodeSystem", system)
	return ok
}
