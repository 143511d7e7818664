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

// TestWithAdditionsOfTheShippedLexicon: the shipped lexicon stored as its
// CodeSystem and read back adds nothing, and compiles to the shipped
// lexicon itself; one added pattern does not.
func TestWithAdditionsOfTheShippedLexicon(t *testing.T) {
	src, err := Shipped()
	require.NoError(t, err)
	shipped, err := ShippedLexicon()
	require.NoError(t, err)
	back, err := SourceFromCodeSystem(src.CodeSystem("https://signpost.example/fhir/CodeSystem/clinical-lexicon"))
	require.NoError(t, err)
	lex, err := WithAdditions(back)
	require.NoError(t, err)
	assert.Same(t, shipped, lex, "the shipped lexicon read back was compiled again")

	added := false
	for i, c := range back.Concepts {
		if c.Class == ClassSymptom {
			back.Concepts[i].Match = append(back.Concepts[i].Match, "zzqx wobbly toe")
			added = true
			break
		}
	}
	require.True(t, added)
	lex, err = WithAdditions(back)
	require.NoError(t, err)
	assert.NotSame(t, shipped, lex, "an addition was not compiled")
}
