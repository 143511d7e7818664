package interaction_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/interaction"
)

// TestWriteChecks: a write is refused (invalid-content, 422) for the
// error issues of its type's checks, warnings kept out of the refusal;
// $validate reports a check's refusal of the content as its issues.
func TestWriteChecks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	warning := fhir.Issue{Severity: fhir.SeverityWarning, Code: fhir.CodeInformational, Diagnostics: "noted"}
	wrong := fhir.Issue{Severity: fhir.SeverityError, Code: fhir.CodeValue, Diagnostics: "wrong"}
	checks := interaction.WriteChecks{}
	checks.Add("Patient", func(context.Context, *fhir.Resource, bool) ([]fhir.Issue, error) { return []fhir.Issue{warning}, nil })
	checks.Add("Patient", func(_ context.Context, r *fhir.Resource, _ bool) ([]fhir.Issue, error) {
		switch r.ID() {
		case "wrong":
			return []fhir.Issue{wrong}, nil
		case "refused":
			return nil, fhir.Errorf(fhir.CodeForbidden, "not yours").Because(fhir.DetailNotPermitted)
		case "down":
			return nil, errors.New("the store is down")
		}
		return nil, nil
	})
	patient := func(id string) *fhir.Resource {
		r, err := fhir.ParseResource([]byte(`{"resourceType":"Patient","id":"` + id + `"}`))
		require.NoError(t, err)
		return r
	}

	require.NoError(t, checks.Validate(ctx, patient("fine"), false))
	err := checks.Validate(ctx, patient("wrong"), false)
	var fe *fhir.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, 422, fhir.HTTPStatus(fe))
	assert.Equal(t, []fhir.Issue{wrong}, fe.Issues)
	_, err = checks.Issues(ctx, patient("down"), false)
	require.EqualError(t, err, "the store is down")

	issues, err := checks.Issues(ctx, patient("wrong"), false)
	require.NoError(t, err)
	assert.Equal(t, []fhir.Issue{warning, wrong}, issues)
	issues, err = checks.Issues(ctx, patient("refused"), false)
	require.NoError(t, err)
	assert.Equal(t, warning, issues[0])
	assert.Equal(t, fhir.CodeForbidden, issues[1].Code)

	bad, err := fhir.ParseResource([]byte(`{"resourceType":"Patient","gender":"unknown-gender"}`))
	require.NoError(t, err)
	require.Error(t, checks.Validate(ctx, bad, false), "the R4 definitions first")
}

func TestCheckStoredBundle(t *testing.T) {
	t.Parallel()
	for kind, ok := range map[string]bool{"collection": true, "document": true, "message": true, "transaction": false, "searchset": false} {
		r, err := fhir.ResourceFromObject(map[string]any{"resourceType": "Bundle", "type": kind})
		require.NoError(t, err)
		issues, err := interaction.CheckStoredBundle(context.Background(), r, false)
		require.NoError(t, err)
		assert.Equal(t, ok, len(issues) == 0, kind)
	}
}

// TestOperationParams: a Parameters body's, then the query's in name
// order, without the answer's format.
func TestOperationParams(t *testing.T) {
	t.Parallel()
	p, err := interaction.OperationParams([]byte(`{"resourceType":"Parameters","parameter":[{"name":"b","valueString":"1"}]}`),
		url.Values{"c": {"3"}, "a": {"2", "4"}, "_format": {"json"}, "_pretty": {"true"}})
	require.NoError(t, err)
	values, err := interaction.ParamValues(p)
	require.NoError(t, err)
	assert.Equal(t, url.Values{"a": {"2", "4"}, "b": {"1"}, "c": {"3"}}, values)
	data, err := p.JSON()
	require.NoError(t, err)
	assert.Regexp(t, `"b".*"a".*"a".*"c"`, string(data))

	p, err = interaction.OperationParams([]byte("  \n"), nil)
	require.NoError(t, err)
	values, err = interaction.ParamValues(p)
	require.NoError(t, err)
	assert.Empty(t, values)
	_, err = interaction.OperationParams([]byte(`{"resourceType":"Patient"}`), nil)
	require.Error(t, err)
}

// TestEverythingSearch: each type within the patient's compartment, from
// _since on, and the self link of what was asked.
func TestEverythingSearch(t *testing.T) {
	t.Parallel()
	e := interaction.Everything{Count: 20, Since: "2026-01-31T09:00:00Z"}
	m, err := interaction.EverythingSearch("https://s.example/fhir", "p1", e, []string{"Patient", "Task"}, true)
	require.NoError(t, err)
	assert.Equal(t, []string{"Patient", "Task"}, m.Types)
	assert.Equal(t, 20, m.Count)
	assert.Equal(t, "https://s.example/fhir/Patient/p1/$everything?_count=20&_since=2026-01-31T09%3A00%3A00Z&_type=Patient%2CTask", m.Self)
	require.Contains(t, m.Searches, "Task")
	assert.NotNil(t, m.Searches["Task"].Query)

	m, err = interaction.EverythingSearch("https://s.example/fhir", "p1", interaction.Everything{Count: 5}, []string{"Patient"}, false)
	require.NoError(t, err)
	assert.Equal(t, "https://s.example/fhir/Patient/p1/$everything?_count=5", m.Self)
}
