package tenancy

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlite"
)

func TestHistoryFilter(t *testing.T) {
	t.Parallel()
	l := NewLabels("https://signpost.example/fhir")
	assert.Nil(t, l.HistoryFilter(auth.DevPrincipal()))
	assert.Nil(t, l.HistoryFilter(&auth.Principal{AllPractices: true}))
	assert.Equal(t, &store.SecurityFilter{Types: OwnedTypes(), System: l.System, Codes: []string{"A11111"}},
		l.HistoryFilter(&auth.Principal{ODS: []string{"A11111"}}))
}

// TestVersions: the history and the past versions of a resource, as each
// caller may see them: another practice's are not known, whether the
// version asked for exists, is a deletion or never existed.
func TestVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	g := New(Options{Store: st, CanonicalBase: "https://signpost.example/fhir"})
	task, err := fhir.ResourceFromObject(map[string]any{"resourceType": "Task", "id": "t1", "status": "requested", "intent": "order",
		"meta": map[string]any{"security": []any{map[string]any{"system": g.System, "code": "A11111"}}}})
	require.NoError(t, err)
	_, err = st.Update(ctx, task, store.Precondition{})
	require.NoError(t, err)
	_, err = st.Delete(ctx, "Task", "t1", store.Precondition{})
	require.NoError(t, err)
	own, other := &auth.Principal{ODS: []string{"A11111"}}, &auth.Principal{ODS: []string{"B22222"}}

	v, err := g.VersionRead(ctx, own, "Task", "t1", 1)
	require.NoError(t, err)
	assert.Equal(t, int64(1), v.VersionID)
	_, err = g.VersionRead(ctx, own, "Task", "t1", 2)
	require.ErrorIs(t, err, fhir.ErrDeleted, "its own deletion is gone")
	_, err = g.VersionRead(ctx, own, "Task", "t1", 3)
	require.ErrorIs(t, err, fhir.ErrNotFound)
	for n := int64(1); n <= 3; n++ {
		_, err = g.VersionRead(ctx, other, "Task", "t1", n)
		var fe *fhir.Error
		require.ErrorAs(t, err, &fe, "version %d", n)
		assert.Equal(t, fhir.NotFound("Task", "t1").Issues, fe.Issues, "version %d: as for an id that never existed", n)
	}
	_, err = g.VersionRead(ctx, auth.DevPrincipal(), "Task", "t1", 1)
	require.NoError(t, err)

	page, err := g.History(ctx, own, store.HistoryQuery{Type: "Task", ID: "t1", Count: 10})
	require.NoError(t, err)
	assert.Equal(t, 2, page.Total)
	_, err = g.History(ctx, other, store.HistoryQuery{Type: "Task", ID: "t1", Count: 10})
	require.ErrorIs(t, err, fhir.ErrNotFound)
	page, err = g.History(ctx, other, store.HistoryQuery{Type: "Task", Count: 10})
	require.NoError(t, err)
	assert.Zero(t, page.Total, "a type's history leaves other practices' versions out")
}

// TestBatchable: what a Bundle run may write in batches.
func TestBatchable(t *testing.T) {
	t.Parallel()
	tx := New(Options{CanonicalBase: "https://signpost.example/fhir"}).Wrap(&auth.Principal{ODS: []string{"A11111"}}, nil)
	assert.True(t, tx.Batchable("Patient", false))
	assert.False(t, tx.Batchable("Patient", true), "its practice label is decided against the stored version")
	assert.True(t, tx.Batchable("Organization", true))
	for _, typ := range []string{"Task", "ServiceRequest", "Subscription"} {
		assert.False(t, tx.Batchable(typ, false), "%s notifies subscribers, in the Bundle's order", typ)
	}
	assert.True(t, tx.Restricted("Patient"))
	assert.False(t, tx.Restricted("Organization"))
}
