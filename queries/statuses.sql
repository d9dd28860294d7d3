-- name: StatusList :many
SELECT * FROM statuses
WHERE deleted_at IS NULL
ORDER BY sort_order, id;

-- name: StatusGetByID :one
-- Deleted ones included; the service decides what a deleted status means.
SELECT * FROM statuses WHERE id = $1;

-- name: StatusCreate :one
INSERT INTO statuses (id, label, system_presence, is_away)
VALUES ($1, $2, $3, $4)
RETURNING *;

-- name: StatusUpdate :one
UPDATE statuses
SET label = sqlc.arg(label), is_away = sqlc.arg(is_away), updated_at = now()
WHERE id = sqlc.arg(id)
RETURNING *;

-- name: StatusSoftDelete :exec
UPDATE statuses SET deleted_at = now(), updated_at = now() WHERE id = $1;

-- name: StatusInUse :one
-- A status is in use while any agent is in it or has it as default status.
SELECT (EXISTS (SELECT 1 FROM spells WHERE status_id = sqlc.arg(id) AND ended_at IS NULL)
     OR EXISTS (SELECT 1 FROM agents WHERE default_status = sqlc.arg(id) AND deleted_at IS NULL))::boolean AS in_use;
