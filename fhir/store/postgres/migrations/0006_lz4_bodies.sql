-- Resource bodies over about 2 KB (a navigation Task is 3 to 5 KB) are
-- compressed by TOAST. The default method, pglz, showed in profiles of
-- the create load (pglz_compress about 3% of all CPU); lz4 (PostgreSQL 14
-- and later, when the server was built with it, as the PGDG and Debian
-- packages are) is a cheaper compressor for a similar size. Only values written
-- from now on use it; both kinds are read transparently. On a server
-- without lz4 this changes nothing.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE resources ALTER COLUMN body SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE resource_history ALTER COLUMN body SET COMPRESSION lz4';
EXCEPTION
    WHEN feature_not_supported OR syntax_error OR invalid_parameter_value THEN
        RAISE NOTICE 'lz4 compression is not available; resource bodies keep pglz';
END
$$;
