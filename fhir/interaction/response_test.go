package interaction

import (
	"errors"
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
)

func TestShownErrorsShareMaxIssues(t *testing.T) {
	many := func() error {
		e := &fhir.Error{}
		for range fhir.MaxIssues {
			e.Issues = append(e.Issues, fhir.Issue{Severity: fhir.SeverityError, Code: fhir.CodeInvalid, Diagnostics: "bad"})
		}
		return e
	}
	plain := errors.New("plain")
	shown := ShownErrors([]error{many(), nil, many(), plain})
	if fe, _ := fhir.AsError(shown[0]); len(fe.Issues) != fhir.MaxIssues {
		t.Errorf("first entry: %d issues, want all %d", len(fe.Issues), fhir.MaxIssues)
	}
	if shown[1] != nil || shown[3] != plain {
		t.Errorf("entries without issues changed: %v, %v", shown[1], shown[3])
	}
	fe, _ := fhir.AsError(shown[2])
	if len(fe.Issues) != 2 || fe.Issues[1].Code != fhir.CodeTooCostly || fe.Issues[0].Code != fhir.CodeInvalid {
		t.Errorf("past MaxIssues: %+v", fe.Issues)
	}
}
