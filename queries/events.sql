-- name: EventListAfter :many
-- The next events after a position, only below the snapshot's xmin: every
-- transaction there has ended, so nothing can still appear before the last
-- row returned. Row comparison on (xid, id) walks the primary key.
SELECT epoch, xid::text::bigint AS xid, id, topic, kind, at, body
FROM events
WHERE (xid, id) > (sqlc.arg(after_xid)::bigint::text::xid8, sqlc.arg(after_id)::bigint)
  AND xid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY xid, id
LIMIT sqlc.arg(max_rows);

-- name: EventListVisibleAfter :many
-- The listener's read, one statement for one snapshot: the next final
-- events after a position (below the snapshot's xmin, where every
-- transaction has ended), then at most one visible event at or above
-- xmin, which says that committed events are held back behind an older
-- open transaction. Each row carries that xmin as horizon. Only one held
-- row: behind a long transaction (a big batch, a sweep) every doorbell
-- would otherwise fetch the whole held-back page again.
SELECT r.epoch, r.xid, r.id, r.topic, r.kind, r.at, r.body, r.horizon
FROM (
    (SELECT e.epoch, e.xid::text::bigint AS xid, e.id, e.topic, e.kind, e.at, e.body,
            pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon
     FROM events e
     WHERE (e.xid, e.id) > (sqlc.arg(after_xid)::bigint::text::xid8, sqlc.arg(after_id)::bigint)
       AND e.xid < pg_snapshot_xmin(pg_current_snapshot())
     ORDER BY e.xid, e.id
     LIMIT sqlc.arg(max_rows))
    UNION ALL
    (SELECT e.epoch, e.xid::text::bigint AS xid, e.id, e.topic, e.kind, e.at, e.body,
            pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon
     FROM events e
     -- Not also "after the position": that position is below an earlier
     -- snapshot's xmin, and xmin never goes back, so every row here is
     -- after it anyway; and a row comparison here would make the index
     -- scan start at the position and walk every final row after it (a
     -- reader far behind would pay that on every page).
     WHERE e.xid >= pg_snapshot_xmin(pg_current_snapshot())
     ORDER BY e.xid, e.id
     LIMIT 1)
) r
ORDER BY r.xid, r.id;

-- name: EventHead :one
-- The newest final position; no row when the log is empty.
-- Ordered by the columns, not by the output alias xid (xid::text::bigint),
-- which no index has: that was a sort of the whole log.
SELECT epoch, xid::text::bigint AS xid, id FROM events
WHERE events.xid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY events.xid DESC, events.id DESC
LIMIT 1;

-- name: EventPrunedThrough :one
-- Where pruning has cut the log, in the epoch the next event gets: the
-- head of a log pruned empty.
SELECT event_epoch() AS epoch, pruned_xid::text::bigint AS xid, pruned_id AS id FROM event_log_state;

-- name: EventResumeCheck :one
-- Where pruning has cut the log, whether the event a reader resumes after
-- is in the log with the epoch it was read with (if not, it was lost in a
-- failover, or comes from another database), and whether its epoch is
-- fenced at or before it (it may have seen a lost event before it). Either
-- way the reader must reset.
SELECT s.pruned_xid::text::bigint AS pruned_xid, s.pruned_id,
       EXISTS (SELECT FROM events e
               WHERE e.xid = sqlc.arg(after_xid)::bigint::text::xid8 AND e.id = sqlc.arg(after_id)::bigint
                 AND e.epoch = sqlc.arg(epoch)::integer) AS on_history,
       EXISTS (SELECT FROM event_fences f
               WHERE f.epoch = sqlc.arg(epoch)::integer
                 AND (f.xid, f.id) <= (sqlc.arg(after_xid)::bigint::text::xid8, sqlc.arg(after_id)::bigint)) AS fenced
FROM event_log_state s;

