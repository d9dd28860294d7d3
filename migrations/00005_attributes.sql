-- Custom attributes (entity–attribute–value rows) and geolocations, the
-- agents.{id}.attributes events, and the indexes of the clause query.
-- Why each index exists, with the plans that use it, is written next to it.

-- +goose Up
CREATE TABLE attributes (
    agent_id   text NOT NULL REFERENCES agents (id),
    category   text NOT NULL CHECK (length(category) BETWEEN 1 AND 64),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    -- Collation "C": equality, LIKE and prefix compare bytes, exactly like
    -- the in-memory evaluation the property test checks against, and a
    -- plain btree answers prefix (LIKE 'abc%') whatever the database's
    -- locale. 256 characters keep (category, name, value, agent_id) under
    -- the btree entry limit of ~2,700 bytes even at 4 bytes a character.
    value      text COLLATE "C" NOT NULL CHECK (length(value) <= 256),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- One value per attribute. Also the index of every per-agent look-up:
    -- GET and setAttributes read one agent's rows, and a clause that is not
    -- the driver (negated, under OR, or standing second) is checked for one
    -- agent at a time by an EXISTS answered here:
    --   ->  Index Scan using attributes_pkey on attributes x_1 (actual rows=0 loops=143)
    --         Index Cond: ((agent_id = a.id) AND (category = $5) AND (name = $6))
    --         Filter: (value ~~ '%AWAY%'::text)
    PRIMARY KEY (agent_id, category, name)
);

-- The search index: finds the agents whose attribute (category, name) has
-- a value (eq), one of several values (in) or a value range (prefix, via
-- collation "C"). agent_id is a key column, not INCLUDE: for eq it makes
-- the candidates come out in agent id order, so the clause query walks
-- them in page order and stops when the page is full, and the scan is
-- index-only. The three-clause example of API.md over 100,000 agents x 5
-- attributes (BenchmarkQueryPresence):
--   Limit (actual rows=257 loops=1)
--     ->  Index Only Scan using attributes_search_idx on attributes x (actual rows=257 loops=1)
--           Index Cond: ((category = 'CustomerService') AND (name = 'languages')
--                        AND (value = 'French') AND (agent_id > ''))
--           Heap Fetches: 0
--   Execution Time: 0.2 ms
-- Without it the same candidates cost a sequential scan of all 500,000 rows.
CREATE INDEX attributes_search_idx ON attributes (category, name, value, agent_id);

-- category, name and value are strongly dependent (a value belongs to one
-- attribute); without these statistics the planner multiplies their
-- selectivities and misjudges "languages = French" eightfold.
CREATE STATISTICS attributes_search_stats (dependencies, mcv) ON category, name, value FROM attributes;

-- contains ('%AWAY%') cannot use a btree. Where the pg_trgm contrib module
-- is installed a trigram index answers a contains clause of three or more
-- characters; elsewhere such a clause is only ever a per-agent filter
-- (attributes_pkey above) and never drives the query.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE INDEX attributes_value_trgm_idx ON attributes USING gin (value gin_trgm_ops);
    END IF;
END
$$;
-- +goose StatementEnd

CREATE TABLE geolocations (
    agent_id   text PRIMARY KEY REFERENCES agents (id),
    -- NaN fails BETWEEN in PostgreSQL, so these also keep NaN out.
    lat        double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon        double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- attribute_set_json is the JSON attribute set of API.md (GET
-- /v1/agents/{id}/attributes and the body of agents.{id}.attributes
-- events): one definition, so reads and events never disagree.
-- +goose StatementBegin
CREATE FUNCTION attribute_set_json(p_agent text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'agent_id', p_agent,
        'geolocation', (SELECT jsonb_build_object('lat', g.lat, 'lon', g.lon, 'updated_at', g.updated_at)
                        FROM geolocations g WHERE g.agent_id = p_agent),
        'custom', coalesce((SELECT jsonb_object_agg(c.category, c.attrs)
                            FROM (SELECT a.category, jsonb_object_agg(a.name, a.value) AS attrs
                                  FROM attributes a WHERE a.agent_id = p_agent
                                  GROUP BY a.category) c), '{}'::jsonb))
$$;
-- +goose StatementEnd

-- One event per agent per transaction, carrying the final attribute set.
-- The triggers are deferred to commit, so the body is built after the last
-- change; they fire once per changed row, and all rows of one setAttributes
-- belong to one agent, so remembering the agent published last in this
-- transaction (a transaction-local setting) skips the repeats. Rows of
-- several agents interleaved in one transaction may publish an agent twice,
-- each time with the same final set: never a stale one, never none.
-- +goose StatementBegin
CREATE FUNCTION attributes_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    agent text := CASE WHEN TG_OP = 'DELETE' THEN OLD.agent_id ELSE NEW.agent_id END;
BEGIN
    IF current_setting('presenced.attributes_published', true) IS DISTINCT FROM agent THEN
        PERFORM event_append('agents.' || agent || '.attributes', 'attributes', attribute_set_json(agent));
        PERFORM set_config('presenced.attributes_published', agent, true);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE CONSTRAINT TRIGGER attributes_event AFTER INSERT OR UPDATE OR DELETE ON attributes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION attributes_event();
CREATE CONSTRAINT TRIGGER geolocations_event AFTER INSERT OR UPDATE OR DELETE ON geolocations
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION attributes_event();

-- +goose Down
DROP TRIGGER geolocations_event ON geolocations;
DROP TRIGGER attributes_event ON attributes;
DROP FUNCTION attributes_event();
DROP FUNCTION attribute_set_json(text);
DROP TABLE geolocations;
DROP TABLE attributes;
