package tenancy

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/postgres"
	"github.com/signpost-fhir/signpost/internal/pgtest"
)

// readCounter counts the reads made on a transaction.
type readCounter struct {
	store.Tx
	reads int
}

func (c *readCounter) Read(ctx context.Context, typ, id string) (store.Version, error) {
	c.reads++
	return c.Tx.Read(ctx, typ, id)
}

// TestUpdateRead: an update over a version the caller read checks tenancy
// from that version without reading it again, and fails with 412 (nothing
// written) when the resource changed meanwhile, even to another practice.
func TestUpdateRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := postgres.Open(ctx, pgtest.URL(t))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	g := New(Options{Store: st, CanonicalBase: "https://signpost.example/fhir"})
	sys := g.System
	task := func(practice, status string) *fhir.Resource {
		r, err := fhir.ResourceFromObject(map[string]any{"resourceType": "Task", "id": "t1", "status": status, "intent": "order",
			"meta": map[string]any{"security": []any{map[string]any{"system": sys, "code": practice}}}})
		require.NoError(t, err)
		return r
	}
	p := &auth.Principal{Subject: "nav", ODS: []string{"A11111"}}
	_, err = st.Update(ctx, task("A11111", "requested"), store.Precondition{})
	require.NoError(t, err)
	read, err := g.Wrap(p, st).Read(ctx, "Task", "t1")
	require.NoError(t, err)

	// No second read.
	var counted *readCounter
	err = st.Transaction(ctx, func(tx store.Tx) error {
		counted = &readCounter{Tx: tx}
		_, err := g.Wrap(p, counted).UpdateRead(ctx, task("A11111", "in-progress"), read)
		return err
	})
	require.NoError(t, err)
	assert.Zero(t, counted.reads)
	now, err := st.Read(ctx, "Task", "t1")
	require.NoError(t, err)
	assert.Equal(t, int64(2), now.VersionID)

	// Stale: the Task moved to another practice after it was read.
	_, err = st.Update(ctx, task("B22222", "in-progress"), store.Precondition{})
	require.NoError(t, err)
	err = st.Transaction(ctx, func(tx store.Tx) error {
		_, err := g.Wrap(p, tx).UpdateRead(ctx, task("A11111", "completed"), now)
		return err
	})
	var fe *fhir.Error
	require.True(t, errors.As(err, &fe), "%v", err)
	assert.Equal(t, http.StatusPreconditionFailed, fe.Status)
	last, err := st.Read(ctx, "Task", "t1")
	require.NoError(t, err)
	assert.Equal(t, int64(3), last.VersionID, "nothing written")
	assert.Equal(t, []string{"B22222"}, g.PracticesOf(last.Body))

	// A version the caller may not see is not found, whatever its version.
	other := &auth.Principal{Subject: "nav2", ODS: []string{"C33333"}}
	err = st.Transaction(ctx, func(tx store.Tx) error {
		_, err := g.Wrap(other, tx).UpdateRead(ctx, task("C33333", "completed"), last)
		return err
	})
	require.ErrorIs(t, err, fhir.ErrNotFound)
}

// TestPracticesOf: the practice labels of a stored body, once each, in
// order, of the practice system only, from meta.security alone.
func TestPracticesOf(t *testing.T) {
	t.Parallel()
	l := NewLabels("https://signpost.example/fhir")
	sys := l.System
	tests := []struct {
		body string
		want []string
	}{
		{`{"resourceType":"Task","id":"t","meta":{"lastUpdated":"x","security":[{"system":"` + sys + `","code":"A1"},{"system":"other","code":"B2"},` +
			`{"code":"C3"},{"system":"` + sys + `","code":"D4"},{"system":"` + sys + `","code":"A1"},{"system":"` + sys + `","code":""}],"versionId":"1"},"status":"ready"}`,
			[]string{"A1", "D4"}},
		{`{"resourceType":"Task","id":"t","meta":{"tag":[{"system":"` + sys + `","code":"A1"}],"extension":[{"url":"u","security":[{"system":"` + sys + `","code":"X"}]}]}}`, nil},
		{`{"resourceType":"Task","id":"t","status":"ready"}`, nil},
		{`{"resourceType":"Task","meta":{"security":"not a list"}}`, nil},
		{`{"resourceType":"Task","meta":{"security":[1,"x",null,{"system":"` + sys + `","code":"E5"}]}}`, []string{"E5"}},
		{`{"resourceType":"Task","status":"ready","meta":{"security":[{"system":"` + sys + `","code":"F6"}]}}`, []string{"F6"}},
		{``, nil},
		{`not json`, nil},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, l.PracticesOf([]byte(tc.body)), tc.body)
	}
}
