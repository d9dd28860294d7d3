-- name: AdvisoryXactLock :exec
-- Serialises a one-time duty between nodes that start at once.
SELECT pg_advisory_xact_lock(sqlc.arg(key)::bigint);

-- name: AdvisoryTryXactLock :one
-- Background duties (pruning, the heartbeat sweep) run on whichever node
-- holds this lock; it ends with the transaction.
SELECT pg_try_advisory_xact_lock(sqlc.arg(key)::bigint);
