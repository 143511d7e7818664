-- The derivation the search index rows were built with
-- (sqlsearch.IndexVersion), one row; see
-- ../../postgres/migrations/0012_search_index_version.sql. When the store
-- opens on another version it rebuilds the index rows of every current
-- resource from its body and records the new version (reindex.go).
CREATE TABLE search_index_version (
    one      INTEGER PRIMARY KEY CHECK (one = 1),
    version  INTEGER NOT NULL,
    built_at TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP
);
