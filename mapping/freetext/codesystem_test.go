package freetext

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCodeSystemReadsBackAsTheSource(t *testing.T) {
	src, err := Shipped()
	require.NoError(t, err)
	cs := src.CodeSystem("http://example.org/fhir/CodeSystem/" + ID)
	// Through JSON text, as it is stored and read back.
	raw, err := json.Marshal(cs)
	require.NoError(t, err)
	var stored map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	require.NoError(t, d.Decode(&stored))
	back, err := SourceFromCodeSystem(stored)
	require.NoError(t, err)
	assert.Equal(t, src, back)
}

func TestCodeSystemPropertyWithinIsAnInteger(t *testing.T) {
	cs := map[string]any{"resourceType": "CodeSystem", "concept": []any{map[string]any{"code": "x", "property": []any{
		map[string]any{"code": "class", "valueCode": "symptom"},
		map[string]any{"code": "within", "valueString": "3"},
	}}}}
	_, err := SourceFromCodeSystem(cs)
	assert.ErrorContains(t, err, "within must be an integer")
}
