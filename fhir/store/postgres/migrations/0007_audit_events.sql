-- The audit log: AuditEvents in a table of their own (see
-- fhir/store/sqlsearch/audit.go). They are written on every access to
-- patient data, never changed and never deleted, and rarely searched, so
-- they keep no history rows and no rows in the index tables: a row holds
-- the body, the times as columns and the search index as one array of
-- terms under a GIN index, whose pending list takes an insert as one
-- append (VACUUM, or an insert once the list is full, merges it).
--
-- recorded_low and recorded_high are the date parameter
-- (AuditEvent.recorded) as Unix microseconds, as idx_date holds dates.
-- Every row is version 1, created with POST. AuditEvents written before
-- this table existed are moved into it when the store opens.
CREATE TABLE audit_events (
    id            text COLLATE "C" PRIMARY KEY,
    last_updated  timestamptz NOT NULL,
    recorded_low  bigint      NOT NULL,
    recorded_high bigint      NOT NULL,
    body          json        NOT NULL,
    terms         text[] COLLATE "C" NOT NULL
);
CREATE INDEX audit_events_terms ON audit_events USING gin (terms) WITH (gin_pending_list_limit = 512);
-- history and the default newest-first order
CREATE INDEX audit_events_last_updated ON audit_events (last_updated, id);
-- date= searches and sorts
CREATE INDEX audit_events_recorded ON audit_events (recorded_low, recorded_high);

DO $$
BEGIN
    EXECUTE 'ALTER TABLE audit_events ALTER COLUMN body SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE audit_events ALTER COLUMN terms SET COMPRESSION lz4';
EXCEPTION
    WHEN feature_not_supported OR syntax_error OR invalid_parameter_value THEN
        RAISE NOTICE 'lz4 compression is not available; audit rows keep pglz';
END
$$;
