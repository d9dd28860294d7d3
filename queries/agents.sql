-- name: AgentCreate :one
INSERT INTO agents (id, name, default_status, capacity, interrupt_capacity)
VALUES ($1, $2, $3, $4, $5)
RETURNING *;

-- name: AgentGetByID :one
-- Deleted ones included; the service turns them into not-found.
SELECT * FROM agents WHERE id = $1;

-- name: AgentLockByID :one
-- Every transaction that changes an agent's presence takes this row lock
-- first, so changes of one agent serialise and their events are ordered.
SELECT * FROM agents WHERE id = $1 FOR UPDATE;

-- name: AgentLockByIDs :many
-- In id order, so two batches over the same agents cannot deadlock.
SELECT * FROM agents WHERE id = ANY(sqlc.arg(ids)::text[]) ORDER BY id FOR UPDATE;

-- name: AgentLockByWork :one
-- The row lock of the agent a work item belongs to, in one round trip: an
-- item never moves to another agent, so reading its agent_id in the
-- statement's snapshot is safe. No row: unknown item.
SELECT agents.* FROM agents
WHERE agents.id = (SELECT work_items.agent_id FROM work_items WHERE work_items.id = $1)
FOR UPDATE;

-- name: AgentList :many
SELECT * FROM agents
WHERE (deleted_at IS NOT NULL) = sqlc.arg(deleted)::boolean
  AND id > sqlc.arg(after)::text
ORDER BY id
LIMIT sqlc.arg(max_rows);

-- name: AgentUpdate :one
UPDATE agents
SET name = $2, default_status = $3, capacity = $4, interrupt_capacity = $5, updated_at = now()
WHERE id = $1
RETURNING *;

-- name: AgentUpsertMany :many
-- The batch endpoint: every value is final (the service merged updates into
-- the existing rows under AgentLockByIDs), so one statement writes them all.
INSERT INTO agents (id, name, default_status, capacity, interrupt_capacity)
SELECT unnest(sqlc.arg(ids)::text[]), unnest(sqlc.arg(names)::text[]),
       unnest(sqlc.arg(default_statuses)::text[]), unnest(sqlc.arg(capacities)::integer[]),
       unnest(sqlc.arg(interrupt_capacities)::integer[])
ON CONFLICT (id) DO UPDATE
SET name = excluded.name, default_status = excluded.default_status,
    capacity = excluded.capacity, interrupt_capacity = excluded.interrupt_capacity,
    updated_at = now()
RETURNING *;

-- name: AgentSoftDelete :exec
UPDATE agents SET deleted_at = now(), updated_at = now() WHERE id = $1;

-- name: AgentRestore :one
UPDATE agents SET deleted_at = NULL, updated_at = now() WHERE id = $1
RETURNING *;

-- name: AgentListUpdated :many
SELECT id, updated_at FROM agents
WHERE updated_at >= sqlc.arg(start_at) AND updated_at < sqlc.arg(end_at)
  AND (updated_at, id) > (sqlc.arg(after_at)::timestamptz, sqlc.arg(after_id)::text)
ORDER BY updated_at, id
LIMIT sqlc.arg(max_rows);

-- name: AgentListDeleted :many
SELECT id, deleted_at::timestamptz AS deleted_at FROM agents
WHERE deleted_at >= sqlc.arg(start_at) AND deleted_at < sqlc.arg(end_at)
  AND (deleted_at, id) > (sqlc.arg(after_at)::timestamptz, sqlc.arg(after_id)::text)
ORDER BY deleted_at, id
LIMIT sqlc.arg(max_rows);
