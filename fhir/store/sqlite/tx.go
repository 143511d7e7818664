package sqlite

import (
	"context"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Transaction runs fn in one transaction on the writer connection (BEGIN
// IMMEDIATE, so it holds the file's write lock from the start). Writes are
// therefore serialised: no serialisation failure can happen and there is
// nothing to retry. fn must use only tx: the writer is its single
// connection, so a call on the Store that writes would wait for fn.
func (s *Store) Transaction(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.write(ctx, func(stx *wtx) error { return fn(&tx{s: s, db: stx}) })
}

// tx is the store.Tx Transaction hands to fn. Reads, searches included, go
// through the writer's transaction, so they see its own writes and, since
// it holds the write lock, the latest committed state.
type tx struct {
	s  *Store
	db *wtx
}

var (
	_ store.Tx          = (*tx)(nil)
	_ store.MultiLocker = (*tx)(nil)
)

func (t *tx) Create(ctx context.Context, r *fhir.Resource) (store.WriteResult, error) {
	res, err := create(ctx, t.db, r, &t.s.sums)
	if err != nil {
		return store.WriteResult{}, internal(err, "create %s/%s", r.Type(), r.ID())
	}
	return res, nil
}

func (t *tx) Update(ctx context.Context, r *fhir.Resource, pre store.Precondition) (store.WriteResult, error) {
	if err := store.CheckResource(r); err != nil {
		return store.WriteResult{}, err
	}
	res, err := update(ctx, t.db, r, pre, &t.s.sums)
	if err != nil {
		return store.WriteResult{}, internal(err, "update %s/%s", r.Type(), r.ID())
	}
	return res, nil
}

func (t *tx) Delete(ctx context.Context, typ, id string, pre store.Precondition) (store.WriteResult, error) {
	res, err := remove(ctx, t.db, typ, id, pre, &t.s.sums)
	if err != nil {
		return store.WriteResult{}, internal(err, "delete %s/%s", typ, id)
	}
	return res, nil
}

func (t *tx) Read(ctx context.Context, typ, id string) (store.Version, error) {
	return read(ctx, t.db, typ, id)
}

func (t *tx) Search(ctx context.Context, q *search.Query, page store.PageRequest) (store.SearchPage, error) {
	return t.s.search(ctx, t.db, q, page)
}

// Lock is a no-op: the transaction already holds SQLite's write lock,
// which serialises every writing transaction of every process on the
// file.
func (t *tx) Lock(ctx context.Context, key string) error { return nil }

// LockAll is store.MultiLocker: a no-op, as Lock is.
func (t *tx) LockAll(ctx context.Context, keys []string) error { return nil }
