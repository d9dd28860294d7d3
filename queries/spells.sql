-- name: SpellChange :one
-- Closes the current spell (if any) and opens the next one in one statement,
-- so the two share one timestamp and spells stay contiguous. The caller holds
-- the agent's row lock (AgentLockByID), so clock_timestamp() here is later
-- than the start of any spell a committed change wrote; greatest() still
-- guards against a clock that steps back. at, when given, is the instant of
-- the change instead (an automatic change takes that of the work change
-- that caused it, earlier in the same transaction).
WITH closed AS (
    UPDATE spells
    SET ended_at = greatest(coalesce(sqlc.narg(at)::timestamptz, clock_timestamp()), started_at),
        updated_at = greatest(coalesce(sqlc.narg(at)::timestamptz, clock_timestamp()), started_at)
    WHERE agent_id = sqlc.arg(agent_id) AND ended_at IS NULL
    RETURNING ended_at
)
INSERT INTO spells (agent_id, status_id, source, reason_code, message, started_at, updated_at)
SELECT sqlc.arg(agent_id), sqlc.arg(status_id), sqlc.arg(source),
       sqlc.narg(reason_code), sqlc.narg(message), t.at, t.at
FROM (SELECT coalesce((SELECT ended_at FROM closed), sqlc.narg(at)::timestamptz, clock_timestamp()) AS at) t
RETURNING *;

-- name: SpellCloseCurrent :exec
UPDATE spells
SET ended_at = greatest(clock_timestamp(), started_at), updated_at = greatest(clock_timestamp(), started_at)
WHERE agent_id = $1 AND ended_at IS NULL;

-- name: SpellGetCurrent :one
SELECT * FROM spells WHERE agent_id = $1 AND ended_at IS NULL;

-- name: SpellUpdateCurrentText :one
-- Same status again with another message or reason: no new spell.
UPDATE spells
SET message = sqlc.narg(message), reason_code = sqlc.narg(reason_code), updated_at = clock_timestamp()
WHERE agent_id = sqlc.arg(agent_id) AND ended_at IS NULL
RETURNING *;

-- name: SpellGetByID :one
SELECT sqlc.embed(spells), statuses.system_presence, statuses.is_away
FROM spells JOIN statuses ON statuses.id = spells.status_id
WHERE spells.id = $1;

-- name: SpellList :many
-- Spells overlapping the window [from, to); every filter is optional.
SELECT sqlc.embed(spells), statuses.system_presence, statuses.is_away
FROM spells JOIN statuses ON statuses.id = spells.status_id
WHERE spells.deleted_at IS NULL
  AND (sqlc.narg(agent_id)::text IS NULL OR spells.agent_id = sqlc.narg(agent_id))
  AND (sqlc.narg(status_id)::text IS NULL OR spells.status_id = sqlc.narg(status_id))
  AND (sqlc.narg(from_at)::timestamptz IS NULL OR spells.ended_at IS NULL OR spells.ended_at > sqlc.narg(from_at))
  AND (sqlc.narg(to_at)::timestamptz IS NULL OR spells.started_at < sqlc.narg(to_at))
  AND (NOT sqlc.arg(current_only)::boolean OR spells.ended_at IS NULL)
  AND spells.id > sqlc.arg(after_id)::bigint
ORDER BY spells.id
LIMIT sqlc.arg(max_rows);

-- name: SpellSoftDelete :exec
UPDATE spells SET deleted_at = now(), updated_at = now() WHERE id = $1;

-- name: SpellRestore :one
UPDATE spells SET deleted_at = NULL, updated_at = now() WHERE id = $1
RETURNING *;

-- name: SpellListUpdated :many
SELECT id, agent_id, updated_at FROM spells
WHERE updated_at >= sqlc.arg(start_at) AND updated_at < sqlc.arg(end_at)
  AND (updated_at, id) > (sqlc.arg(after_at)::timestamptz, sqlc.arg(after_id)::bigint)
ORDER BY updated_at, id
LIMIT sqlc.arg(max_rows);

-- name: SpellListDeleted :many
SELECT id, agent_id, deleted_at::timestamptz AS deleted_at FROM spells
WHERE deleted_at >= sqlc.arg(start_at) AND deleted_at < sqlc.arg(end_at)
  AND (deleted_at, id) > (sqlc.arg(after_at)::timestamptz, sqlc.arg(after_id)::bigint)
ORDER BY deleted_at, id
LIMIT sqlc.arg(max_rows);

-- name: PresenceLock :one
-- The agent's row lock and whether the wanted status exists, in one round
-- trip. The current spell must NOT be joined here: when FOR UPDATE waits
-- for another transaction, READ COMMITTED re-checks only the locked row
-- and would hand back the other tables' rows as they were before the wait
-- (a stale current spell). It is read by the next statement, which sees
-- the committed change.
SELECT a.deleted_at AS agent_deleted_at,
       EXISTS (SELECT 1 FROM statuses st WHERE st.id = sqlc.arg(status_id) AND st.deleted_at IS NULL) AS status_usable
FROM agents a
WHERE a.id = sqlc.arg(agent_id)
FOR UPDATE OF a;
