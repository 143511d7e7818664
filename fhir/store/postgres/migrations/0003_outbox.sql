-- The delivery outbox: one row per outcome to send to a practice's clinical
-- system, written in the transaction that made the decision. Workers claim
-- rows with FOR UPDATE SKIP LOCKED, only the head of each Task's queue
-- (lowest seq not yet delivered), so one Task's outcomes go in order.
-- status 'in-flight' holds a lease until next_attempt_at; attempts fences a
-- worker whose lease ran out from overwriting a later claim.

CREATE TABLE outbox (
    id              bigserial   PRIMARY KEY,
    endpoint_key    text        NOT NULL,
    task_id         text        NOT NULL,
    seq             bigint      NOT NULL CHECK (seq > 0),
    payload         json        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'in-flight', 'delivered', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz,
    UNIQUE (task_id, seq)
);

-- What a claim scans: undelivered rows by due time, and per Task heads.
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status IN ('pending', 'in-flight');
CREATE INDEX outbox_open_task ON outbox (task_id, seq) WHERE status <> 'delivered';
CREATE INDEX outbox_dead ON outbox (created_at) WHERE status = 'dead';
