package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/signpost-fhir/signpost/fhir/store"
)

// The change counters (migration 0009): store.ChangeCounter on the Store
// (committed values, read on a reader) and on its Tx.
//
// A Tx is one job of a group commit (writer.go): the jobs before it in
// the group have written, in the same SQLite transaction, what is not
// committed yet and may still be rolled back, and a counter read there
// would count their versions. A cache keyed on such a value could keep
// what a rollback took away, under a value a later commit reaches again.
// So each write transaction reads the counters once as it begins (the
// committed values: BEGIN IMMEDIATE sees the latest commit), and Tx.Changes
// answers a type's counter only while it still holds that value: when an
// earlier job of the group, or the job itself, has written the type, it
// answers not counted, and the caller takes the way round (a search).

var (
	_ store.ChangeCounter = (*Store)(nil)
	_ store.ChangeCounter = (*tx)(nil)
)

const (
	changesSQL    = "SELECT n FROM change_counts WHERE type = ?"
	allChangesSQL = "SELECT type, n FROM change_counts"
)

// Changes is store.ChangeCounter: typ's committed counter.
func (s *Store) Changes(ctx context.Context, typ string) (int64, bool, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, changesSQL, typ).Scan(&n)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("sqlite: change counter of %s: %w", typ, err)
	}
	return n, true, nil
}

// Changes is store.ChangeCounter inside the transaction: typ's counter
// while nothing of typ has been written since the transaction began (see
// above), else not counted.
func (t *tx) Changes(ctx context.Context, typ string) (int64, bool, error) {
	begun, ok := t.db.changes[typ]
	if !ok {
		return 0, false, nil
	}
	var n int64
	if err := t.db.QueryRowContext(ctx, changesSQL, typ).Scan(&n); err != nil {
		return 0, false, fmt.Errorf("sqlite: change counter of %s: %w", typ, err)
	}
	if n != begun {
		return 0, false, nil
	}
	return n, true, nil
}

// readChanges reads the committed counters as a write transaction begins.
func (t *wtx) readChanges(ctx context.Context) error {
	rows, err := t.QueryContext(ctx, allChangesSQL)
	if err != nil {
		return fmt.Errorf("sqlite: change counters: %w", err)
	}
	defer rows.Close()
	t.changes = make(map[string]int64, 2)
	for rows.Next() {
		var typ string
		var n int64
		if err := rows.Scan(&typ, &n); err != nil {
			return fmt.Errorf("sqlite: change counters: %w", err)
		}
		t.changes[typ] = n
	}
	return rows.Err()
}
