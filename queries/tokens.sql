-- name: TokenCreate :one
INSERT INTO tokens (name, secret_hash, scopes, agent_id, expires_at)
VALUES ($1, $2, $3, $4, $5)
RETURNING *;

-- name: TokenEnsure :exec
-- The bootstrap token: stored once; a revoked one stays revoked. It never
-- expires.
INSERT INTO tokens (name, secret_hash, scopes, agent_id)
VALUES ($1, $2, $3, $4)
ON CONFLICT (secret_hash) DO NOTHING;

-- name: TokenGetByHash :one
SELECT * FROM tokens WHERE secret_hash = $1;

-- name: TokenGetByHashes :many
-- Every authenticated request runs this, with the requests that arrive
-- with it (db/tokens.go): one unique-index probe each, so a revocation is
-- effective at once on every node. A presence change may skip it: its
-- write checks the revocation (token_live, migrations/00024).
SELECT * FROM tokens WHERE secret_hash = ANY (sqlc.arg(hashes)::bytea[]);

-- name: TokenList :many
SELECT * FROM tokens
WHERE (created_at, id) > (sqlc.arg(after_at)::timestamptz, sqlc.arg(after_id)::text)
ORDER BY created_at, id
LIMIT sqlc.arg(max_rows);

-- name: TokenRevoke :one
-- Revoking twice keeps the first time and actor. No row: unknown id.
UPDATE tokens
SET revoked_at = coalesce(revoked_at, now()),
    revoked_by = CASE WHEN revoked_at IS NULL THEN nullif(current_setting('presenced.actor', true), '') ELSE revoked_by END
WHERE id = $1
RETURNING *;

-- name: TokenCountLiveAdmin :one
SELECT count(*) FROM tokens WHERE 'admin' = ANY(scopes) AND revoked_at IS NULL
    AND (expires_at IS NULL OR expires_at > now());
