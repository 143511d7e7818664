package search

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExpandValueSets(t *testing.T) {
	sets := map[string][]Code{
		"http://x/vs/two":   {{"http://s", "a"}, {"http://s", "b"}},
		"http://x/vs/empty": nil,
	}
	expand := func(u string) ([]Code, error) { return sets[u], nil }
	parse := func(q string) *Query {
		v, err := url.ParseQuery(q)
		require.NoError(t, err)
		pq, err := ParseQuery("Observation", v, true)
		require.NoError(t, err)
		return pq
	}

	q := parse("code:in=http://x/vs/two&status=final")
	require.True(t, UsesValueSets(q))
	e, err := ExpandValueSets(q, expand)
	require.NoError(t, err)
	assert.Equal(t, ModIn, q.Params[0].Modifier, "the query given is not changed")
	require.Len(t, e.Params, 2)
	assert.Equal(t, "", e.Params[0].Modifier)
	assert.Equal(t, []string{"a", "b"}, []string{e.Params[0].Values[0].Code, e.Params[0].Values[1].Code})
	assert.True(t, e.Params[0].Values[0].SystemGiven)
	assert.False(t, UsesValueSets(e))

	e, err = ExpandValueSets(parse("code:not-in=http://x/vs/two"), expand)
	require.NoError(t, err)
	assert.Equal(t, ModNot, e.Params[0].Modifier)

	// An empty value set: :in matches nothing (a code no one holds),
	// :not-in excludes nothing (dropped).
	e, err = ExpandValueSets(parse("code:in=http://x/vs/empty"), expand)
	require.NoError(t, err)
	require.Len(t, e.Params[0].Values, 1)
	assert.Contains(t, e.Params[0].Values[0].System, "urn:uuid:")
	e, err = ExpandValueSets(parse("code:not-in=http://x/vs/empty&status=final"), expand)
	require.NoError(t, err)
	require.Len(t, e.Params, 1)
	assert.Equal(t, "status", e.Params[0].Name)

	// Chained.
	pq, err := ParseQuery("Patient", url.Values{"_has:Observation:subject:code:in": {"http://x/vs/two"}}, true)
	require.NoError(t, err)
	e, err = ExpandValueSets(pq, expand)
	require.NoError(t, err)
	assert.Equal(t, "", e.Params[0].Has.Param.Modifier)
	assert.Len(t, e.Params[0].Has.Param.Values, 2)
	assert.Equal(t, ModIn, pq.Params[0].Has.Param.Modifier)
}
