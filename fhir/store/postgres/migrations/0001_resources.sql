-- Current versions and version history of every resource.
--
-- Bodies are `json`, not `jsonb`, on purpose. jsonb stores a parsed binary
-- form and gives back its own rendering: numbers become numeric values
-- (1.0e2 comes back as 100, -0.0 as 0), member order changes and duplicate
-- members are dropped. FHIR decimals carry their precision in their text
-- (1.50 is not 1.5), and the store must return exactly the bytes the codec
-- wrote. `json` checks the text is valid JSON and keeps it as it is.
-- Anything that needs to query inside a body (search) uses index rows
-- written in the same transaction, not the body.
--
-- A deleted version has no body; method is the interaction that made the
-- version (POST, PUT, DELETE), kept on the current row too so a read needs
-- one lookup.

CREATE TABLE resources (
    type         text        NOT NULL,
    id           text        NOT NULL,
    version      bigint      NOT NULL CHECK (version > 0),
    last_updated timestamptz NOT NULL,
    method       text        NOT NULL CHECK (method IN ('POST', 'PUT', 'DELETE')),
    deleted      boolean     NOT NULL,
    body         json,
    PRIMARY KEY (type, id),
    CHECK (deleted = (body IS NULL))
);

CREATE TABLE resource_history (
    type         text        NOT NULL,
    id           text        NOT NULL,
    version      bigint      NOT NULL CHECK (version > 0),
    last_updated timestamptz NOT NULL,
    method       text        NOT NULL CHECK (method IN ('POST', 'PUT', 'DELETE')),
    deleted      boolean     NOT NULL,
    body         json,
    PRIMARY KEY (type, id, version),
    CHECK (deleted = (body IS NULL))
);

-- System and type level _history, newest first, with _since and _at.
CREATE INDEX resource_history_last_updated ON resource_history (last_updated);
CREATE INDEX resource_history_type_last_updated ON resource_history (type, last_updated);
