package fhir_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
)

func TestOutcomeListsAtMostMaxIssuesAndOneMore(t *testing.T) {
	issues := func(n int, sev fhir.Severity) []fhir.Issue {
		out := make([]fhir.Issue, n)
		for i := range out {
			out[i] = fhir.Issue{Severity: sev, Code: fhir.CodeValue, Diagnostics: fmt.Sprint("issue ", i)}
		}
		return out
	}
	decode := func(b []byte) []map[string]any {
		var oo struct {
			Issue []map[string]any `json:"issue"`
		}
		require.NoError(t, json.Unmarshal(b, &oo))
		return oo.Issue
	}
	for _, tt := range []struct {
		n        int
		shown    int
		lastDiag string
	}{
		{1, 1, "issue 0"},
		{fhir.MaxIssues, fhir.MaxIssues, "issue 99"},
		{fhir.MaxIssues + 1, fhir.MaxIssues + 1, "issue 100"},
		{fhir.MaxIssues + 2, fhir.MaxIssues + 1, "and 2 more issues"},
		{100_000, fhir.MaxIssues + 1, "and 99900 more issues"},
	} {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			all := issues(tt.n, fhir.SeverityWarning)
			all[len(all)-1].Severity = fhir.SeverityError
			got := decode(fhir.Outcome(all...))
			require.Len(t, got, tt.shown)
			last := got[len(got)-1]
			assert.Equal(t, tt.lastDiag, last["diagnostics"])
			assert.Equal(t, "error", last["severity"], "the line standing for the rest is as severe as the worst of them")
			assert.Equal(t, "issue 0", got[0]["diagnostics"])

			msg := (&fhir.Error{Issues: all}).Error()
			assert.LessOrEqual(t, strings.Count(msg, "; ")+1, fhir.MaxIssues+1, "Error() is bounded alike")
		})
	}
}

func TestValidateStopsAtMaxIssuesErrors(t *testing.T) {
	names := `{"resourceType":"Patient","name":[` + strings.Repeat(`{},`, 9_999) + `{}]}`
	got := fhir.Validate(mustParse(t, names), fhir.ValidateOptions{})
	require.Len(t, got, fhir.MaxIssues+1)
	last := got[fhir.MaxIssues]
	assert.Equal(t, fhir.CodeTooCostly, last.Code)
	assert.Equal(t, fhir.SeverityError, last.Severity)
	assert.Contains(t, last.Diagnostics, "validation stopped after 100 errors")
	for _, is := range got[:fhir.MaxIssues] {
		assert.Equal(t, fhir.CodeStructure, is.Code)
	}
	err := mustParse(t, names).Validate(fhir.ValidateOptions{})
	fe, ok := fhir.AsError(err)
	require.True(t, ok)
	assert.Equal(t, 400, fe.Status)
	assert.Equal(t, fhir.CodeStructure, fe.Code(), "the first issue is an error found, not the note")
}

// Warnings do not stop validation: an error after many of them is still
// found, and the warnings past MaxIssues are counted, not listed.
func TestValidateBoundsWarningsButFindsTheErrorAfterThem(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"resourceType":"Patient"`)
	for i := range 500 {
		fmt.Fprintf(&b, `,"unknown%d":1`, i)
	}
	b.WriteString(`,"gender":"neither"}`)
	got := fhir.Validate(mustParse(t, b.String()), fhir.ValidateOptions{})
	var errs, warnings int
	for _, is := range got {
		if is.Severity == fhir.SeverityError {
			errs++
			assert.Equal(t, fhir.CodeCodeInvalid, is.Code)
		} else {
			warnings++
		}
	}
	assert.Equal(t, 1, errs, "the bad gender is found")
	assert.Equal(t, fhir.MaxIssues+1, warnings)
	assert.Equal(t, "and 400 more warnings", got[len(got)-1].Diagnostics)
}
