package store

import (
	"context"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
)

// Method says which interaction made a version.
type Method string

const (
	MethodCreate Method = "POST"
	MethodUpdate Method = "PUT"
	MethodDelete Method = "DELETE"
)

// Version is one stored version of a resource.
type Version struct {
	Type        string
	ID          string
	VersionID   int64
	LastUpdated time.Time
	Method      Method
	// Deleted versions have no Body.
	Deleted bool
	// Body is the resource's JSON exactly as stored, with id and the
	// server-owned meta elements already stamped.
	Body []byte
}

// Precondition is an optional If-Match: the version the client believes is
// current. Zero means no precondition.
type Precondition struct {
	IfMatch int64
}

// WriteResult tells the caller what a write did.
type WriteResult struct {
	Version Version
	// Created is true when the write made version 1 (create, or update as
	// create).
	Created bool
	// Unchanged is true when an update carried exactly the content of the
	// current version (apart from the server-owned meta elements): no new
	// version is written and Version is the current one. Publishers that
	// re-send a whole feed rely on this.
	Unchanged bool
}

// HistoryQuery selects versions for _history at instance (Type and ID),
// type (Type) or system level (neither).
type HistoryQuery struct {
	Type string
	ID   string
	// Since keeps versions with LastUpdated > Since when not zero.
	Since time.Time
	// At, when not zero, keeps versions with LastUpdated <= At.
	At time.Time
	// CurrentAfter, when not zero, keeps only versions still current
	// after it: those the next version of the same resource (if any)
	// superseded later than CurrentAfter. With At it selects the versions
	// current at some point of (CurrentAfter, At], FHIR's _at.
	CurrentAfter time.Time
	// Count is the page size (the caller caps it); zero returns no
	// versions, only Total, as FHIR's _count=0 does. Offset skips that many
	// versions of the same ordering, newest first. Negative values are an
	// invalid error.
	Count  int
	Offset int
	// Types, when not empty, keeps versions of these types only: system
	// history for a caller that may read some types.
	Types []string
	// Security, when set, keeps of the versions of its Types only those
	// carrying one of its labels (tenancy; see SecurityFilter).
	Security *SecurityFilter
}

// SecurityFilter restricts history to the practices a caller acts for.
// A version of one of Types is kept when its body's meta.security holds a
// coding with System and one of Codes; a deletion (no body) is judged by
// the version it deleted. Versions of other types are kept. No Codes
// keeps no version of Types.
type SecurityFilter struct {
	Types  []string
	System string
	Codes  []string
}

// HistoryPage is one page of versions, newest first: LastUpdated
// descending, then (for different resources written in the same
// microsecond) type, id (both compared byte by byte) and version
// descending, so pages never overlap or skip. A resource's versions always
// have strictly increasing LastUpdated.
type HistoryPage struct {
	Versions []Version
	// Total is the number of versions the query matches over all pages.
	Total int
}

// Store is the persistence the gateway needs for the REST interactions.
// Implementations are safe for concurrent use by any number of goroutines
// and any number of gateway processes on the same database.
//
// Errors are *fhir.Error for what a client caused (not-found, deleted,
// version conflict, ...); anything else is an internal error.
//
// Create and Update stamp r in place (id, meta.versionId,
// meta.lastUpdated; see fhir.Resource.Stamp) and store exactly the bytes of
// r.MarshalJSON() after stamping, which the result's Version.Body holds; so
// r must not be used by another goroutine during the call. LastUpdated has
// microsecond precision.
//
// What a store writes itself is a transaction (Transaction, and the Tx it
// hands out) and the reads; Tx's writes outside a transaction (Create,
// Update, Delete, Enqueue, Lock) each run as a Transaction of their own,
// which a store gets by embedding Writes.
type Store interface {
	Tx
	// VRead returns one version; a deleted version is a deleted error, an
	// unknown one not-found.
	VRead(ctx context.Context, typ, id string, version int64) (Version, error)
	// History lists versions newest first (see HistoryPage). Instance
	// history of an id that never existed is not-found; type and system
	// history of nothing is an empty page.
	History(ctx context.Context, q HistoryQuery) (HistoryPage, error)
	// Transaction runs fn in one database transaction: everything fn does
	// through tx commits together when fn returns nil, and nothing of it
	// when fn returns an error (which Transaction returns). A serialisation
	// failure the database reports is retried by running fn again, so fn
	// must have no effects outside tx.
	Transaction(ctx context.Context, fn func(tx Tx) error) error
	// Ping reports whether the store can be reached (readiness).
	Ping(ctx context.Context) error
	// Close releases the store's connections.
	Close() error
	Summaries
}

