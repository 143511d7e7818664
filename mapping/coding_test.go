package mapping_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

func shippedMap(t *testing.T) (*snomed.Terminology, *snomed.ConceptMap) {
	t.Helper()
	cs, err := snomed.Shipped()
	require.NoError(t, err)
	term, err := snomed.New(cs, snomed.Options{})
	require.NoError(t, err)
	rs, err := term.ShippedResources()
	require.NoError(t, err)
	for _, r := range rs {
		if r.Type() == "ConceptMap" && r.ID() == snomed.AllocationMap {
			cm, err := snomed.ParseConceptMap(r)
			require.NoError(t, err)
			return term, cm
		}
	}
	t.Fatal("no allocation ConceptMap shipped")
	return nil, nil
}

func TestAllocationCoding(t *testing.T) {
	term, cm := shippedMap(t)
	decision := term.URL("CodeSystem", snomed.NavigationDecision)
	role := term.URL("CodeSystem", snomed.NavigationRole)
	tests := []struct {
		category, serviceType string
		code, codeSystem      string
		performer, perfSystem string
	}{
		{"practice-team", "722140001", "308447003", snomed.System, "309401003", snomed.System},
		{"practice-team", "413331009", "871731000000106", snomed.System, "social-prescribing-link-worker", role},
		{"practice-team", "", "practice-team-other", decision, "", ""},
		{"practice-team", "310000008", "practice-team-other", decision, "", ""}, // no specific row: the default
		{"external-referral", "983341000000102", "2140231000000104", snomed.System, "159011008", snomed.System},
		{"clinician", "", "183561008", snomed.System, "62247001", snomed.System},
		{"emergency", "310000008", "183660001", snomed.System, "", ""},
		{"emergency", "", "emergency-services", decision, "", ""},
		{"signpost", "907301000000109", "signposting-nhs-111", decision, "", ""},
		{"signpost", "310134006", "1084431000000106", snomed.System, "", ""},
		{"self-care", "", "self-care", decision, "", ""},
		{"administrative", "", "administrative-request", decision, "224608005", snomed.System},
	}
	for _, tt := range tests {
		t.Run(tt.category+"/"+tt.serviceType, func(t *testing.T) {
			var st snomed.Coding
			if tt.serviceType != "" {
				st = snomed.Coding{System: snomed.System, Code: tt.serviceType}
			}
			got, err := mapping.AllocationCoding(cm, term.LocalCoding(snomed.NavigationCategory, tt.category), st)
			require.NoError(t, err)
			assert.Equal(t, tt.code, got.Code.Code)
			assert.Equal(t, tt.codeSystem, got.Code.System)
			assert.NotEmpty(t, got.Code.Display)
			if tt.performer == "" {
				assert.Nil(t, got.PerformerType)
			} else {
				require.NotNil(t, got.PerformerType)
				assert.Equal(t, tt.performer, got.PerformerType.Code)
				assert.Equal(t, tt.perfSystem, got.PerformerType.System)
				assert.NotEmpty(t, got.PerformerType.Display)
			}
		})
	}

	_, err := mapping.AllocationCoding(cm, snomed.Coding{System: "http://elsewhere.example", Code: "x"}, snomed.Coding{})
	var fe *fhir.Error
	require.True(t, errors.As(err, &fe))
	assert.Equal(t, fhir.CodeBusinessRule, fe.Code())
}

func TestCodeAllocationReadsTheCurrentMap(t *testing.T) {
	term, cm := shippedMap(t)
	calls := 0
	current := func(context.Context) (*snomed.ConceptMap, error) { calls++; return cm, nil }
	_, err := mapping.CodeAllocation(context.Background(), current, term.LocalCoding(snomed.NavigationCategory, "self-care"), snomed.Coding{})
	require.NoError(t, err)
	_, err = mapping.CodeAllocation(context.Background(), current, term.LocalCoding(snomed.NavigationCategory, "self-care"), snomed.Coding{})
	require.NoError(t, err)
	assert.Equal(t, 2, calls, "the map is read at every decision")
	boom := errors.New("store down")
	_, err = mapping.CodeAllocation(context.Background(), func(context.Context) (*snomed.ConceptMap, error) { return nil, boom }, snomed.Coding{}, snomed.Coding{})
	assert.ErrorIs(t, err, boom)
}
