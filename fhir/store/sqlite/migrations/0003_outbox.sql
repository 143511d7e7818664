-- The delivery outbox; the SQLite twin of the PostgreSQL table (times are
-- integer Unix microseconds, 0 for none). The single writer serialises
-- claims, so no row locking is needed.

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_key    TEXT    NOT NULL,
    task_id         TEXT    NOT NULL,
    seq             INTEGER NOT NULL CHECK (seq > 0),
    payload         TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'in-flight', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (task_id, seq)
);

CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status IN ('pending', 'in-flight');
CREATE INDEX outbox_open_task ON outbox (task_id, seq) WHERE status <> 'delivered';
CREATE INDEX outbox_dead ON outbox (created_at) WHERE status = 'dead';
