package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

func service(t *testing.T, id, name string) *fhir.Resource {
	t.Helper()
	r, err := fhir.ParseResource(fmt.Appendf(nil, `{"resourceType":"HealthcareService","id":%q,"name":%q}`, id, name))
	require.NoError(t, err)
	return r
}

// TestChangeCounter: the HealthcareService counter moves by one with each
// committed version (create, update, delete), never for other types or
// for what is not committed; writers in open transactions do not wait for
// each other; folding the rows of finished transactions keeps the sum.
func TestChangeCounter(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	changes := func() int64 {
		t.Helper()
		n, ok, err := s.Changes(ctx, "HealthcareService")
		require.NoError(t, err)
		require.True(t, ok)
		return n
	}
	_, ok, err := s.Changes(ctx, "Task")
	require.NoError(t, err)
	assert.False(t, ok, "Task is not counted")

	base := changes()
	_, err = s.Update(ctx, service(t, "s1", "A"), store.Precondition{})
	require.NoError(t, err)
	assert.Equal(t, base+1, changes(), "create")
	_, err = s.Update(ctx, service(t, "s1", "B"), store.Precondition{})
	require.NoError(t, err)
	assert.Equal(t, base+2, changes(), "update")
	_, err = s.Delete(ctx, "HealthcareService", "s1", store.Precondition{})
	require.NoError(t, err)
	assert.Equal(t, base+3, changes(), "delete")
	task, err := fhir.ParseResource([]byte(`{"resourceType":"Task","id":"t","status":"requested","intent":"order"}`))
	require.NoError(t, err)
	_, err = s.Update(ctx, task, store.Precondition{})
	require.NoError(t, err)
	assert.Equal(t, base+3, changes(), "another type")

	// Two writers in open transactions: neither waits for the other, and
	// neither counts until it commits.
	first, second := make(chan struct{}), make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 2)
	for i, ready := range []chan struct{}{first, second} {
		go func() {
			done <- s.Transaction(ctx, func(tx store.Tx) error {
				if _, err := tx.Update(ctx, service(t, fmt.Sprintf("w%d", i), "W"), store.Precondition{}); err != nil {
					return err
				}
				close(ready)
				<-release
				return nil
			})
		}()
	}
	<-first
	<-second
	assert.Equal(t, base+3, changes(), "uncommitted versions do not count")
	close(release)
	require.NoError(t, <-done)
	require.NoError(t, <-done)
	assert.Equal(t, base+5, changes())

	// Many transactions: their rows are folded, the sum stays.
	for i := range 80 {
		_, err := s.Update(ctx, service(t, fmt.Sprintf("f%d", i), "F"), store.Precondition{})
		require.NoError(t, err)
	}
	assert.Equal(t, base+85, changes(), "folds")
	var rows int
	require.NoError(t, s.Pool().QueryRow(ctx, "SELECT count(*) FROM change_counts WHERE type = 'HealthcareService'").Scan(&rows))
	assert.Equal(t, 1, rows, "folded into the base row")
	assert.Equal(t, base+85, changes(), "after folding")
}
