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
