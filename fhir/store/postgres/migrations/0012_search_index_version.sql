-- The derivation the search index rows were built with
-- (sqlsearch.IndexVersion), one row. When the store opens on another
-- version it rebuilds the index rows of every current resource from its
-- body and records the new version (reindex.go). No row: a new database
-- (no current resource) records the current version as it is; a database
-- with resources counts as version 1, built before composite parameters.
CREATE TABLE search_index_version (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    version  integer NOT NULL,
    built_at timestamptz NOT NULL DEFAULT now()
);
