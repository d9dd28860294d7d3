-- name: WorkAssign :one
-- Every statement that changes an item runs under its agent's row lock
-- (AgentLockByID). A duplicate id violates work_items_pkey: the service
-- answers work_exists.
INSERT INTO work_items (id, agent_id, channel, units, interruptible)
VALUES (coalesce(sqlc.narg(id)::text, gen_random_uuid()::text), sqlc.arg(agent_id),
        sqlc.arg(channel), sqlc.arg(units), sqlc.arg(interruptible))
RETURNING *;

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
-- statement of its own: when FOR UPDATE waits for another transaction,
-- READ COMMITTED re-checks only the locked row, so a locking statement
-- that joined the spell would return it as it was before the wait. The
-- units in use of the open items, and the current spell with its system
-- presence (null fields: no spell yet).
SELECT (SELECT coalesce(sum(w.units), 0) FROM work_items w
         WHERE w.agent_id = sqlc.arg(agent_id) AND w.closed_at IS NULL AND NOT w.interruptible)::integer AS primary_in_use,
       (SELECT coalesce(sum(w.units), 0) FROM work_items w
         WHERE w.agent_id = sqlc.arg(agent_id) AND w.closed_at IS NULL AND w.interruptible)::integer AS interrupt_in_use,
       s.status_id, s.source, s.started_at, st.system_presence
FROM (SELECT 1) AS one
LEFT JOIN spells s ON s.agent_id = sqlc.arg(agent_id) AND s.ended_at IS NULL
LEFT JOIN statuses st ON st.id = s.status_id;
