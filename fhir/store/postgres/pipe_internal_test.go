package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/internal/pgtest"
)

// TestStrictInsert: the inserts a pipe queues have no ON CONFLICT DO
// NOTHING, so an id in use aborts the transaction.
func TestStrictInsert(t *testing.T) {
	for _, sql := range []string{insertSQL(0), insertSQL(1 | summarizedBit), insertAuditSQL} {
		assert.Contains(t, sql, "ON CONFLICT")
		assert.NotContains(t, strictInsert(sql), "DO NOTHING")
	}
}

// TestPipe: in a transaction, queued writes are seen by the statements
// after them; one that fails is reported by the call that sends it, and
// the transaction stores nothing.
func TestPipe(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.URL(t))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	patient := func(id, name string) *fhir.Resource {
		r, err := fhir.ParseResource([]byte(`{"resourceType":"Patient","id":"` + id + `","name":[{"family":"` + name + `"}]}`))
		require.NoError(t, err)
		return r
	}
	_, err = s.Create(ctx, patient("taken", "A"))
	require.NoError(t, err)

	err = s.Transaction(ctx, func(tx store.Tx) error {
		if _, err := tx.Create(ctx, patient("p1", "B")); err != nil {
			return err
		}
		// Queued, not yet sent; the read sends it first and sees it.
		v, err := tx.Read(ctx, "Patient", "p1")
		require.NoError(t, err)
		assert.Equal(t, int64(1), v.VersionID)
		if _, err := tx.Create(ctx, patient("taken", "C")); err != nil {
			return err
		}
		_, err = tx.Read(ctx, "Patient", "p1")
		return err
	})
	e, ok := fhir.AsError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, fhir.CodeDuplicate, e.Code(), "reported by the read that sent it")
	_, err = s.Read(ctx, "Patient", "p1")
	assert.True(t, errors.Is(err, fhir.ErrNotFound), "nothing stored: %v", err)

	// A failure queued last goes with COMMIT, which rolls back.
	err = s.Transaction(ctx, func(tx store.Tx) error {
		if _, err := tx.Create(ctx, patient("p2", "D")); err != nil {
			return err
		}
		_, err := tx.Create(ctx, patient("taken", "E"))
		return err
	})
	e, ok = fhir.AsError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, fhir.CodeDuplicate, e.Code())
	_, err = s.Read(ctx, "Patient", "p2")
	assert.True(t, errors.Is(err, fhir.ErrNotFound), "nothing stored: %v", err)
	v, err := s.Read(ctx, "Patient", "taken")
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(v.Body), `"A"`), "the first stays")
}
