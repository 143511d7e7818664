package tenancy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
)

// TestRefusalStatuses: tenancy's refusals carry issue codes (and a
// Detail where the code alone does not decide), which the one table
// turns into the statuses clients have always been answered.
func TestRefusalStatuses(t *testing.T) {
	t.Parallel()
	l := NewLabels("https://signpost.example/fhir")
	resource := func(obj map[string]any) *fhir.Resource {
		r, err := fhir.ResourceFromObject(obj)
		require.NoError(t, err)
		return r
	}
	label := func(system, code string) map[string]any {
		return map[string]any{"security": []any{map[string]any{"system": system, "code": code}}}
	}
	status := func(err error) (fhir.IssueCode, int) {
		fe, ok := fhir.AsError(err)
		require.True(t, ok, "%v", err)
		return fe.Code(), fhir.HTTPStatus(fe)
	}
	navA := &auth.Principal{Subject: "a", ODS: []string{"A11111"}}
	pcn := &auth.Principal{Subject: "pcn", ODS: []string{"A11111", "B22222"}}

	two := resource(map[string]any{"resourceType": "Patient", "meta": map[string]any{"security": []any{
		map[string]any{"system": l.System, "code": "A11111"}, map[string]any{"system": l.System, "code": "B22222"}}}})
	_, err := l.Stamp(pcn, two, nil)
	code, st := status(err)
	assert.Equal(t, fhir.CodeBusinessRule, code)
	assert.Equal(t, 422, st, "two practices named")

	_, err = l.Stamp(pcn, resource(map[string]any{"resourceType": "Patient"}), nil)
	code, st = status(err)
	assert.Equal(t, fhir.CodeBusinessRule, code)
	assert.Equal(t, 422, st, "several practices, none named")

	_, err = l.Stamp(navA, resource(map[string]any{"resourceType": "Patient", "meta": label(l.System, "B22222")}), nil)
	code, st = status(err)
	assert.Equal(t, fhir.CodeForbidden, code)
	assert.Equal(t, 403, st, "another practice named")

	code, st = status(l.CheckLookalike(resource(map[string]any{"resourceType": "Patient", "meta": label(l.System+"/", "A11111")})))
	assert.Equal(t, fhir.CodeValue, code)
	assert.Equal(t, 422, st, "a lookalike label")

	code, st = status(notKnownForUpdate("Patient", "x"))
	assert.Equal(t, fhir.CodeNotFound, code)
	assert.Equal(t, 404, st)

	r := resource(map[string]any{"resourceType": "Patient"})
	practice, err := l.Stamp(navA, r, nil)
	require.NoError(t, err)
	assert.Equal(t, "A11111", practice)
	assert.Equal(t, []string{"A11111"}, l.Named(r), "the label is stamped")
}
