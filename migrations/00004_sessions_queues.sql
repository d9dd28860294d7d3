-- Sessions and connection state; queues, memberships and routing status.
--
-- The connection state (ACTIVE / AWAY / DISCONNECTED / OFFLINE) and the
-- routing status (OFF_QUEUE / IDLE / INTERACTING) are materialised in
-- agent_states, maintained in the writing transaction by triggers that call
-- agent_states_refresh. Why stored rather than computed from now() when
-- read: the sweeper's "this session went silent" must publish an event the
-- moment it is decided, and a value that changes by the passing of time
-- alone would change without any transaction to publish it. Why one stored
-- row rather than a view over the session flags: the refresh compares the
-- derived value with the stored one, so one event is published per real
-- change even when one statement changes several sessions of an agent (the
-- sweeper), and bulk reads join one row instead of aggregating sessions.

-- +goose Up

-- One row per logged-in client. A heartbeat rewrites last_beat_at (and idle
-- when it changes) and nothing else.
CREATE TABLE sessions (
    id           text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    agent_id     text NOT NULL REFERENCES agents (id),
    client       text CHECK (length(client) BETWEEN 1 AND 200),
    started_at   timestamptz NOT NULL DEFAULT now(),
    -- In no index, on purpose: a heartbeat then is a HOT update (the new
    -- row version stays on its page and no index entry is written), which
    -- keeps 10,000 beating sessions cheap. fillfactor leaves the room.
    last_beat_at timestamptz NOT NULL DEFAULT now(),
    idle         boolean NOT NULL DEFAULT false,
    -- Set by the sweeper when the session missed its heartbeats; cleared by
    -- its next beat. A lost session is still open: the network may return.
    lost         boolean NOT NULL DEFAULT false,
    ended_at     timestamptz,
    end_reason   text CHECK (end_reason IN ('logout', 'agent_deleted')),
    CHECK ((ended_at IS NULL) = (end_reason IS NULL)),
    CHECK (ended_at IS NULL OR ended_at >= started_at)
) WITH (fillfactor = 70);

-- An agent's open sessions (state derivation, login, logout) and, scanned
-- whole, the sweeper's candidates. Partial, so ended sessions cost nothing.
CREATE INDEX sessions_open_idx ON sessions (agent_id) WHERE ended_at IS NULL;

CREATE TABLE queues (
    id         text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._@+-]{1,128}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Membership history: one row per stay of an agent in a queue. The current
-- stay has left_at null; reason_code says why it ended.
CREATE TABLE queue_memberships (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_id    text NOT NULL REFERENCES agents (id),
    queue_id    text NOT NULL REFERENCES queues (id),
    joined_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    left_at     timestamptz,
    reason_code text CHECK (length(reason_code) BETWEEN 1 AND 64),
    CHECK (left_at IS NULL OR left_at >= joined_at),
    CHECK (left_at IS NOT NULL OR reason_code IS NULL)
);

-- At most one current stay per agent and queue; also the agent's queues.
CREATE UNIQUE INDEX queue_memberships_current_idx ON queue_memberships (agent_id, queue_id) WHERE left_at IS NULL;
-- Member counts.
CREATE INDEX queue_memberships_queue_current_idx ON queue_memberships (queue_id) WHERE left_at IS NULL;
-- History by agent for reports.
CREATE INDEX queue_memberships_agent_joined_idx ON queue_memberships (agent_id, joined_at);

-- The materialised state of every agent: agents_event (below) adds the row
-- with the agent. Every agent having one lets the view join it plainly, so
-- a filter on state or routing status (a clause query, ?state= on the bulk
-- read) reaches these columns' indexes instead of evaluating the view for
-- every agent: "who is ACTIVE and speaks French" with nobody ACTIVE took
-- 30-140 ms over 100,000 agents through a coalesce() over a LEFT JOIN.
CREATE TABLE agent_states (
    agent_id       text PRIMARY KEY REFERENCES agents (id),
    state          text NOT NULL DEFAULT 'OFFLINE'
                   CHECK (state IN ('ACTIVE', 'AWAY', 'DISCONNECTED', 'OFFLINE')),
    state_since    timestamptz NOT NULL DEFAULT clock_timestamp(),
    routing_status text NOT NULL DEFAULT 'OFF_QUEUE'
                   CHECK (routing_status IN ('OFF_QUEUE', 'IDLE', 'INTERACTING')),
    routing_since  timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- Current queue ids, sorted: the record's queues column.
    queues         text[] NOT NULL DEFAULT '{}'
);

