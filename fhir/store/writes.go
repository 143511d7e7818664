package store

import (
	"context"

	"github.com/signpost-fhir/signpost/fhir"
)

// Transactor runs a function in one transaction; see Store.Transaction.
// It is what a store writes itself: Writes builds the Store-level writes
// on it.
type Transactor interface {
	Transaction(ctx context.Context, fn func(tx Tx) error) error
}

// Writes are the writes of Tx made outside a transaction: each runs as a
// transaction of its own through T, whose Tx does the work. A store
// embeds Writes, with T set to itself when it is opened, and so writes
// each write once, for its Tx. What a Store-level write returns is what
// its Tx's write returns, or else what Transaction does (a failed
// commit).
type Writes struct {
	T Transactor
}

// Create is Tx.Create in a transaction of its own.
func (w Writes) Create(ctx context.Context, r *fhir.Resource) (WriteResult, error) {
	return w.one(ctx, func(tx Tx) (WriteResult, error) { return tx.Create(ctx, r) })
}

// Update is Tx.Update in a transaction of its own.
func (w Writes) Update(ctx context.Context, r *fhir.Resource, pre Precondition) (WriteResult, error) {
	return w.one(ctx, func(tx Tx) (WriteResult, error) { return tx.Update(ctx, r, pre) })
}

// Delete is Tx.Delete in a transaction of its own.
func (w Writes) Delete(ctx context.Context, typ, id string, pre Precondition) (WriteResult, error) {
	return w.one(ctx, func(tx Tx) (WriteResult, error) { return tx.Delete(ctx, typ, id, pre) })
}

// Enqueue is Tx.Enqueue in a transaction of its own.
func (w Writes) Enqueue(ctx context.Context, d Delivery) error {
	return w.T.Transaction(ctx, func(tx Tx) error { return tx.Enqueue(ctx, d) })
}

// Lock is a no-op: a transaction of its own would end, and release the
// lock, before Lock returned.
func (w Writes) Lock(ctx context.Context, key string) error { return nil }

func (w Writes) one(ctx context.Context, write func(tx Tx) (WriteResult, error)) (WriteResult, error) {
	var res WriteResult
	err := w.T.Transaction(ctx, func(tx Tx) error {
		var err error
		res, err = write(tx)
		return err
	})
	if err != nil {
		return WriteResult{}, err
	}
	return res, nil
}