// Tx is what can be done inside one transaction; a Store does the same,
// each call then being its own transaction (see Writes).
type Tx interface {
	// Create stores r as version 1 under the id r already carries (the
	// caller assigns server ids). An id already in use, even by a deleted
	// resource, is a duplicate error.
	Create(ctx context.Context, r *fhir.Resource) (WriteResult, error)
	// Update stores r as the next version of r.Type()/r.ID(), creating it
	// when it does not exist (update as create: version 1, Created) or
	// making it live again when it was deleted (the next version, not
	// Created). A precondition that does not match the current version is
	// a 412 conflict and nothing changes; an If-Match on a resource that
	// does not exist is a 412 too. Concurrent updates without a
	// precondition are never lost: each gets its own version number.
	Update(ctx context.Context, r *fhir.Resource, pre Precondition) (WriteResult, error)
	// Delete records a deletion as a new version (Deleted, no Body).
	// Deleting what does not exist or is already deleted succeeds and
	// changes nothing (the result has a zero Version then), unless a
	// precondition does not match: 412.
	Delete(ctx context.Context, typ, id string, pre Precondition) (WriteResult, error)
	// Read returns the current version: fhir not-found for an unknown id,
	// fhir deleted (410) when the current version is a deletion.
	Read(ctx context.Context, typ, id string) (Version, error)
	// Search finds current (not deleted) resources of q's type matching
	// q, in q's sort order (default: last updated, newest first; always
	// with a stable tiebreak), one page at a time (see SearchPage).
	Search(ctx context.Context, q *search.Query, page PageRequest) (SearchPage, error)
	// Lock serialises, until the end of the transaction, every
	// transaction that locks the same key: what conditional creates and
	// updates take on their criteria so that concurrent ones cannot both
	// find nothing and both create. Outside Transaction it is a no-op.
	Lock(ctx context.Context, key string) error
	// Enqueue writes d to the delivery outbox (Endpoint, TaskID and
	// Payload are used; the rest is the store's) as the next in TaskID's
	// order, so a decision and its delivery commit together or not at
	// all. Outside Transaction it is its own transaction.
	Enqueue(ctx context.Context, d Delivery) error
}

// PageRequest asks for one page of a search.
type PageRequest struct {
	// Count is the page size (the caller caps it); 0 asks for the total
	// only.
	Count int
	// Cursor continues a search from a previous page's Next or Previous;
	// empty starts at the first page. A cursor keeps its page stable
	// while others write.
	Cursor string
	// Total asks for the accurate number of matches.
	Total bool
}

// SearchPage is one page of a search.
type SearchPage struct {
	Matches []Version
	// Included holds the resources _include and _revinclude (with
	// :iterate) brought in for this page's matches, each once.
	Included []Version
	// Total is the number of matches over all pages, or -1 when not
	// asked for.
	Total int
	// Next and Previous are opaque cursors ("" at either end).
	Next, Previous string
}

// A Summarizer derives summary rows from the resources of one type: small
// precomputed facts that a report reads many thousands of at a time
// without decoding the resources (the success measures read a year of a
// practice's navigations in well under a second this way). Summary rows
// are kept exactly like search index rows: written in the same statement
// as the version they come from, replaced by the next version, removed by
// a deletion. A store holds the summarizers registered with it; they are
// not persisted, so every process registers its own at start-up.
type Summarizer struct {
	// Kind names the summary; one resource has at most one row per kind
	// and key.
	Kind string
	// Type is the resource type summarised.
	Type string
	// Version names the derivation. When it differs from the one the rows
	// in the database were made by, RegisterSummarizer rebuilds the rows
	// of every current resource of Type before it returns.
	Version string
	// Summarize derives the rows of one resource version (none when it
	// is not of interest). It must be pure and safe for concurrent use;
	// keys must be distinct.
	Summarize func(r *fhir.Resource) []Summary
}

// Summary is one summary row.
type Summary struct {
	// Key is what readers select on (e.g. the practice).
	Key string
	// At is what readers select a range of (e.g. when the request was
	// made); stored to the microsecond.
	At time.Time
	// Data is the fact itself, in the summarizer's own encoding.
	Data string
}

// SummaryQuery selects summary rows of Kind whose key is one of Keys and
// whose At is in [From, To); a zero To is open.
type SummaryQuery struct {
	Kind     string
	Keys     []string
	From, To time.Time
}

// Summaries is how a store keeps and reads summary rows.
type Summaries interface {
	// RegisterSummarizer makes every later write of s.Type in this process
	// keep s's rows, and rebuilds the rows of the resources already stored
	// when s.Version is not the version they were made by (serialised
	// across processes). Registering the same Kind again replaces it.
	RegisterSummarizer(ctx context.Context, s Summarizer) error
	// ScanSummaries calls fn for every row q selects, in At order, until
	// fn returns an error (which ScanSummaries returns).
	ScanSummaries(ctx context.Context, q SummaryQuery, fn func(key string, at time.Time, data string) error) error
}

// SummaryFingerprint is what a store records for a registered
// summarizer: its type and version, so that a changed type rebuilds too.
func SummaryFingerprint(s Summarizer) string { return s.Type + "|" + s.Version }
