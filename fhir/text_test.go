package fhir_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/signpost-fhir/signpost/fhir"
)

func TestCheckText(t *testing.T) {
	for s, ok := range map[string]bool{
		"":                  true,
		"plain":             true,
		"tab\tlf\ncr\r":     true,
		"é 😀 \u007f \u0085": true, // DEL and C1 controls are not below U+0020
		"\x00":              false,
		"a\x01b":            false,
		"\x1f":              false,
		"\x1e":              false,
		"a\xffb":            false,
		"\xed\xa0\x80":      false, // a surrogate
	} {
		assert.Equal(t, ok, fhir.CheckText(s) == nil, "%q", s)
	}
}

func TestParseResourceRefusesEscapedControlCharacters(t *testing.T) {
	for _, body := range []string{
		`{"resourceType":"Patient","gender":"\u0000"}`,
		`{"resourceType":"Patient","x\u0001":"y"}`,
		`{"resourceType":"Patient","name":[{"given":["a","\u001f"]}]}`,
	} {
		_, err := fhir.ParseResource([]byte(body))
		e, ok := fhir.AsError(err)
		if assert.True(t, ok, "%s: %v", body, err) {
			assert.Equal(t, 400, e.Status)
			assert.Contains(t, e.Error(), "control character")
		}
	}
	_, err := fhir.ParseResource([]byte(`{"resourceType":"Patient","name":[{"text":"a\tb\r\nc"}]}`))
	assert.NoError(t, err)
}
