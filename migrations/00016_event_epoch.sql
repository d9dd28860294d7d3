-- Event positions that survive a failover (docs/ha.md). Every event row
-- records the epoch of the history it was written on: the timeline of the
-- primary that wrote it. A promotion starts a new timeline, so the rows a
-- new primary writes carry a new epoch even where it hands out again the
-- xids and ids of transactions the old primary committed but never shipped
-- (asynchronous replication). A reader resuming from a position checks
-- that the event it names is in the log with the same epoch; one that is
-- not (lost, or from another database) gets a reset, never a silent skip
-- or a duplicate.

-- +goose Up
-- The timeline WAL is written on now. pg_walfile_name takes it from the
-- WAL insertion timeline, which a promotion changes at once (the timeline
-- of pg_control_checkpoint() lags until the next checkpoint). Only a
-- primary inserts events; pg_walfile_name fails during recovery.
-- +goose StatementBegin
CREATE FUNCTION event_epoch() RETURNS integer
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT ('x' || substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_insert_lsn()), 1, 8))::bit(32)::integer
$$;
-- +goose StatementEnd

-- Rows written before epochs keep 0 (a constant default: no table rewrite);
-- event ids of the older form "<xid>-<id>" name them.
ALTER TABLE events ADD COLUMN epoch integer NOT NULL DEFAULT 0;
ALTER TABLE events ALTER COLUMN epoch SET DEFAULT event_epoch();

-- Where an old epoch stops being resumable. A node that reconnects to a
-- new primary checks the events it recently served (live or from the log)
-- against the new primary's log; when one is missing — a transaction the
-- old primary committed but never shipped — it records that event's
-- position here, and every position of that epoch at or after it resets:
-- a reader there may have seen the lost event, even when its own last
-- event (a later xid that committed earlier) survived.
CREATE TABLE event_fences (
    epoch integer PRIMARY KEY,
    xid   xid8   NOT NULL,
    id    bigint NOT NULL
);

-- +goose Down
DROP TABLE event_fences;
ALTER TABLE events DROP COLUMN epoch;
DROP FUNCTION event_epoch();
