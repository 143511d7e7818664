package sqlite

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/storetest"
)

// TestChangeCounterInATransaction: what the contract suite does not
// cover (storetest.RunOptional checks the counter moves with each
// committed version): inside a transaction the counter is the committed
// value until the transaction writes the type itself, then not counted.
func TestChangeCounterInATransaction(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	require.NoError(t, err)
	defer s.Close()
	base, _, err := s.Changes(ctx, "HealthcareService")
	require.NoError(t, err)
	require.NoError(t, s.Transaction(ctx, func(tx store.Tx) error {
		n, ok, err := tx.(store.ChangeCounter).Changes(ctx, "HealthcareService")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, base, n)
		if _, err := tx.Update(ctx, storetest.HealthcareService(t, "s3", "A"), store.Precondition{}); err != nil {
			return err
		}
		_, ok, err = tx.(store.ChangeCounter).Changes(ctx, "HealthcareService")
		require.NoError(t, err)
		assert.False(t, ok, "written in this transaction: not counted")
		return nil
	}))
	n, _, err := s.Changes(ctx, "HealthcareService")
	require.NoError(t, err)
	assert.Equal(t, base+1, n)
}

// TestChangeCounterInAGroup: a write that shares its group commit with an
// earlier one that wrote the type is not given a counter that counts the
// earlier version, which has not committed yet and might not: a cache
// keyed on that value could keep what a rollback took away. A write
// rolled back to its savepoint before the reader runs leaves the
// committed value, which is counted.
func TestChangeCounterInAGroup(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	require.NoError(t, err)
	defer s.Close()
	base, _, err := s.Changes(ctx, "HealthcareService")
	require.NoError(t, err)

	type seen struct {
		n   int64
		ok  bool
		err error
	}
	release, held := holdWriter(t, s)
	writeService := func(id string, fail bool) <-chan error {
		out := make(chan error, 1)
		go func() {
			out <- s.Transaction(ctx, func(tx store.Tx) error {
				if _, err := tx.Update(ctx, storetest.HealthcareService(t, id, "A"), store.Precondition{}); err != nil {
					return err
				}
				if fail {
					return errors.New("changed its mind")
				}
				return nil
			})
		}()
		return out
	}
	readCounter := func() <-chan seen {
		out := make(chan seen, 1)
		go func() {
			var got seen
			err := s.Transaction(ctx, func(tx store.Tx) error {
				got.n, got.ok, got.err = tx.(store.ChangeCounter).Changes(ctx, "HealthcareService")
				return got.err
			})
			if got.err == nil {
				got.err = err
			}
			out <- got
		}()
		return out
	}
	undone := writeService("g1", true)
	waitPending(s, 1)
	afterUndone := readCounter()
	waitPending(s, 2)
	written := writeService("g2", false)
	waitPending(s, 3)
	afterWritten := readCounter()
	waitPending(s, 4)
	release()
	require.NoError(t, <-held)
	require.Error(t, <-undone)
	require.NoError(t, <-written)

	got := <-afterUndone
	require.NoError(t, got.err)
	assert.True(t, got.ok, "after a write rolled back to its savepoint: the committed value")
	assert.Equal(t, base, got.n)
	got = <-afterWritten
	require.NoError(t, got.err)
	assert.False(t, got.ok, "after an uncommitted write of the type in the group: not counted (got %d)", got.n)

	n, ok, err := s.Changes(ctx, "HealthcareService")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, base+1, n, "only the committed write counts")
}
