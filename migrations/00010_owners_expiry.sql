-- Channel owners and token expiry (issue 11, items 2 and 6).
--
-- A channel belongs to the token that created it: only that token, or an
-- admin token, may read it, change its subscriptions or stream it. Channels
-- made before this migration (or without a token) have no owner: only
-- admin tokens may manage them.
--
-- A token may expire: from expires_at on it is refused (401 token_expired)
-- and its open streams end. NULL never expires (the first-start admin
-- token, and every token made before this migration).

-- +goose Up
ALTER TABLE channels ADD COLUMN owner_token_id text REFERENCES tokens (id);

-- No CHECK against created_at: the service checks "in the future" by its
-- own clock, and a node a little behind the database must not get a 500.
ALTER TABLE tokens ADD COLUMN expires_at timestamptz;

-- +goose Down
ALTER TABLE tokens DROP COLUMN expires_at;
ALTER TABLE channels DROP COLUMN owner_token_id;
