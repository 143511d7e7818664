package store

import (
	"context"

	"github.com/signpost-fhir/signpost/fhir"
)

// The optional interfaces: what a store or its Tx may do besides Store
// and Tx, which callers probe for with a type assertion and do without
// when it is missing. Each is a faster way to what Store and Tx already
// do, or something only some stores can tell; storetest.RunOptional
// checks, for each store, which it provides and that each agrees with
// the way round it.
//
//	interface      on          PostgreSQL  SQLite  without it
//	BulkCreator    Store       yes         yes     one transaction of creates
//	BatchCreator   Tx          yes         no      Create and Update one by one
//	TokenMatcher   Tx          yes         no      a search of the pairs
//	MultiLocker    Tx          yes         yes     Lock one key at a time
//	OutboxStatser  Store       yes         yes     no outbox gauges
//	ChangeCounter  Store, Tx   yes         yes     counting recent versions
//	Availability   Store       yes         no      every failure is a 500

// ChangeCounter is a store that keeps, for some types, a counter of the
// versions committed, which reads in one index probe. A cache checks it
// instead of counting recent versions: equal values mean nothing of the
// type committed in between. Only committed versions count, so a value
// never runs ahead of what a read sees.
type ChangeCounter interface {
	// Changes is typ's counter; ok is false when the store keeps none for
	// typ.
	Changes(ctx context.Context, typ string) (n int64, ok bool, err error)
}

// Availability is a store that can tell an unreachable database from
// other failures: Unavailable reports whether err means the database
// could not be reached, or dropped the connection (restarting, shutting
// down). Such a failure is worth trying again shortly, and the gateway
// answers it 503. It says nothing of whether a commit in flight took
// effect: its answer may be what was lost.
type Availability interface {
	Unavailable(err error) bool
}

// BulkCreator is a store that creates many resources in one go, as one
// transaction (both stores: PostgreSQL pipelines the inserts, SQLite
// shares one commit). The gateway's audit batcher uses it for the
// AuditEvents of concurrent reads; a store without it gets one
// transaction of creates.
type BulkCreator interface {
	CreateAll(ctx context.Context, rs []*fhir.Resource) ([]Version, error)
}

// BatchCreator is a Tx that creates and updates many resources in a few
// round trips (the PostgreSQL store pipelines them). The batch and
// transaction run (fhir/interaction) writes its plain creates and updates
// through it.
type BatchCreator interface {
	// CreateAll is Tx.Create for each of rs, all or none: an id in use
	// fails the call with a duplicate error, and the transaction then
	// rolls back.
	CreateAll(ctx context.Context, rs []*fhir.Resource) ([]WriteResult, error)
	// UpdateAll is Tx.Update without a precondition for each of rs (whose
	// ids differ), with the same results, Unchanged and Created included.
	UpdateAll(ctx context.Context, rs []*fhir.Resource) ([]WriteResult, error)
}

// TokenMatcher is a Tx that finds the resources with each of many token
// values in one statement. The batch and transaction run (fhir/interaction)
// looks up the identifiers of conditional creates and updates with it.
type TokenMatcher interface {
	// TokenMatches finds, for each pair systems[i]|codes[i], the current
	// live resources of typ that a search param=system|code finds, at most
	// two (enough to tell none, one and several apart), in id order, under
	// key i; pairs that find nothing have no key.
	TokenMatches(ctx context.Context, typ, param string, systems, codes []string) (map[int][]Version, error)
}

// MultiLocker is a Tx that takes many locks in one round trip: what
// Tx.Lock does for each of keys, in order (callers sort them, as they
// would call Lock).
type MultiLocker interface {
	LockAll(ctx context.Context, keys []string) error
}

// OutboxStatser is a store that summarises its delivery outbox, for the
// gateway's outbox gauges.
type OutboxStatser interface {
	OutboxStats(ctx context.Context) (OutboxStats, error)
}
