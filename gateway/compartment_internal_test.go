package gateway

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir/search"
)

// The Patient compartment table is R4's CompartmentDefinition patient
// (plus Task), and every parameter it names is a reference parameter the
// search registry serves.
func TestPatientCompartmentIsR4s(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../testdata/fhir/r4-core-4.0.1/CompartmentDefinition-patient.json")
	require.NoError(t, err)
	var def struct {
		Resource []struct {
			Code  string   `json:"code"`
			Param []string `json:"param"`
		} `json:"resource"`
	}
	require.NoError(t, json.Unmarshal(data, &def))
	want := map[string][]string{"Task": {"patient"}}
	for _, r := range def.Resource {
		if len(r.Param) > 0 {
			want[r.Code] = r.Param
		}
	}
	assert.Equal(t, want, patientCompartment)
	for typ, params := range patientCompartment {
		assert.True(t, auth.IsPatientLinked(typ), "%s is in the compartment but not under tenancy", typ)
		if search.Definitions(typ) == nil {
			continue
		}
		for _, p := range params {
			d, ok := search.Lookup(typ, p)
			if assert.True(t, ok, "%s.%s", typ, p) {
				assert.Equal(t, search.TypeReference, d.Type, "%s.%s", typ, p)
				assert.True(t, d.Supported, "%s.%s", typ, p)
			}
		}
	}
	// Tenancy covers exactly the compartment's types plus Signpost's
	// additions, which have no patient parameter in R4.
	linked := []string{"Bundle", "Binary"}
	for typ := range patientCompartment {
		linked = append(linked, typ)
	}
	slices.Sort(linked)
	assert.Equal(t, linked, auth.PatientLinkedTypes())
}