-- name: EventFirstMissing :many
-- Of the given positions, the first one (in log order) that is not in the
-- log with its epoch, and not pruned: the first lost event.
SELECT p.epoch::integer AS epoch, p.xid::bigint AS xid, p.id::bigint AS id
FROM (SELECT unnest(sqlc.arg(epochs)::integer[]) AS epoch, unnest(sqlc.arg(xids)::bigint[]) AS xid,
             unnest(sqlc.arg(ids)::bigint[]) AS id) p
CROSS JOIN event_log_state s
WHERE (p.xid::text::xid8, p.id) > (s.pruned_xid, s.pruned_id)
  AND NOT EXISTS (SELECT FROM events e
                  WHERE e.xid = p.xid::text::xid8 AND e.id = p.id AND e.epoch = p.epoch)
ORDER BY p.xid, p.id
LIMIT 1;

-- name: EventFenceMark :exec
-- An internal event (a channel topic no channel has: no stream gets it)
-- written with a fence, in the new epoch: the log's head is then past
-- every fenced position, so that a reset, which resumes from the head,
-- does not land on a fenced position itself.
SELECT event_append('channels.failover', 'failover',
    jsonb_build_object('fenced_epoch', sqlc.arg(epoch)::integer, 'xid', sqlc.arg(xid)::bigint, 'id', sqlc.arg(id)::bigint));

-- name: EventFenceSet :exec
-- Fences an epoch at a lost event's position, or earlier if it already is.
INSERT INTO event_fences (epoch, xid, id)
VALUES (sqlc.arg(epoch)::integer, sqlc.arg(xid)::bigint::text::xid8, sqlc.arg(id)::bigint)
ON CONFLICT (epoch) DO UPDATE SET xid = excluded.xid, id = excluded.id
WHERE (excluded.xid, excluded.id) < (event_fences.xid, event_fences.id);

-- name: EventPruneCut :one
-- The newest final position of an event older than the cutoff: the log is
-- cut in position order, so a reader is either before the cut (reset) or
-- after it (complete).
-- The events older than the cutoff come first, by events_at_idx (those
-- since the last round: a minute's worth), then the newest of them by
-- position, sorted by the columns (not the output alias). As one query the
-- planner walked the primary key backwards from the head, through every
-- event kept (7 days of them), when it misjudged how the cutoff falls.
WITH old AS MATERIALIZED (
    SELECT e.xid, e.id FROM events e WHERE e.at < sqlc.arg(cutoff)
)
SELECT old.xid::text::bigint AS xid, old.id FROM old
WHERE old.xid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY old.xid DESC, old.id DESC
LIMIT 1;

-- name: EventPrune :execrows
DELETE FROM events
WHERE (xid, id) <= (sqlc.arg(cut_xid)::bigint::text::xid8, sqlc.arg(cut_id)::bigint);

-- name: EventSetPrunedThrough :exec
UPDATE event_log_state
SET pruned_xid = sqlc.arg(cut_xid)::bigint::text::xid8, pruned_id = sqlc.arg(cut_id)::bigint
WHERE (pruned_xid, pruned_id) < (sqlc.arg(cut_xid)::bigint::text::xid8, sqlc.arg(cut_id)::bigint);

-- name: EventLag :one
-- How far a reader at a position is behind the final log: the events after
-- it, counted up to max_rows so that a metrics scrape stays cheap however
-- far behind, and the age of the oldest of them by the database's clock
-- (the clock that stamped them); 0 and 0 when it is caught up.
SELECT count(*)::bigint AS events,
       COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(e.at)), 0)::float8 AS age_seconds
FROM (
    SELECT at FROM events
    WHERE (xid, id) > (sqlc.arg(after_xid)::bigint::text::xid8, sqlc.arg(after_id)::bigint)
      AND xid < pg_snapshot_xmin(pg_current_snapshot())
    ORDER BY xid, id
    LIMIT sqlc.arg(max_rows)
) e;

-- name: EventEpoch :one
-- The epoch events written now get: the primary's timeline.
SELECT event_epoch()::integer AS epoch;
