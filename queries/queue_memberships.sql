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
