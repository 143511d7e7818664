// Package sqlite is the embedded default store.Store: one SQLite file,
// signpost.db, in a data folder, through mattn/go-sqlite3 (SQLite's C,
// through cgo) and database/sql. It lets a newcomer run the gateway with no
// database server, and it must behave exactly like the PostgreSQL store:
// both pass the storetest contract suite, and both search with the same
// SQL (fhir/store/sqlsearch) over the same index tables.
//
// Durability: WAL journal with synchronous=FULL, so a write the store has
// acknowledged survives kill -9 and power loss (NORMAL would only survive
// the former). Concurrency: writes go through one connection and start
// with BEGIN IMMEDIATE, so they are serialised in this process and, through
// SQLite's file lock and busy_timeout, with any other process on the same
// file; reads use a separate pool of read-only connections and run
// concurrently with writes, as WAL allows. Transaction is one such write
// transaction, so Tx.Lock has nothing to add and is a no-op, and a search
// inside it reads through the writer, seeing its own writes.
//
// Group commit (writer.go): the writes that queue while one transaction
// commits share the next one, each in a savepoint of its own, so one
// fsync covers them all; none is answered before its COMMIT returned.
// The writer's statements are prepared once, on its one connection.
// Temporary files (the savepoints' statement journals) are kept in memory.
// Change counters (changes.go, migration 0009) are store.ChangeCounter.
//
// Times are integer Unix microseconds and bodies TEXT holding the exact
// bytes the codec wrote, as the PostgreSQL store keeps them. Index rows
// are written with one prepared single-row INSERT each in the write's
// transaction. Open rebuilds the index rows of every current resource
// once when the file's rows were built by another sqlsearch.IndexVersion
// (reindex.go, docs/architecture.md "Search index rebuild at upgrade").
//
// This package must not import Gin, go-oidc, pgx, or the gateway and
// mapping packages; it depends only on fhir, fhir/search and fhir/store.
package sqlite
