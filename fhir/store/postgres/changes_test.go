package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/storetest"
)

// TestChangeCounter: what the contract suite does not cover
// (storetest.RunOptional checks the counter moves with each committed
// version): writers in open transactions do not wait for each other and
// do not count until they commit; folding the rows of finished
// transactions keeps the sum.
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
	base := changes()

	// Two writers in open transactions: neither waits for the other, and
	// neither counts until it commits.
	first, second := make(chan struct{}), make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 2)
	for i, ready := range []chan struct{}{first, second} {
		go func() {
			done <- s.Transaction(ctx, func(tx store.Tx) error {
				if _, err := tx.Update(ctx, storetest.HealthcareService(t, fmt.Sprintf("w%d", i), "W"), store.Precondition{}); err != nil {
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
	assert.Equal(t, base, changes(), "uncommitted versions do not count")
	close(release)
	require.NoError(t, <-done)
	require.NoError(t, <-done)
	assert.Equal(t, base+2, changes())

	// Many transactions: their rows are folded, the sum stays.
	for i := range 80 {
		_, err := s.Update(ctx, storetest.HealthcareService(t, fmt.Sprintf("f%d", i), "F"), store.Precondition{})
		require.NoError(t, err)
	}
	assert.Equal(t, base+82, changes(), "folds")
	var rows int
	require.NoError(t, s.Pool().QueryRow(ctx, "SELECT count(*) FROM change_counts WHERE type = 'HealthcareService'").Scan(&rows))
	assert.Equal(t, 1, rows, "folded into the base row")
	assert.Equal(t, base+82, changes(), "after folding")
}
