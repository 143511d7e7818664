package delivery

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
)

// ReferenceParam takes each form a client may send, and refuses the rest
// as malformed (400), saying what was expected.
func TestReferenceParam(t *testing.T) {
	t.Parallel()
	bases := []string{"https://example.org/fhir", ""}
	for _, tc := range []struct {
		typ   string
		value any
		want  string
	}{
		{"Reference", map[string]any{"reference": "Task/123"}, "123"},
		{"Reference", map[string]any{"reference": "https://example.org/fhir/Task/123/_history/2"}, "123"},
		{"Id", "123", "123"},
		{"String", " Task/123 ", "123"},
	} {
		p := (&fhir.Parameters{}).Add("task", tc.typ, tc.value)
		id, err := ReferenceParam(p, bases, "redeliver", "task", "Task")
		require.NoError(t, err, "%v", tc.value)
		assert.Equal(t, tc.want, id)
	}
	id, err := ReferenceParam(&fhir.Parameters{}, bases, "redeliver", "task", "Task")
	require.NoError(t, err)
	assert.Empty(t, id, "absent")
	for _, tc := range []struct {
		typ   string
		value any
	}{
		{"Reference", map[string]any{"identifier": map[string]any{"value": "x"}}},
		{"Reference", map[string]any{"reference": "https://elsewhere.org/fhir/Task/1"}},
		{"String", "Patient/1"},
		{"String", "not an id!"},
		{"Integer", 1},
	} {
		p := (&fhir.Parameters{}).Add("task", tc.typ, tc.value)
		_, err := ReferenceParam(p, bases, "redeliver", "task", "Task")
		fe, ok := fhir.AsError(err)
		require.True(t, ok, "%v: %v", tc.value, err)
		assert.Equal(t, fhir.DetailMalformed, fe.Detail, "%v", tc.value)
		assert.Equal(t, 400, fhir.HTTPStatus(fe), "%v", tc.value)
		assert.Contains(t, fe.Error(), "must be a reference to the Task")
	}
}

// A Subscription delivery names its Subscription and what it is about;
// any other names its Task.
func TestKeyPart(t *testing.T) {
	t.Parallel()
	assert.Equal(t, map[string]any{"name": "task", "valueReference": map[string]any{"reference": "Task/1"}}, KeyPart("1"))
	assert.Equal(t, map[string]any{"name": "subscription", "valueReference": map[string]any{"reference": "Subscription/s", "display": "notification about Task/1"}},
		KeyPart("Subscription/s/Task/1"))
}
