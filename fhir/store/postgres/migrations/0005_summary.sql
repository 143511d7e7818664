-- Summary rows (store.Summarizer): small precomputed facts of the current
-- version of a resource, kept like the search index rows (replaced in the
-- same statement as the resource row, gone with a deletion), read by kind,
-- key and a time range without decoding any resource. at is Unix
-- microseconds, as in the index tables. One row per resource, kind and
-- key; a write that meets a row a concurrent rebuild just inserted
-- overwrites it (ON CONFLICT ... DO UPDATE).
CREATE TABLE idx_summary (
    res_type text NOT NULL,
    res_id   text NOT NULL,
    kind     text NOT NULL,
    key      text COLLATE "C" NOT NULL,
    at       bigint NOT NULL,
    data     text NOT NULL
);
CREATE UNIQUE INDEX idx_summary_resource ON idx_summary (res_type, res_id, kind, key);
CREATE INDEX idx_summary_read ON idx_summary (kind, key, at);

-- The derivation each summary's rows were made by (store.SummaryFingerprint).
CREATE TABLE summary_kinds (
    kind        text PRIMARY KEY,
    fingerprint text NOT NULL,
    built_at    timestamptz NOT NULL DEFAULT now()
);