INSERT INTO agent_states (agent_id) SELECT id FROM agents;
CREATE INDEX agent_states_state_idx ON agent_states (state);
CREATE INDEX agent_states_routing_idx ON agent_states (routing_status);

-- agents_event as in 00002, and first the new agent's agent_states row: in
-- the same function, so that the row exists before the agent's first
-- presence record is built for its event.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION agents_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO agent_states (agent_id) VALUES (NEW.id) ON CONFLICT (agent_id) DO NOTHING;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.deleted_at IS DISTINCT FROM OLD.deleted_at THEN
        PERFORM admin_event(CASE WHEN NEW.deleted_at IS NULL THEN 'restore' ELSE 'delete' END,
                            'agent', NEW.id, NEW.id);
    ELSIF TG_OP = 'INSERT'
       OR (NEW.capacity, NEW.interrupt_capacity) IS DISTINCT FROM (OLD.capacity, OLD.interrupt_capacity) THEN
        -- A new agent's first record, or a record whose capacity changed.
        PERFORM event_append('agents.' || NEW.id || '.presence', 'presence', presence_record_json(NEW.id));
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- presence_record_json, same signature and output as in 00002, now in
-- plpgsql: a SQL function called from a trigger is planned again on every
-- call, a plpgsql one keeps its plan for the session. Measured from a
-- trigger loop: 181 µs → 25 µs per call. Every event body is built here,
-- and a mass disconnect builds 10,000 of them in one sweep.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION presence_record_json(p_agent text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT jsonb_build_object(
            'agent_id', r.agent_id,
            'status', jsonb_build_object('id', r.status_id, 'label', r.status_label,
                                         'system_presence', r.system_presence, 'is_away', r.is_away),
            'state', r.state,
            'routing_status', r.routing_status,
            'message', r.message,
            'reason_code', r.reason_code,
            'source', r.source,
            'since', r.since,
            'spell_id', r.spell_id,
            'capacity', jsonb_build_object('configured', r.capacity_configured, 'in_use', r.capacity_in_use),
            'queues', to_jsonb(r.queues))
        FROM presence_records r
        WHERE r.agent_id = p_agent);
END
$$;
-- +goose StatementEnd

-- agent_open_work is the hook for work items: the number of the agent's open
-- work items, which makes an agent on a queue INTERACTING. There is no work
-- yet; the work-items migration replaces this function (same signature) and
-- calls agent_states_refresh from its triggers when work opens or closes.
-- +goose StatementBegin
CREATE FUNCTION agent_open_work(p_agent text) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT 0
$$;
-- +goose StatementEnd

