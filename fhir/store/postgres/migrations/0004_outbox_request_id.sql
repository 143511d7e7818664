-- The id of the API request that enqueued a delivery, forwarded to the
-- receiver as X-Request-ID. Additive: rows written before it have ''.

ALTER TABLE outbox ADD COLUMN request_id text NOT NULL DEFAULT '';
