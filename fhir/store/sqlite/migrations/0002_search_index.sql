-- Search index: the SQLite twin of the PostgreSQL tables (see
-- ../../postgres/migrations/0002_search_index.sql for the reasoning). The
-- SQL that reads them is the same text in both stores (fhir/store/sqlsearch).
--
-- Text compares with SQLite's default BINARY collation, byte by byte, as
-- the PostgreSQL value columns do with COLLATE "C". Dates are INTEGER Unix
-- microseconds with the open ends at the extremes of int64. Numbers are
-- REAL: float64, so a value with more than 15 significant digits may
-- compare one rounding step away from PostgreSQL's exact numeric.

CREATE TABLE idx_token (
    res_type    TEXT NOT NULL,
    res_id      TEXT NOT NULL,
    param       TEXT NOT NULL,
    system      TEXT NOT NULL,
    code        TEXT NOT NULL,
    text        TEXT NOT NULL,
    type_system TEXT NOT NULL,
    type_code   TEXT NOT NULL
);
CREATE INDEX idx_token_resource ON idx_token (res_type, res_id, param, code, system);
CREATE INDEX idx_token_code ON idx_token (res_type, param, code, system, res_id);
CREATE INDEX idx_token_text ON idx_token (res_type, param, text, res_id) WHERE text <> '';

CREATE TABLE idx_string (
    res_type TEXT NOT NULL,
    res_id   TEXT NOT NULL,
    param    TEXT NOT NULL,
    value    TEXT NOT NULL,
    exact    TEXT NOT NULL
);
CREATE INDEX idx_string_resource ON idx_string (res_type, res_id, param, value);
CREATE INDEX idx_string_value ON idx_string (res_type, param, value, res_id);

CREATE TABLE idx_reference (
    res_type    TEXT NOT NULL,
    res_id      TEXT NOT NULL,
    param       TEXT NOT NULL,
    base        TEXT NOT NULL,
    target_type TEXT,
    target_id   TEXT,
    version     TEXT NOT NULL,
    url         TEXT NOT NULL,
    id_system   TEXT NOT NULL,
    id_value    TEXT,
    res_status  TEXT,
    res_date_low  INTEGER,
    res_date_high INTEGER
);
CREATE INDEX idx_reference_resource ON idx_reference (res_type, res_id, param);
CREATE INDEX idx_reference_target ON idx_reference (target_id, target_type, res_type, param, base, res_status, res_id, res_date_low, res_date_high) WHERE target_id IS NOT NULL;
CREATE INDEX idx_reference_identifier ON idx_reference (id_value, res_type, param, id_system, res_status, res_id, res_date_low, res_date_high) WHERE id_value IS NOT NULL;
CREATE INDEX idx_reference_url ON idx_reference (url, res_type, param, version, res_id) WHERE target_id IS NULL AND id_value IS NULL;

CREATE TABLE idx_date (
    res_type TEXT    NOT NULL,
    res_id   TEXT    NOT NULL,
    param    TEXT    NOT NULL,
    low      INTEGER NOT NULL,
    high     INTEGER NOT NULL
);
CREATE INDEX idx_date_resource ON idx_date (res_type, res_id, param, low, high);
CREATE INDEX idx_date_range ON idx_date (res_type, param, low, high, res_id);

CREATE TABLE idx_number (
    res_type TEXT NOT NULL,
    res_id   TEXT NOT NULL,
    param    TEXT NOT NULL,
    value    REAL NOT NULL,
    low      REAL NOT NULL,
    high     REAL NOT NULL
);
CREATE INDEX idx_number_resource ON idx_number (res_type, res_id, param);
CREATE INDEX idx_number_value ON idx_number (res_type, param, low, high, res_id);

CREATE TABLE idx_quantity (
    res_type TEXT NOT NULL,
    res_id   TEXT NOT NULL,
    param    TEXT NOT NULL,
    value    REAL,
    low      REAL,
    high     REAL,
    system   TEXT NOT NULL,
    code     TEXT NOT NULL,
    unit     TEXT NOT NULL
);
CREATE INDEX idx_quantity_resource ON idx_quantity (res_type, res_id, param);
CREATE INDEX idx_quantity_value ON idx_quantity (res_type, param, low, high, res_id);

CREATE TABLE idx_uri (
    res_type TEXT NOT NULL,
    res_id   TEXT NOT NULL,
    param    TEXT NOT NULL,
    value    TEXT NOT NULL
);
CREATE INDEX idx_uri_resource ON idx_uri (res_type, res_id, param, value);
CREATE INDEX idx_uri_value ON idx_uri (res_type, param, value, res_id);

CREATE INDEX resources_type_last_updated ON resources (type, last_updated, id);
