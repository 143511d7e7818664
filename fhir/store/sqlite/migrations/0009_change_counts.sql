-- Change counters (store.ChangeCounter), as the PostgreSQL store keeps
-- them (../../postgres/migrations/0008_change_counters.sql): the number of
-- versions of a watched type committed. The directory cache compares
-- HealthcareService's before each use, and the gateway keeps the active
-- Subscriptions while Subscription's stays, instead of searching them on
-- every Task write. SQLite has one writer at a time, so one row per type
-- is enough; Tx.Changes tells a value its own group has not yet
-- committed from a committed one (changes.go).
CREATE TABLE change_counts (
    type TEXT    PRIMARY KEY,
    n    INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO change_counts (type, n) VALUES ('HealthcareService', 0), ('Subscription', 0);

CREATE TRIGGER resource_history_count_change
    AFTER INSERT ON resource_history
    FOR EACH ROW WHEN NEW.type IN ('HealthcareService', 'Subscription')
BEGIN
    UPDATE change_counts SET n = n + 1 WHERE type = NEW.type;
END;
