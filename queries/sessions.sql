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

-- name: SessionBeat :execrows
-- The heartbeat fast path: one statement that moves last_beat_at of a live
-- session whose idle flag stays as it is. It names no column that the
-- state trigger watches, so it fires nothing (no event, no NOTIFY) and,
-- last_beat_at being in no index, it is a HOT update. set_config(..., true)
-- is SET LOCAL synchronous_commit = off for this statement's own implicit
-- transaction, in the same round trip: the commit does not wait for the
-- WAL flush. A crash may lose the last few hundred milliseconds of beats,
-- which the next beat rewrites anyway; nothing else is written here. Zero
-- rows means the slow path: the session is unknown, ended or lost, or the
-- beat changes its idle flag.
WITH async AS (SELECT set_config('synchronous_commit', 'off', true) AS setting)
UPDATE sessions
SET last_beat_at = now()
FROM async
WHERE sessions.id = sqlc.arg(id)
  AND sessions.ended_at IS NULL
  AND NOT sessions.lost
  AND (sqlc.narg(idle)::boolean IS NULL OR sessions.idle = sqlc.narg(idle)::boolean)
  AND async.setting = 'off';

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
