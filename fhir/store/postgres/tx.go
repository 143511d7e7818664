package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// maxTransactionAttempts bounds how often Transaction runs fn when the
// database reports a serialisation failure or a deadlock.
const maxTransactionAttempts = 5

// Transaction runs fn in one READ COMMITTED transaction. READ COMMITTED is
// what makes the locking patterns work: after Lock returns, the next
// statement's snapshot sees whatever the previous holder committed, and an
// update as create that lost a race finds the winner's row on its retry.
// A serialisation failure (40001) or deadlock (40P01) rolls back and runs
// fn again, up to maxTransactionAttempts times, with a short growing pause.
func (s *Store) Transaction(ctx context.Context, fn func(tx store.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.transaction(ctx, fn)
		if err == nil {
			return nil
		}
		if !retryable(err) || attempt >= maxTransactionAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt*attempt) * 5 * time.Millisecond):
		}
	}
}

// transaction runs fn once on a pipe (pipe.go): committed when fn
// returns nil, rolled back otherwise, and on a panic, which goes on up.
func (s *Store) transaction(ctx context.Context, fn func(tx store.Tx) error) (err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	p := &pipe{conn: conn}
	done := false
	defer func() {
		if !done {
			p.rollback(context.WithoutCancel(ctx))
		}
	}()
	t := &tx{s: s, db: p}
	if err := fn(t); err != nil {
		return err
	}
	done = true
	if err := p.commit(ctx); err != nil {
		p.rollback(context.WithoutCancel(ctx))
		return err
	}
	s.noteAudits(t.audits)
	return nil
}

// retryable reports a failure that running the transaction again can cure.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// tx is the store.Tx Transaction hands to fn: the store's operations on
// one pgx transaction.
type tx struct {
	s  *Store
	db txdb
	// audits counts the AuditEvents written, for the store's
	// pending-list cleaner once the transaction commits.
	audits int
}

// txdb is a transaction's connection: a pipe, or a pgx.Tx.
type txdb interface {
	dbtx
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

var (
	_ store.Tx            = (*tx)(nil)
	_ store.BatchCreator  = (*tx)(nil)
	_ store.TokenMatcher  = (*tx)(nil)
	_ store.MultiLocker   = (*tx)(nil)
	_ store.ChangeCounter = (*tx)(nil)
)

func (t *tx) Create(ctx context.Context, r *fhir.Resource) (store.WriteResult, error) {
	res, err := create(ctx, t.db, r, &t.s.sums)
	if err == nil {
		t.audits += countAudits(r)
	}
	return res, err
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

// Lock takes a transaction-scoped advisory lock on a 64-bit hash of key.
// Two different keys may share a hash; they then wait for each other,
// which costs time, never correctness.
func (t *tx) Lock(ctx context.Context, key string) error {
	if _, err := t.db.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key); err != nil {
		return fmt.Errorf("postgres: lock: %w", err)
	}
	return nil
}

// Changes is store.ChangeCounter inside the transaction, on its own
// connection: a caller holding a transaction must not wait for a second
// connection from the pool, which concurrent transactions may all be
// holding. It folds nothing (a fold would hold its rows until this
// transaction ends); the store's Changes does.
func (t *tx) Changes(ctx context.Context, typ string) (int64, bool, error) {
	n, rows, err := changes(ctx, t.db, typ)
	if err != nil || rows == 0 {
		return 0, false, err
	}
	return n, true, nil
}
