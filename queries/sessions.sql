-- name: SessionOpen :one
INSERT INTO sessions (agent_id, client) VALUES ($1, $2)
RETURNING *;

-- name: SessionGetByID :one
SELECT * FROM sessions WHERE id = $1;

-- name: SessionListOpen :many
-- An agent's open sessions, oldest first.
SELECT * FROM sessions
WHERE agent_id = $1 AND ended_at IS NULL
ORDER BY started_at, id;

-- name: SessionCountLive :one
-- Open sessions that still beat. Zero means the agent is logged out or
-- every client of it went silent.
SELECT count(*) FROM sessions
WHERE agent_id = $1 AND ended_at IS NULL AND NOT lost;

-- name: SessionCountOpen :one
SELECT count(*) FROM sessions
WHERE agent_id = $1 AND ended_at IS NULL;

-- name: SessionBeatMany :many
-- The heartbeat fast path for a batch of beats that arrived together (see
-- db/heartbeats.go): one statement moves last_beat_at of every live session
-- whose idle flag stays as the beat says, and returns their ids. It names no
-- column the state trigger watches, so it fires nothing (no event, no
-- NOTIFY), and last_beat_at being in no index, each row is a HOT update.
-- set_config(..., true) is SET LOCAL synchronous_commit = off for this
-- statement's own implicit transaction, in the same round trip: the commit
-- does not wait for the WAL flush; a crash may lose the last fraction of a
-- second of beats, which the next beats rewrite, and nothing else is
-- written here. SKIP LOCKED: a row another transaction holds (a sweep, a
-- slow-path beat, another batch) is left to the slow path, so two batches
-- can never deadlock. A beat whose id is not returned takes the slow path:
-- unknown, ended or lost session, idle flag to change, or skipped.
WITH async AS (SELECT set_config('synchronous_commit', 'off', true) AS setting),
beat AS (
    SELECT s.id
    FROM sessions s
    JOIN (SELECT unnest(sqlc.arg(ids)::text[]) AS id,
                 unnest(sqlc.arg(idle_given)::boolean[]) AS idle_given,
                 unnest(sqlc.arg(idle)::boolean[]) AS idle) b ON s.id = b.id
    WHERE s.ended_at IS NULL AND NOT s.lost
      AND (NOT b.idle_given OR s.idle = b.idle)
    FOR UPDATE OF s SKIP LOCKED
)
UPDATE sessions
SET last_beat_at = now()
FROM async, beat
WHERE sessions.id = beat.id AND async.setting = 'off'
RETURNING sessions.id;

-- name: SessionBeatChange :one
-- The heartbeat slow path, under the agent's row lock: the beat revives a
-- lost session or changes its idle flag, and the state trigger runs.
UPDATE sessions
SET last_beat_at = now(), lost = false, idle = coalesce(sqlc.narg(idle)::boolean, idle)
WHERE id = sqlc.arg(id) AND ended_at IS NULL
RETURNING *;

-- name: SessionEnd :one
UPDATE sessions
SET ended_at = greatest(now(), started_at), end_reason = sqlc.arg(end_reason)
WHERE id = sqlc.arg(id) AND ended_at IS NULL
RETURNING *;

-- name: SessionEndAllOfAgent :execrows
-- Ends every open session of the agent (the last live one logged out, or
-- the agent was deleted).
UPDATE sessions
SET ended_at = greatest(now(), started_at), end_reason = sqlc.arg(end_reason)
WHERE agent_id = sqlc.arg(agent_id) AND ended_at IS NULL;

-- name: SessionStaleAgents :many
-- The sweeper's candidates: agents with a live session whose last beat is
-- older than the threshold, in id order for AgentLockByIDs. A scan of the
-- open sessions through sessions_open_idx; ended ones are not in it.
SELECT DISTINCT agent_id FROM sessions
WHERE ended_at IS NULL AND NOT lost
  AND last_beat_at < now() - sqlc.arg(stale_after_ms)::bigint * interval '1 millisecond'
ORDER BY agent_id
LIMIT sqlc.arg(max_rows);

-- name: SessionMarkLost :execrows
-- Under the row locks of these agents. A beat that committed since the
-- candidates were read moved last_beat_at, so the re-checked condition
-- skips its session.
UPDATE sessions
SET lost = true
WHERE agent_id = ANY(sqlc.arg(agent_ids)::text[])
  AND ended_at IS NULL AND NOT lost
  AND last_beat_at < now() - sqlc.arg(stale_after_ms)::bigint * interval '1 millisecond';
