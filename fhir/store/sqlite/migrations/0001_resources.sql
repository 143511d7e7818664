-- Current versions and version history of every resource; the SQLite twin
-- of the PostgreSQL schema, with the same semantics.
--
-- body is TEXT holding the exact bytes the codec wrote (decimals keep their
-- text: 1.50 stays 1.50). last_updated is integer Unix microseconds, so
-- ordering and _since/_at comparisons are exact at the precision both
-- stores keep. deleted is 0 or 1; a deleted version has no body.

CREATE TABLE resources (
    type         TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    version      INTEGER NOT NULL CHECK (version > 0),
    last_updated INTEGER NOT NULL,
    method       TEXT    NOT NULL CHECK (method IN ('POST', 'PUT', 'DELETE')),
    deleted      INTEGER NOT NULL CHECK (deleted IN (0, 1)),
    body         TEXT,
    PRIMARY KEY (type, id),
    CHECK (deleted = (body IS NULL))
);

CREATE TABLE resource_history (
    type         TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    version      INTEGER NOT NULL CHECK (version > 0),
    last_updated INTEGER NOT NULL,
    method       TEXT    NOT NULL CHECK (method IN ('POST', 'PUT', 'DELETE')),
    deleted      INTEGER NOT NULL CHECK (deleted IN (0, 1)),
    body         TEXT,
    PRIMARY KEY (type, id, version),
    CHECK (deleted = (body IS NULL))
);

-- System and type level _history, newest first, with _since and _at.
CREATE INDEX resource_history_last_updated ON resource_history (last_updated);
CREATE INDEX resource_history_type_last_updated ON resource_history (type, last_updated);
