-- name: PresenceGetByAgent :one
-- Whole rows of presence_records, the record's one SQL definition, as in
-- every read of records: db/presencerecord.go scans them by column name.
SELECT * FROM presence_records WHERE agent_id = $1 AND agent_deleted_at IS NULL;

-- name: PresenceList :many
-- Bulk read: by ids, or all agents paged by id; status and state filter.
-- db.EachPresence runs this text itself (dbsqlc.PresenceList), as an
-- unnamed statement planned for its parameters (db/presencelist.go).
SELECT *
FROM presence_records
WHERE agent_deleted_at IS NULL
  AND (sqlc.narg(agent_ids)::text[] IS NULL OR agent_id = ANY(sqlc.narg(agent_ids)::text[]))
  AND (sqlc.narg(status_id)::text IS NULL OR status_id = sqlc.narg(status_id))
  AND (sqlc.narg(state)::text IS NULL OR state = sqlc.narg(state))
  AND agent_id > sqlc.arg(after)::text
ORDER BY agent_id
LIMIT sqlc.arg(max_rows);
