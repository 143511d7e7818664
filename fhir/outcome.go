package fhir

import (
	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// Outcome renders issues as an OperationOutcome resource, at most
// MaxIssues of them and one more (see MaxIssues).
func Outcome(issues ...Issue) []byte {
	issues = boundedIssues(issues)
	oo := models.OperationOutcome{Issue: make([]models.OperationOutcomeIssue, 0, len(issues))}
	for _, is := range issues {
		sev, err := models.IssueSeverity(0), error(nil)
		if err = sev.UnmarshalJSON([]byte(`"` + string(is.Severity) + `"`)); err != nil {
			sev = models.IssueSeverityError
		}
		code := models.IssueType(0)
		if err := code.UnmarshalJSON([]byte(`"` + string(is.Code) + `"`)); err != nil {
			code = models.IssueTypeException
		}
		item := models.OperationOutcomeIssue{Severity: sev, Code: code, Expression: is.Expression}
		if is.Diagnostics != "" {
			d := is.Diagnostics
			item.Diagnostics = &d
		}
		oo.Issue = append(oo.Issue, item)
	}
	b, err := Generate(oo)
	if err != nil {
		// Only a programming error in the samply enums can land here.
		return []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]}`)
	}
	return b
}

// Outcome renders the error as an OperationOutcome resource.
func (e *Error) Outcome() []byte { return Outcome(e.Issues...) }
