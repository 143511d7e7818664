-- Keys the gateway generates for itself (the key that seals Endpoint and
-- Subscription header values when no SIGNPOST_SECRETS_KEY is configured),
-- kept apart from resources, their history and search index.
CREATE TABLE secret_keys (
    name text  PRIMARY KEY,
    key  bytea NOT NULL
);
