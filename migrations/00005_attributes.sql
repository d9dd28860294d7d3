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
    -- GET and setAttributes read one agent's rows, and a custom clause that
    -- the clause query checks agent by agent (negated, under OR, or not the
    -- one it starts from) is one probe here; INCLUDE (value) makes it
    -- index-only. Clause C of the API.md example ("phone/status contains
    -- AWAY", negated) over the BenchmarkQueryPresence data:
    --   ->  Index Only Scan using attributes_pkey on attributes x_1 (actual time=0.004..0.004 rows=1 loops=217)
    --         Index Cond: ((agent_id = a.id) AND (category = 'CustomerService') AND (name = 'phone/status'))
    --         Filter: (value ~~ '%AWAY%'::text)
    --         Heap Fetches: 0
    PRIMARY KEY (agent_id, category, name) INCLUDE (value)
);

-- The search index: the agents whose attribute (category, name) has a value
-- (eq), one of several values (in) or a value range (prefix: LIKE 'abc%'
-- under collation "C"). agent_id is a key column, not INCLUDE: for eq the
-- agents come out in id order, the order of the answer, so the planner can
-- merge them with the agents and stop at the page's LIMIT; and a clause
-- can be checked for one agent with all four columns. The API.md example
-- (with "status in 4 of 8", half the agents, standing in for "state eq
-- ACTIVE", which the seed cannot make true), 100,000 agents x 5 attributes:
--   Limit (actual time=0.157..4.253 rows=100 loops=1)
--     ->  Nested Loop Anti Join (actual time=0.156..4.244 rows=100 loops=1)
--           ->  Nested Loop (… the view, for 409 agents only …)
--                 ->  Merge Join (actual time=0.035..1.730 rows=409 loops=1)
--                       Merge Cond: (a.id = x.agent_id)
--                       ->  Index Scan using agents_pkey on agents a (actual rows=4247 loops=1)
--                       ->  Index Only Scan using attributes_search_idx on attributes x (actual rows=409 loops=1)
--                             Index Cond: ((category = 'CustomerService') AND (name = 'languages') AND (value = 'French'))
--                             Heap Fetches: 0
--           ->  Index Only Scan using attributes_pkey on attributes x_1 (… clause C, above …)
--   Execution Time: 4.315 ms
-- A rare value drives the query from its own range, then checks the other
-- clause with all four columns ("French AND team in (2 of 1,000)"):
--   ->  Index Only Scan using attributes_search_idx on attributes x_1 (actual rows=210 loops=1)
--         Index Cond: ((category = 'Profile') AND (name = 'team') AND (value = ANY ('{team-0007,team-0500}')))
--   ->  Index Only Scan using attributes_search_idx on attributes x (actual rows=0 loops=210)
--         Index Cond: ((category = 'CustomerService') AND (name = 'languages') AND (value = 'French')
--                      AND (agent_id = x_1.agent_id))
--   Execution Time: 2.495 ms
-- Without it, every such clause reads all 500,000 rows.
CREATE INDEX attributes_search_idx ON attributes (category, name, value, agent_id);

-- category, name and value are strongly dependent (a value belongs to one
-- attribute); without these statistics the planner multiplies their
-- selectivities, misjudged "languages = French" eightfold (1,268 rows for
-- 10,000) and chose to hash all agents instead of the plan above.
CREATE STATISTICS attributes_search_stats (dependencies, mcv) ON category, name, value FROM attributes;

-- No trigram index (pg_trgm) for contains, on purpose: since PostgreSQL 14
-- gin_trgm_ops also answers "=", and with one on the benchmark data the
-- planner answered "languages = French" with a BitmapAnd of the trigram
-- index and attributes_pkey plus a sort instead of the ordered scan above
-- (tens of ms instead of ~1 ms). A contains clause is checked agent by
-- agent (the index-only probe of attributes_pkey); beside an eq, in or
-- prefix clause that costs one probe per candidate.

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
