-- name: ChannelCreate :one
-- The owner is the token that created it; NULL: admin tokens only.
INSERT INTO channels (topics, owner_token_id) VALUES ($1, $2) RETURNING *;

-- name: ChannelGetByID :one
SELECT * FROM channels WHERE id = $1;

-- name: ChannelSetTopics :one
UPDATE channels SET topics = $2, updated_at = now() WHERE id = $1 RETURNING *;
