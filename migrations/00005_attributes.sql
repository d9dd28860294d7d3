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
    -- GET and setAttributes read one agent's rows, and every custom clause
    -- that does not drive a clause query (negated, under OR, or second) is
    -- checked for one agent at a time. INCLUDE (value) makes that check an
    -- index-only probe. The API.md example, clause C ("phone/status
    -- contains AWAY", negated) filtering the first chunk of candidates
    -- (EXPLAIN ANALYZE over the BenchmarkQueryPresence data):
    --   ->  Index Only Scan using attributes_pkey on attributes x (actual time=0.002..0.002 rows=1 loops=544)
    --         Index Cond: ((agent_id = c.agent_id) AND (category = 'CustomerService') AND (name = 'phone/status'))
    --         Filter: (value ~~ '%AWAY%'::text)
    --         Heap Fetches: 0
    PRIMARY KEY (agent_id, category, name) INCLUDE (value)
);

-- The search index: finds the agents whose attribute (category, name) has
-- a value (eq), one of several values (in) or a value range (prefix: LIKE
-- 'abc%' under collation "C"). agent_id is a key column, not INCLUDE: for
-- eq the candidates come out in agent id order, so the clause query walks
-- them in page order and stops as soon as the page is full, index-only.
-- The API.md example over 100,000 agents x 5 attributes, first chunk:
--   Limit (actual time=0.048..1.734 rows=256 loops=1)
--     ->  Index Only Scan using attributes_search_idx on attributes c (actual time=0.048..1.720 rows=256 loops=1)
--           Index Cond: ((category = 'CustomerService') AND (name = 'languages')
--                        AND (value = 'French') AND (agent_id > ''))
--           Filter: (SubPlan 2)          -- clause C, probed as above
--           Rows Removed by Filter: 288
--           Heap Fetches: 0
-- It also counts a driver's rows cheaply when several clauses could drive
-- (db.pickDriver): an index-only range, ~0.5 ms for 2,000 entries.
-- Without it, finding "languages = French" reads all 500,000 rows.
CREATE INDEX attributes_search_idx ON attributes (category, name, value, agent_id);

-- category, name and value are strongly dependent (a value belongs to one
-- attribute); without these statistics the planner multiplies their
-- selectivities and misjudges "languages = French" eightfold.
CREATE STATISTICS attributes_search_stats (dependencies, mcv) ON category, name, value FROM attributes;

-- No trigram index (pg_trgm) for contains, on purpose: since PostgreSQL 14
-- gin_trgm_ops also answers "=", and with one on the benchmark data the
-- planner answered "languages = French" with a BitmapAnd of the trigram
-- index and attributes_pkey plus a sort instead of the ordered scan above
-- (tens of ms instead of ~1 ms for a chunk). A contains clause is a
-- per-agent filter (the index-only probe of attributes_pkey) and never
-- drives a query; beside an eq, in or prefix clause that costs one probe
-- per candidate.

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
