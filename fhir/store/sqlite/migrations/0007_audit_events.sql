-- The audit log: AuditEvents in tables of their own, as the PostgreSQL
-- store keeps them (see fhir/store/sqlsearch/audit.go and
-- ../../postgres/migrations/0007_audit_events.sql). They are written on
-- every access to patient data, never changed and never deleted, and
-- rarely searched, so they keep no history rows and no rows in the index
-- tables. In the general tables an AuditEvent cost a resources row and a
-- history row (its body twice) and about 22 index rows in some 50 B-tree
-- entries, each in a page of its own; here it is one row and its terms.
--
-- seq is the order of writing. The terms (sqlsearch.AuditRowOf) are rows
-- of audit_terms keyed by (term, seq), so the terms many events share
-- (the practice, the action, the subtype) are appended at the end of
-- their range, and a group of events written in one transaction dirties
-- the same few pages. tags holds the terms no index covers, as a JSON
-- array, tested on the rows the terms and times select. recorded_low and
-- recorded_high are the date parameter (AuditEvent.recorded) as Unix
-- microseconds, as idx_date holds dates. Every row is version 1, created
-- with POST. AuditEvents written before these tables existed are moved
-- into them when the store opens.
CREATE TABLE audit_events (
    seq           INTEGER PRIMARY KEY,
    id            TEXT    NOT NULL UNIQUE,
    last_updated  INTEGER NOT NULL,
    recorded_low  INTEGER NOT NULL,
    recorded_high INTEGER NOT NULL,
    body          TEXT    NOT NULL,
    tags          TEXT    NOT NULL
);
-- history and the default newest-first order
CREATE INDEX audit_events_last_updated ON audit_events (last_updated, id);
-- date= searches and sorts
CREATE INDEX audit_events_recorded ON audit_events (recorded_low, recorded_high);

CREATE TABLE audit_terms (
    term TEXT    NOT NULL,
    seq  INTEGER NOT NULL,
    PRIMARY KEY (term, seq)
) WITHOUT ROWID;