-- agent_states_refresh derives the agent's state and routing status from its
-- open sessions, current memberships and open work, stores them, and
-- publishes agents.{id}.state and/or agents.{id}.routing when they changed
-- (routing also when the queue list changed). Callers hold the agent's row
-- lock (AgentLockByID), which orders the events of one agent.
-- +goose StatementBegin
CREATE FUNCTION agent_states_refresh(p_agent text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_state   text;
    v_queues  text[];
    v_routing text;
    v_old     agent_states%ROWTYPE;
BEGIN
    SELECT CASE
             WHEN count(*) = 0 THEN 'OFFLINE'
             WHEN count(*) FILTER (WHERE NOT lost) = 0 THEN 'DISCONNECTED'
             WHEN bool_and(idle) FILTER (WHERE NOT lost) THEN 'AWAY'
             ELSE 'ACTIVE'
           END
      INTO v_state
      FROM sessions
     WHERE agent_id = p_agent AND ended_at IS NULL;

    SELECT coalesce(array_agg(queue_id ORDER BY queue_id), '{}')
      INTO v_queues
      FROM queue_memberships
     WHERE agent_id = p_agent AND left_at IS NULL;

    -- In no queue is OFF_QUEUE whatever the work, as the issue defines it.
    v_routing := CASE
                   WHEN cardinality(v_queues) = 0 THEN 'OFF_QUEUE'
                   WHEN agent_open_work(p_agent) > 0 THEN 'INTERACTING'
                   ELSE 'IDLE'
                 END;

    SELECT * INTO v_old FROM agent_states WHERE agent_id = p_agent FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO agent_states (agent_id) VALUES (p_agent) RETURNING * INTO v_old;
    END IF;
    IF (v_old.state, v_old.routing_status, v_old.queues) = (v_state, v_routing, v_queues) THEN
        RETURN;
    END IF;

    UPDATE agent_states
       SET state = v_state,
           state_since = CASE WHEN state = v_state THEN state_since ELSE clock_timestamp() END,
           routing_status = v_routing,
           routing_since = CASE WHEN routing_status = v_routing THEN routing_since ELSE clock_timestamp() END,
           queues = v_queues
     WHERE agent_id = p_agent;

    -- Both bodies are built after both columns are stored, so each carries
    -- the final record of this refresh.
    IF v_old.state <> v_state THEN
        PERFORM event_append('agents.' || p_agent || '.state', 'state', presence_record_json(p_agent));
    END IF;
    IF (v_old.routing_status, v_old.queues) <> (v_routing, v_queues) THEN
        PERFORM event_append('agents.' || p_agent || '.routing', 'routing', presence_record_json(p_agent));
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION sessions_refresh() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM agent_states_refresh(NEW.agent_id);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER sessions_refresh_insert AFTER INSERT ON sessions
    FOR EACH ROW EXECUTE FUNCTION sessions_refresh();
-- A heartbeat that only moves last_beat_at names none of these columns, so
-- this trigger is not even considered for it: no state work, no event, no
-- NOTIFY.
CREATE TRIGGER sessions_refresh_update AFTER UPDATE OF idle, lost, ended_at ON sessions
    FOR EACH ROW
    WHEN ((OLD.idle, OLD.lost, OLD.ended_at) IS DISTINCT FROM (NEW.idle, NEW.lost, NEW.ended_at))
    EXECUTE FUNCTION sessions_refresh();

-- Joins and leaves publish on queues.{q} with the reason code and the new
-- member count, then refresh the agent's routing status.
-- +goose StatementBegin
CREATE FUNCTION queue_memberships_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM event_append('queues.' || NEW.queue_id, 'queue', jsonb_build_object(
        'action', CASE WHEN NEW.left_at IS NULL THEN 'join' ELSE 'leave' END,
        'queue_id', NEW.queue_id,
        'agent_id', NEW.agent_id,
        'reason_code', NEW.reason_code,
        'at', coalesce(NEW.left_at, NEW.joined_at),
        'member_count', (SELECT count(*) FROM queue_memberships m
                          WHERE m.queue_id = NEW.queue_id AND m.left_at IS NULL)));
    PERFORM agent_states_refresh(NEW.agent_id);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER queue_memberships_join AFTER INSERT ON queue_memberships
    FOR EACH ROW EXECUTE FUNCTION queue_memberships_event();
CREATE TRIGGER queue_memberships_leave AFTER UPDATE OF left_at ON queue_memberships
    FOR EACH ROW WHEN (OLD.left_at IS NULL AND NEW.left_at IS NOT NULL)
    EXECUTE FUNCTION queue_memberships_event();

-- Creating or renaming a queue publishes on queues.{q} too.
-- +goose StatementBegin
CREATE FUNCTION queues_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM event_append('queues.' || NEW.id, 'queue', jsonb_build_object(
        'action', CASE WHEN TG_OP = 'INSERT' THEN 'create' ELSE 'update' END,
        'queue_id', NEW.id, 'name', NEW.name));
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER queues_event AFTER INSERT OR UPDATE ON queues
    FOR EACH ROW EXECUTE FUNCTION queues_event();

-- The record now takes state, routing status and queues from agent_states.
-- Same columns in the same order as 00001 (CREATE OR REPLACE requires it).
CREATE OR REPLACE VIEW presence_records AS
SELECT a.id                                      AS agent_id,
       coalesce(st.id, off.id)                   AS status_id,
       coalesce(st.label, off.label)             AS status_label,
       coalesce(st.system_presence, off.system_presence) AS system_presence,
       coalesce(st.is_away, off.is_away)         AS is_away,
       ls.state                                  AS state,
       ls.routing_status                         AS routing_status,
       s.message                                 AS message,
       s.reason_code                             AS reason_code,
       s.source                                  AS source,
       s.started_at                              AS since,
       s.id                                      AS spell_id,
       a.capacity                                AS capacity_configured,
       0::integer                                AS capacity_in_use,
       ls.queues                                 AS queues,
       a.deleted_at                              AS agent_deleted_at
FROM agents a
-- The offline status as a one-row cross join: see 00001 for why statuses
-- are not joined on coalesce(spell status, 'offline').
CROSS JOIN statuses off
LEFT JOIN spells s ON s.agent_id = a.id AND s.ended_at IS NULL
LEFT JOIN statuses st ON st.id = s.status_id
JOIN agent_states ls ON ls.agent_id = a.id
WHERE off.id = 'offline';

-- Reports: membership history (who was on which queue when, and why they
-- left) and session history (login and logout times).
CREATE VIEW report.queue_memberships AS
SELECT m.id, m.agent_id, m.queue_id, q.name AS queue_name, m.joined_at, m.left_at,
       (extract(epoch FROM m.left_at - m.joined_at) * 1000)::bigint AS duration_ms,
       (m.left_at IS NULL)::boolean AS is_current, m.reason_code
FROM queue_memberships m
JOIN queues q ON q.id = m.queue_id;

CREATE VIEW report.sessions AS
SELECT s.id, s.agent_id, s.client, s.started_at, s.ended_at,
       (extract(epoch FROM s.ended_at - s.started_at) * 1000)::bigint AS duration_ms,
       (s.ended_at IS NULL)::boolean AS is_open, s.end_reason
FROM sessions s;

GRANT SELECT ON report.queue_memberships, report.sessions TO presence_reporting;

-- +goose Down
DROP VIEW report.sessions;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION presence_record_json(p_agent text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'agent_id', r.agent_id,
        'status', jsonb_build_object('id', r.status_id, 'label', r.status_label,
                                     'system_presence', r.system_presence, 'is_away', r.is_away),
        'state', r.state,
        'routing_status', r.routing_status,
        'message', r.message,
        'reason_code', r.reason_code,
        'source', r.source,
        'since', r.since,
        'spell_id', r.spell_id,
        'capacity', jsonb_build_object('configured', r.capacity_configured, 'in_use', r.capacity_in_use),
        'queues', to_jsonb(r.queues))
    FROM presence_records r
    WHERE r.agent_id = p_agent
$$;
-- +goose StatementEnd
DROP VIEW report.queue_memberships;
CREATE OR REPLACE VIEW presence_records AS
SELECT a.id                                       AS agent_id,
       coalesce(st.id, off.id)                    AS status_id,
       coalesce(st.label, off.label)              AS status_label,
       coalesce(st.system_presence, off.system_presence) AS system_presence,
       coalesce(st.is_away, off.is_away)          AS is_away,
       'OFFLINE'::text                            AS state,
       'OFF_QUEUE'::text                          AS routing_status,
       s.message                                  AS message,
       s.reason_code                              AS reason_code,
       s.source                                   AS source,
       s.started_at                               AS since,
       s.id                                       AS spell_id,
       a.capacity                                 AS capacity_configured,
       0::integer                                 AS capacity_in_use,
       '{}'::text[]                               AS queues,
       a.deleted_at                               AS agent_deleted_at
FROM agents a
CROSS JOIN statuses off
LEFT JOIN spells s ON s.agent_id = a.id AND s.ended_at IS NULL
LEFT JOIN statuses st ON st.id = s.status_id
WHERE off.id = 'offline';
DROP TRIGGER queues_event ON queues;
DROP FUNCTION queues_event();
DROP TRIGGER queue_memberships_leave ON queue_memberships;
DROP TRIGGER queue_memberships_join ON queue_memberships;
DROP FUNCTION queue_memberships_event();
DROP TRIGGER sessions_refresh_update ON sessions;
DROP TRIGGER sessions_refresh_insert ON sessions;
DROP FUNCTION sessions_refresh();
DROP FUNCTION agent_states_refresh(text);
DROP FUNCTION agent_open_work(text);
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION agents_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.deleted_at IS DISTINCT FROM OLD.deleted_at THEN
        PERFORM admin_event(CASE WHEN NEW.deleted_at IS NULL THEN 'restore' ELSE 'delete' END,
                            'agent', NEW.id, NEW.id);
    ELSIF TG_OP = 'INSERT'
       OR (NEW.capacity, NEW.interrupt_capacity) IS DISTINCT FROM (OLD.capacity, OLD.interrupt_capacity) THEN
        -- A new agent's first record, or a record whose capacity changed.
        PERFORM event_append('agents.' || NEW.id || '.presence', 'presence', presence_record_json(NEW.id));
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
DROP TABLE agent_states;
DROP TABLE queue_memberships;
DROP TABLE queues;
DROP TABLE sessions;
