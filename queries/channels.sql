-- name: ChannelCreate :one
INSERT INTO channels (topics) VALUES ($1) RETURNING *;

-- name: ChannelGetByID :one
SELECT * FROM channels WHERE id = $1;

-- name: ChannelSetTopics :one
UPDATE channels SET topics = $2, updated_at = now() WHERE id = $1 RETURNING *;
