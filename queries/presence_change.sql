-- name: PresenceChange :one
-- One presence change and the record it leaves, in one statement (see
-- presence_change in migrations/00008): outside a transaction it is one
-- round trip that commits as it answers.
SELECT * FROM presence_change(sqlc.arg(agent_id), sqlc.arg(status_id), sqlc.arg(source),
                              sqlc.narg(reason_code), sqlc.narg(message), sqlc.narg(at)::timestamptz);

-- name: PresenceApply :one
-- One presence change and the record it leaves as JSON, the body of its
-- event (presence_apply in migrations/00018): outside a transaction it is
-- one round trip that commits as it answers. With a token_id, the token of
-- the request, it writes nothing and answers no row when that token is
-- revoked (migrations/00024): the WHERE is checked before the change.
SELECT presence_apply(sqlc.arg(agent_id), sqlc.arg(status_id), sqlc.arg(source),
                      sqlc.narg(reason_code), sqlc.narg(message), sqlc.narg(at)::timestamptz)::jsonb AS record
WHERE sqlc.narg(token_id)::text IS NULL OR token_live(sqlc.narg(token_id)::text);

-- name: PresenceChangeMany :many
-- Many presence changes in one statement, so one transaction and one
-- commit (presence_change_many in migrations/00015, its token check in
-- 00024). db/presencebatch.go
-- runs this text itself (dbsqlc.PresenceChangeMany): the arrays' elements
-- may be NULL, which the generated parameters cannot say.
SELECT b.ord::integer AS ord, coalesce(b.error_code, '')::text AS error_code, b.record::jsonb AS record
FROM presence_change_many(sqlc.arg(agent_ids)::text[], sqlc.arg(status_ids)::text[],
                          sqlc.arg(sources)::text[], sqlc.arg(reason_codes)::text[],
                          sqlc.arg(messages)::text[], sqlc.arg(ats)::timestamptz[],
                          sqlc.arg(token_ids)::text[])
     AS b (ord, error_code, record);
