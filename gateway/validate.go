package gateway

import (
	"context"
	"net/http"

	"github.com/signpost-fhir/signpost/fhir"
)

// WriteCheck is a rule a resource must pass before it is stored, beyond
// the R4 definitions: the navigation contract's coded elements, for
// example. It returns the issues it finds; error-severity issues refuse
// the write (warnings are kept for the caller's logs). strict is
// Prefer: handling=strict. The error return is for failures of the check
// itself (a store it reads being down), not for bad content.
type WriteCheck func(ctx context.Context, r *fhir.Resource, strict bool) ([]fhir.Issue, error)

// RegisterWriteCheck adds a check run on every write of resources of typ
// (single writes, PATCH results and every transaction or batch entry);
// call before Handler.
func (s *Server) RegisterWriteCheck(typ string, check WriteCheck) {
	if s.writeChecks == nil {
		s.writeChecks = map[string][]WriteCheck{}
	}
	s.writeChecks[typ] = append(s.writeChecks[typ], check)
}

// validate checks a resource before it is stored: first against the R4
// definitions, then against the checks registered for its type. strict
// refuses elements the definitions do not know; by default they are kept,
// since the gateway must not lose what a client sent.
func (s *Server) validate(ctx context.Context, r *fhir.Resource, strict bool) error {
	if err := r.Validate(fhir.ValidateOptions{Strict: strict}); err != nil {
		return err
	}
	var errs []fhir.Issue
	for _, check := range s.writeChecks[r.Type()] {
		issues, err := check(ctx, r, strict)
		if err != nil {
			return err
		}
		for _, is := range issues {
			if is.Severity == fhir.SeverityError || is.Severity == fhir.SeverityFatal {
				errs = append(errs, is)
			}
		}
	}
	if len(errs) > 0 {
		return &fhir.Error{Status: http.StatusUnprocessableEntity, Issues: errs}
	}
	return nil
}
