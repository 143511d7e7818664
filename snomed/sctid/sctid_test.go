package sctid

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in        string
		kind      Kind
		long      bool
		namespace string
		err       string
	}{
		{in: "29857009", kind: Concept},                                          // Chest pain (finding)
		{in: "138875005", kind: Concept},                                         // the root concept
		{in: "871731000000106", kind: Concept, long: true, namespace: "1000000"}, // UK extension
		{in: "900000000000003001", kind: Concept},                                // core metadata: 18 digits, short format
		{in: "29857019", err: "check digit"},
		{in: "2985709", err: "check digit"},
		{in: "029857009", err: "start with 0"},
		{in: "12345", err: "6 to 18 digits"},
		{in: "1234567890123456789", err: "6 to 18 digits"},
		{in: "2985700X", err: "not a digit"},
		{in: "", err: "6 to 18 digits"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			id, err := Parse(tt.in)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.kind, id.Kind)
			assert.Equal(t, tt.long, id.Long)
			assert.Equal(t, tt.namespace, id.Namespace)
			assert.Equal(t, tt.in, id.String())
		})
	}
}

func TestPartitions(t *testing.T) {
	for _, tt := range []struct {
		item      uint64
		namespace string
		kind      Kind
	}{
		{123456, "", Concept}, {123456, "", Description}, {123456, "", Relationship},
		{1, "1000000", Concept}, {42, "1000033", Description}, {42, "1000033", Relationship},
	} {
		s, err := Make(tt.item, tt.namespace, tt.kind)
		require.NoError(t, err)
		id, err := Parse(s)
		require.NoError(t, err, s)
		assert.Equal(t, tt.kind, id.Kind, s)
		assert.Equal(t, tt.namespace != "", id.Long, s)
		assert.Equal(t, tt.namespace, id.Namespace, s)
		_, err = ParseConcept(s)
		if tt.kind == Concept {
			assert.NoError(t, err)
		} else {
			require.Error(t, err)
			assert.Contains(t, err.Error(), "not a concept id")
		}
	}
	// Partitions that are not concept/description/relationship, or not
	// short/long, are refused even with a correct check digit.
	for _, p := range []string{"03", "05", "13", "20", "99"} {
		payload := "123456" + p
		d, ok := CheckDigit(payload)
		require.True(t, ok)
		_, err := Parse(payload + string(d))
		require.Error(t, err, p)
		assert.Contains(t, err.Error(), "partition")
	}
	// A long-format id too short to hold a namespace.
	d, _ := CheckDigit("1234510")
	_, err := Parse("1234510" + string(d))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "namespace")
}

// Verhoeff catches every single-digit substitution and every adjacent
// transposition.
func TestVerhoeffCatchesTypos(t *testing.T) {
	for item := uint64(100000); item < 100400; item++ {
		s, err := Make(item, "", Concept)
		require.NoError(t, err)
		require.True(t, Valid(s))
		for _, v := range Corruptions(s) {
			assert.False(t, Valid(v), "%s -> %s passes", s, v)
		}
	}
}

func TestCorruptions(t *testing.T) {
	vs := Corruptions("1234")
	assert.Len(t, vs, 4*9+3)
	assert.Contains(t, vs, "2134")
	assert.Contains(t, vs, "1243")
	assert.NotContains(t, vs, "1234")
	// Swapping equal neighbours does not change the number: not a variant.
	assert.Len(t, Corruptions("1134"), 4*9+2)
	for _, v := range vs {
		assert.Len(t, v, 4)
		assert.False(t, strings.Contains(v, "x"))
	}
}
