-- name: QueueCreate :one
-- No row when the queue exists already; the service then renames it.
INSERT INTO queues (id, name) VALUES ($1, $2)
ON CONFLICT (id) DO NOTHING
RETURNING *;

-- name: QueueLockByID :one
SELECT * FROM queues WHERE id = $1 FOR NO KEY UPDATE;

-- name: QueueRename :one
UPDATE queues SET name = $2, updated_at = now() WHERE id = $1
RETURNING *;

-- name: QueueGetByID :one
SELECT sqlc.embed(queues),
       (SELECT count(*) FROM queue_memberships m
         WHERE m.queue_id = queues.id AND m.left_at IS NULL)::integer AS member_count
FROM queues
WHERE queues.id = $1;

-- name: QueueExists :one
SELECT EXISTS (SELECT 1 FROM queues WHERE id = $1);

-- name: QueueList :many
SELECT sqlc.embed(queues),
       (SELECT count(*) FROM queue_memberships m
         WHERE m.queue_id = queues.id AND m.left_at IS NULL)::integer AS member_count
FROM queues
WHERE queues.id > sqlc.arg(after)::text
ORDER BY queues.id
LIMIT sqlc.arg(max_rows);

-- name: QueueMembershipJoin :execrows
-- Zero rows when the agent is in the queue already (idempotent login).
INSERT INTO queue_memberships (agent_id, queue_id) VALUES ($1, $2)
ON CONFLICT (agent_id, queue_id) WHERE left_at IS NULL DO NOTHING;

-- name: QueueMembershipLeave :many
-- Leaves one queue, or every queue when queue_id is null. The caller holds
-- the agent's row lock.
UPDATE queue_memberships
SET left_at = greatest(clock_timestamp(), joined_at), reason_code = sqlc.narg(reason_code)
WHERE agent_id = sqlc.arg(agent_id) AND left_at IS NULL
  AND (sqlc.narg(queue_id)::text IS NULL OR queue_id = sqlc.narg(queue_id))
RETURNING *;
