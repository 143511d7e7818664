-- Search index: one table per parameter type, holding the rows of the
-- CURRENT version of each live resource only (a write deletes the old rows
-- and inserts the new ones in the same statement as the resource row; a
-- deleted resource has none). Rows come from search.Extract through
-- sqlsearch.RowsOf; the SQL that reads them is built by fhir/store/sqlsearch
-- and is the same text in the SQLite store.
--
-- res_type, res_id and param keep the database's collation, as the
-- resources columns they are joined with do (mixing collations in one
-- comparison is an error). Value columns are COLLATE "C": ordering and
-- prefix ranges compare bytes, exactly as SQLite's BINARY does, so both
-- stores sort strings alike, and B-tree indexes serve starts-with ranges.
--
-- Dates are bigint Unix microseconds with the open ends at the extremes of
-- bigint (sqlsearch.Micros), so range tests need no NULL handling. Numbers
-- are numeric: exact decimals. Empty strings, not NULLs, stand for absent
-- text, except where a partial index wants NULL (reference targets and
-- logical identifiers).
--
-- There are no primary keys: rows are never addressed one by one, and the
-- statement that replaces a resource's rows deletes and inserts in one go,
-- which a unique constraint could make order-dependent.
--
-- Every table has (res_type, res_id, param ...) for the joins that test a
-- known resource (sort keys, :not, :missing, includes) and for the deletes;
-- the others serve the searches that find resources by value. Indexes end
-- in res_id (and carry the columns conditions test), so PostgreSQL answers
-- from the index alone: over 1,000,000 Tasks, the 2,000 of one practice
-- are one index range read without touching the table.
--
-- idx_reference.res_status is the status of the resource the row belongs
-- to (sqlsearch.Rows.Status): worklists ask for a reference and a status
-- together (owner=X&status=requested), and the reference index then
-- answers both, instead of testing the status of each of the practice's
-- Tasks one probe at a time. res_date_low and res_date_high are the
-- resource's worklist date (Task authored-on ...; sqlsearch.WorklistDate)
-- as its ascending and descending sort values, so "newest first" sorts the
-- index entries instead of looking up each candidate's date.

CREATE TABLE idx_token (
    res_type    text NOT NULL,
    res_id      text NOT NULL,
    param       text NOT NULL,
    system      text COLLATE "C" NOT NULL,
    code        text COLLATE "C" NOT NULL,
    text        text COLLATE "C" NOT NULL,
    type_system text COLLATE "C" NOT NULL,
    type_code   text COLLATE "C" NOT NULL
);
CREATE INDEX idx_token_resource ON idx_token (res_type, res_id, param, code, system);
-- code first: a code alone (the usual search) and system|code both use it.
CREATE INDEX idx_token_code ON idx_token (res_type, param, code, system, res_id);
-- :text; only codings with a display and concepts with a text have one.
CREATE INDEX idx_token_text ON idx_token (res_type, param, text, res_id) WHERE text <> '';

CREATE TABLE idx_string (
    res_type text NOT NULL,
    res_id   text NOT NULL,
    param    text NOT NULL,
    value    text COLLATE "C" NOT NULL, -- search.NormalizeString, cut
    exact    text NOT NULL              -- as written, for :exact
);
CREATE INDEX idx_string_resource ON idx_string (res_type, res_id, param, value);
CREATE INDEX idx_string_value ON idx_string (res_type, param, value, res_id);

CREATE TABLE idx_reference (
    res_type    text NOT NULL,
    res_id      text NOT NULL,
    param       text NOT NULL,
    base        text COLLATE "C" NOT NULL, -- '' for a relative reference
    target_type text,                      -- NULL unless Type/id or Reference.type
    target_id   text,                      -- NULL unless the reference is Type/id shaped
    version     text COLLATE "C" NOT NULL,
    url         text COLLATE "C" NOT NULL, -- as written; canonical without |version
    id_system   text COLLATE "C" NOT NULL,
    id_value    text COLLATE "C",          -- NULL unless a logical reference
    res_status  text COLLATE "C",          -- the referring resource's status (sqlsearch.Rows.Status)
    res_date_low  bigint,                  -- and its worklist date (sqlsearch.Rows.DateLow)
    res_date_high bigint
);
CREATE INDEX idx_reference_resource ON idx_reference (res_type, res_id, param);
-- target_id first: Type/id, a bare id with any type, _revinclude and
-- chains all know it; res_type and param narrow it.
CREATE INDEX idx_reference_target ON idx_reference (target_id, target_type, res_type, param, base, res_status, res_id, res_date_low, res_date_high) WHERE target_id IS NOT NULL;
CREATE INDEX idx_reference_identifier ON idx_reference (id_value, res_type, param, id_system, res_status, res_id, res_date_low, res_date_high) WHERE id_value IS NOT NULL;
-- canonicals, urn:uuid: and other references matched on their text.
CREATE INDEX idx_reference_url ON idx_reference (url, res_type, param, version, res_id) WHERE target_id IS NULL AND id_value IS NULL;

CREATE TABLE idx_date (
    res_type text   NOT NULL,
    res_id   text   NOT NULL,
    param    text   NOT NULL,
    low      bigint NOT NULL,
    high     bigint NOT NULL
);
-- low and high included so sort keys are read from the index alone.
CREATE INDEX idx_date_resource ON idx_date (res_type, res_id, param, low, high);
CREATE INDEX idx_date_range ON idx_date (res_type, param, low, high, res_id);

CREATE TABLE idx_number (
    res_type text    NOT NULL,
    res_id   text    NOT NULL,
    param    text    NOT NULL,
    value    numeric NOT NULL,
    low      numeric NOT NULL,
    high     numeric NOT NULL
);
CREATE INDEX idx_number_resource ON idx_number (res_type, res_id, param);
CREATE INDEX idx_number_value ON idx_number (res_type, param, low, high, res_id);

CREATE TABLE idx_quantity (
    res_type text    NOT NULL,
    res_id   text    NOT NULL,
    param    text    NOT NULL,
    value    numeric,          -- NULL for a Range
    low      numeric,          -- NULL for an open end of a Range
    high     numeric,
    system   text COLLATE "C" NOT NULL,
    code     text COLLATE "C" NOT NULL,
    unit     text COLLATE "C" NOT NULL
);
CREATE INDEX idx_quantity_resource ON idx_quantity (res_type, res_id, param);
CREATE INDEX idx_quantity_value ON idx_quantity (res_type, param, low, high, res_id);

CREATE TABLE idx_uri (
    res_type text NOT NULL,
    res_id   text NOT NULL,
    param    text NOT NULL,
    value    text COLLATE "C" NOT NULL
);
CREATE INDEX idx_uri_resource ON idx_uri (res_type, res_id, param, value);
CREATE INDEX idx_uri_value ON idx_uri (res_type, param, value, res_id);

-- The default sort (_lastUpdated, newest first) and _lastUpdated filters.
CREATE INDEX resources_type_last_updated ON resources (type, last_updated, id);
