-- AuditEvent terms that no search needs an index for move out of the
-- GIN-indexed terms into tags, which no index covers (see
-- fhir/store/sqlsearch/audit.go): a token's system|code and system terms
-- (its code term stays indexed and finds the rows) and the presence
-- terms. A read's AuditEvent then adds about 30 index entries instead of
-- 60.
--
-- Rows written before this migration keep every term in terms and NULL
-- tags; searches read COALESCE(tags, terms) for tag terms, so nothing is
-- rewritten here and the migration is instant on a large table.
ALTER TABLE audit_events ADD COLUMN tags text[] COLLATE "C";

DO $$
BEGIN
    EXECUTE 'ALTER TABLE audit_events ALTER COLUMN tags SET COMPRESSION lz4';
EXCEPTION
    WHEN feature_not_supported OR syntax_error OR invalid_parameter_value THEN
        RAISE NOTICE 'lz4 compression is not available; audit tags keep pglz';
END
$$;
