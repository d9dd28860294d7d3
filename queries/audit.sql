-- name: AuditList :many
-- Newest first; every filter is optional.
SELECT * FROM audit
WHERE (sqlc.narg(action)::text IS NULL OR action = sqlc.narg(action))
  AND (sqlc.narg(target_type)::text IS NULL OR target_type = sqlc.narg(target_type))
  AND (sqlc.narg(actor)::text IS NULL OR actor = sqlc.narg(actor))
  AND id < sqlc.arg(before_id)::bigint
ORDER BY id DESC
LIMIT sqlc.arg(max_rows);

-- name: TxSetActor :exec
-- The acting token of this transaction, for the audit triggers.
SELECT set_config('presenced.actor', sqlc.arg(actor)::text, true);
