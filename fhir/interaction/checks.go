package interaction

import (
	"context"
	"fmt"
	"slices"

	"github.com/signpost-fhir/signpost/fhir"
)

// WriteCheck is a rule a resource must pass before it is stored, beyond
// the R4 definitions: the navigation contract's coded elements, for
// example. It returns the issues it finds; error-severity issues refuse
// the write (warnings are kept for the caller's logs). strict is
// Prefer: handling=strict. The error return is for failures of the check
// itself (a store it reads being down), not for bad content.
type WriteCheck func(ctx context.Context, r *fhir.Resource, strict bool) ([]fhir.Issue, error)

// WriteChecks are the checks every write of a type passes (single
// writes, PATCH results, every batch or transaction entry), by type.
// Add them before serving; then they are safe for concurrent use.
type WriteChecks map[string][]WriteCheck

// Add adds a check run on every write of resources of typ.
func (c WriteChecks) Add(typ string, check WriteCheck) { c[typ] = append(c[typ], check) }

// Validate checks r before it is stored: first against the R4
// definitions, then against the checks of its type, whose error issues
// refuse it (invalid-content). strict refuses elements the definitions
// do not know; by default they are kept, since a server must not lose
// what a client sent.
func (c WriteChecks) Validate(ctx context.Context, r *fhir.Resource, strict bool) error {
	if err := r.Validate(fhir.ValidateOptions{Strict: strict}); err != nil {
		return err
	}
	var errs []fhir.Issue
	for _, check := range c[r.Type()] {
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
		return (&fhir.Error{Issues: errs}).Because(fhir.DetailInvalidContent)
	}
	return nil
}

// Issues are the issues the checks of r's type find, as $validate
// reports them (Validation.Checks): a check's refusal of the content
// (an error whose status is a client error's) is reported as its
// issues.
func (c WriteChecks) Issues(ctx context.Context, r *fhir.Resource, strict bool) ([]fhir.Issue, error) {
	var issues []fhir.Issue
	for _, check := range c[r.Type()] {
		more, err := check(ctx, r, strict)
		if err != nil {
			if fe, ok := fhir.AsError(err); ok && fe.Status < 500 && fe.Status != 0 {
				return append(issues, fe.Issues...), nil
			}
			return nil, err
		}
		issues = append(issues, more...)
	}
	return issues, nil
}

// storedBundleTypes are the Bundle.type values a stored Bundle may have,
// as HAPI's default: a transaction or batch is posted to the base to be
// processed, and searchset, history and the responses are answers.
var storedBundleTypes = []string{"collection", "document", "message"}

// CheckStoredBundle is the WriteCheck of Bundle: it refuses to store a
// Bundle of any other type than storedBundleTypes.
func CheckStoredBundle(_ context.Context, r *fhir.Resource, _ bool) ([]fhir.Issue, error) {
	kind, _ := r.Object()["type"].(string)
	if slices.Contains(storedBundleTypes, kind) {
		return nil, nil
	}
	return []fhir.Issue{{Severity: fhir.SeverityError, Code: fhir.CodeBusinessRule, Expression: []string{"Bundle.type"},
		Diagnostics: fmt.Sprintf("a stored Bundle is a collection, document or message, not %q (transactions and batches are posted to the base)", kind)}}, nil
}
