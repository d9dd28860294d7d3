-- name: AttributeUpsertMany :execrows
-- setAttributes: every custom attribute of the request in one statement.
-- An unchanged value is not rewritten, so it fires no trigger and
-- publishes no event.
INSERT INTO attributes (agent_id, category, name, value)
SELECT sqlc.arg(agent_id)::text, unnest(sqlc.arg(categories)::text[]), unnest(sqlc.arg(names)::text[]),
       unnest(sqlc.arg(attr_values)::text[])
ON CONFLICT (agent_id, category, name) DO UPDATE
SET value = excluded.value, updated_at = now()
WHERE attributes.value IS DISTINCT FROM excluded.value;

-- name: AttributeDeleteMany :execrows
-- setAttributes with null values: remove those attributes.
DELETE FROM attributes
WHERE agent_id = sqlc.arg(agent_id)
  AND (category, name) IN (SELECT unnest(sqlc.arg(categories)::text[]), unnest(sqlc.arg(names)::text[]));

-- name: AttributeDelete :execrows
DELETE FROM attributes WHERE agent_id = $1 AND category = $2 AND name = $3;

-- name: AttributeCountByAgent :one
SELECT count(*) FROM attributes WHERE agent_id = $1;

-- name: AttributeSetGet :one
-- The agent's whole attribute set as JSON, built by the same function as
-- the events' bodies.
SELECT attribute_set_json(sqlc.arg(agent_id)::text)::jsonb AS attribute_set;
