package sqlite

import (
	"context"
	"errors"
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
// for what is not committed.
func TestChangeCounter(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	require.NoError(t, err)
	defer s.Close()
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
	_, err = s.Create(ctx, task(t, "t"))
	require.NoError(t, err)
	assert.Equal(t, base+3, changes(), "another type")

	err = s.Transaction(ctx, func(tx store.Tx) error {
		if _, err := tx.Update(ctx, service(t, "s2", "A"), store.Precondition{}); err != nil {
			return err
		}
		return errors.New("changed its mind")
	})
	require.Error(t, err)
	assert.Equal(t, base+3, changes(), "rolled back")

	// Inside a transaction: the committed value, until the transaction
	// writes the type itself.
	require.NoError(t, s.Transaction(ctx, func(tx store.Tx) error {
		n, ok, err := tx.(store.ChangeCounter).Changes(ctx, "HealthcareService")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, base+3, n)
		if _, err := tx.Update(ctx, service(t, "s3", "A"), store.Precondition{}); err != nil {
			return err
		}
		_, ok, err = tx.(store.ChangeCounter).Changes(ctx, "HealthcareService")
		require.NoError(t, err)
		assert.False(t, ok, "written in this transaction: not counted")
		return nil
	}))
	assert.Equal(t, base+4, changes())
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
				if _, err := tx.Update(ctx, service(t, id, "A"), store.Precondition{}); err != nil {
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
