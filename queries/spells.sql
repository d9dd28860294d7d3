-- name: SpellCloseCurrent :exec
UPDATE spells
SET ended_at = greatest(clock_timestamp(), started_at), updated_at = greatest(clock_timestamp(), started_at)
WHERE agent_id = $1 AND ended_at IS NULL;

-- name: SpellGetCurrent :one
SELECT * FROM spells WHERE agent_id = $1 AND ended_at IS NULL;

-- name: SpellUpdateCurrentText :one
-- The current spell's text in place (PUT attributes' message).
UPDATE spells
SET message = sqlc.narg(message), reason_code = sqlc.narg(reason_code), updated_at = clock_timestamp()
WHERE agent_id = sqlc.arg(agent_id) AND ended_at IS NULL
RETURNING *;

-- name: SpellGetByID :one
SELECT sqlc.embed(spells), statuses.system_presence, statuses.is_away
FROM spells JOIN statuses ON statuses.id = spells.status_id
WHERE spells.id = $1;

-- name: SpellList :many
-- Spells overlapping the window [from, to); every filter is optional. The
-- window is spells_window (migrations/00013): it reads the window's months
-- only, and no window is the whole of history. Run planned per run
-- (db.spellList), so that the unset filters fold away.
SELECT sqlc.embed(spells), statuses.system_presence, statuses.is_away
FROM spells_window(coalesce(sqlc.narg(from_at)::timestamptz, '-infinity'),
                   coalesce(sqlc.narg(to_at)::timestamptz, 'infinity')) AS spells
JOIN statuses ON statuses.id = spells.status_id
WHERE spells.deleted_at IS NULL
  AND (sqlc.narg(agent_id)::text IS NULL OR spells.agent_id = sqlc.narg(agent_id))
  AND (sqlc.narg(status_id)::text IS NULL OR spells.status_id = sqlc.narg(status_id))
  AND (NOT sqlc.arg(current_only)::boolean OR spells.ended_at IS NULL)
  AND spells.id > sqlc.arg(after_id)::bigint
ORDER BY spells.id
LIMIT sqlc.arg(max_rows);

-- name: SpellListAll :many
-- SpellList without a window: the table itself, so that an agent's page is
-- a merge of the partitions' spells_agent_id_idx in id order that stops at
-- the limit (through spells_window's UNION ALL the planner sorted all of
-- the agent's spells). Same columns and arguments as SpellList.
SELECT sqlc.embed(spells), statuses.system_presence, statuses.is_away
FROM spells
JOIN statuses ON statuses.id = spells.status_id
WHERE spells.deleted_at IS NULL
  AND sqlc.narg(from_at)::timestamptz IS NULL AND sqlc.narg(to_at)::timestamptz IS NULL
  AND (sqlc.narg(agent_id)::text IS NULL OR spells.agent_id = sqlc.narg(agent_id))
  AND (sqlc.narg(status_id)::text IS NULL OR spells.status_id = sqlc.narg(status_id))
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

-- name: SpellBefore :one
-- The spell that ended where another one started (presence_change makes
-- them touch): the status an automatic busy spell replaced. Deleted spells and
-- statuses included; the service decides.
SELECT spells.status_id, spells.message, statuses.deleted_at AS status_deleted_at
FROM spells
JOIN statuses ON statuses.id = spells.status_id
WHERE spells.agent_id = sqlc.arg(agent_id)
  AND spells.started_at <= sqlc.arg(at)::timestamptz AND spells.ended_at = sqlc.arg(at)::timestamptz
ORDER BY spells.started_at DESC
LIMIT 1;

-- name: SpellFiguresLive :many
-- The capacity figures of current spells, up to now; closed spells carry
-- theirs (stored when they closed).
SELECT s.id, f.at_capacity_ms::bigint AS at_capacity_ms, f.idle_ms::bigint AS idle_ms,
       f.average_capacity::double precision AS average_capacity
FROM spells s
CROSS JOIN LATERAL spell_capacity_figures(s.agent_id, s.started_at, greatest(now(), s.started_at), s.configured_capacity) f
WHERE s.id = ANY(sqlc.arg(ids)::bigint[]) AND s.ended_at IS NULL;
