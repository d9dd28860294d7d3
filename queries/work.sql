-- name: WorkAssign :one
-- Every statement that changes an item runs under its agent's row lock
-- (AgentLockByID). A duplicate id violates work_items_pkey: the service
-- answers work_exists.
INSERT INTO work_items (id, agent_id, channel, units, interruptible)
VALUES (coalesce(sqlc.narg(id)::text, gen_random_uuid()::text), sqlc.arg(agent_id),
        sqlc.arg(channel), sqlc.arg(units), sqlc.arg(interruptible))
RETURNING *;

-- name: AgentLockByWork :one
-- The row lock of the agent a work item belongs to, in one round trip: an
-- item never moves to another agent, so reading its agent_id in the
-- statement's snapshot is safe. No row: unknown item.
SELECT agents.* FROM agents
WHERE agents.id = (SELECT work_items.agent_id FROM work_items WHERE work_items.id = $1)
FOR UPDATE;

-- name: WorkGetByID :one
SELECT * FROM work_items WHERE id = $1;

-- name: WorkListOpen :many
-- An agent's open items, oldest first.
SELECT * FROM work_items
WHERE agent_id = $1 AND closed_at IS NULL
ORDER BY assigned_at, id
LIMIT sqlc.arg(max_rows);

-- name: WorkClose :one
-- No row: closed already (perhaps by a concurrent close or release).
UPDATE work_items
SET closed_at = greatest(clock_timestamp(), assigned_at),
    close_reason = sqlc.arg(close_reason), reason_code = sqlc.narg(reason_code)
WHERE id = sqlc.arg(id) AND closed_at IS NULL
RETURNING *;

-- name: WorkCloseAllOfAgent :execrows
-- The agent is being deleted.
UPDATE work_items
SET closed_at = greatest(clock_timestamp(), assigned_at), close_reason = 'agent_deleted'
WHERE agent_id = $1 AND closed_at IS NULL;

-- name: WorkAgentState :one
-- What the capacity rules decide on, read after the agent's row lock in a
-- statement of its own (see PresenceLock for why it cannot share the
-- locking statement): the units in use of the open items, and the current
-- spell with its system presence (null fields: no spell yet).
SELECT (SELECT coalesce(sum(w.units), 0) FROM work_items w
         WHERE w.agent_id = sqlc.arg(agent_id) AND w.closed_at IS NULL AND NOT w.interruptible)::integer AS primary_in_use,
       (SELECT coalesce(sum(w.units), 0) FROM work_items w
         WHERE w.agent_id = sqlc.arg(agent_id) AND w.closed_at IS NULL AND w.interruptible)::integer AS interrupt_in_use,
       s.status_id, s.source, s.started_at, st.system_presence
FROM (SELECT 1) AS one
LEFT JOIN spells s ON s.agent_id = sqlc.arg(agent_id) AND s.ended_at IS NULL
LEFT JOIN statuses st ON st.id = s.status_id;

-- name: SpellBefore :one
-- The spell that ended where another one started (SpellChange makes them
-- touch): the status an automatic busy spell replaced. Deleted spells and
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
