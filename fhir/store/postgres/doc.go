// Package postgres is the production store.Store: PostgreSQL through
// pgx/v5 and a pgxpool.
//
// Two tables hold the data: resources (the current version of each
// resource, one row) and resource_history (every version); the search
// index tables (migrations/0002_search_index.sql, read by
// fhir/store/sqlsearch) hold the rows of current versions. A write is one
// statement: a data-modifying CTE that writes the resource row, its
// history row and its index rows (unnested from one array per column, and
// only into the tables the version has rows for), deleting the old index
// rows on an update or delete. A create is that statement alone, one
// round trip; updates and deletes first lock the current row with
// SELECT ... FOR UPDATE, which is what makes If-Match exact and keeps
// concurrent unconditional updates from losing each other.
//
// Transaction runs fn in one READ COMMITTED transaction and retries it on
// serialisation failures and deadlocks; Tx.Lock is a transaction-scoped
// advisory lock on a 64-bit hash of the key (pg_advisory_xact_lock), so
// conditional creates with the same criteria queue behind each other on
// any number of gateway processes. Searches run as prepared statements,
// one per search shape and connection (see querier.Query).
//
// Bodies are PostgreSQL json, not jsonb as the architecture sketch first
// said: jsonb rewrites numbers (1.0e2 becomes 100) and FHIR decimals must
// come back as they were sent. See migrations/0001_resources.sql.
//
// Migrations are embedded and applied by Open inside one transaction that
// first takes a transaction-scoped advisory lock, so any number of gateway
// processes may start at once on one database. After them, Open rebuilds
// the search index rows of every current resource once when the database's
// rows were built by another sqlsearch.IndexVersion (reindex.go,
// docs/architecture.md "Search index rebuild at upgrade").
//
// BulkLoad and SeedTasks fill a database for benchmarks with exactly the
// rows Create would write, through COPY.
//
// This package must not import Gin, go-oidc, or the gateway and mapping
// packages; it depends only on fhir, fhir/search and fhir/store.
package postgres
