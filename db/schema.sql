-- The schema that migrations/ build, for reading: do not edit (a change of
-- schema is a new migration). Written by "make schema" with the pg_dump of
-- PostgreSQL 15 (--schema-only --no-owner) from a freshly migrated database;
-- "make verify" fails when it is stale (TestSchemaFile in db/schema_test.go).
-- Left out: the monthly partitions of spells (spells_pYYYYMM), which the
-- migrations make for the months around the day they run.

--
-- Name: report; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA report;


--
-- Name: btree_gist; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public;


--
-- Name: EXTENSION btree_gist; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON EXTENSION btree_gist IS 'support for indexing common datatypes in GiST';


--
-- Name: admin_event(text, text, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.admin_event(p_action text, p_type text, p_id text, p_agent text) RETURNS void
    LANGUAGE sql
    AS $$
    INSERT INTO audit (action, target_type, target_id, agent_id) VALUES (p_action, p_type, p_id, p_agent);
    SELECT event_append('admin', 'admin',
        jsonb_build_object('action', p_action, 'type', p_type, 'id', p_id, 'agent_id', p_agent));
$$;


--
-- Name: agent_open_work(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.agent_open_work(p_agent text) RETURNS integer
    LANGUAGE sql STABLE
    AS $$
    SELECT count(*)::integer FROM work_items WHERE agent_id = p_agent AND closed_at IS NULL
$$;


--
-- Name: agent_states_refresh(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.agent_states_refresh(p_agent text) RETURNS void
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: agents_event(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.agents_event() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: attribute_set_json(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.attribute_set_json(p_agent text) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
    SELECT jsonb_build_object(
        'agent_id', p_agent,
        'geolocation', (SELECT jsonb_build_object('lat', g.lat, 'lon', g.lon, 'updated_at', g.updated_at)
                        FROM geolocations g WHERE g.agent_id = p_agent),
        'custom', coalesce((SELECT jsonb_object_agg(c.category, c.attrs)
                            FROM (SELECT a.category, jsonb_object_agg(a.name, a.value) AS attrs
                                  FROM attributes a WHERE a.agent_id = p_agent
                                  GROUP BY a.category) c), '{}'::jsonb))
$$;


--
-- Name: attributes_event(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.attributes_event() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: capacity_event_json(text, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.capacity_event_json(p_agent text, p_change jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    AS $$
BEGIN
    RETURN presence_record_json(p_agent) || jsonb_build_object(
        'interrupt_capacity', (
            SELECT jsonb_build_object('configured', a.interrupt_capacity,
                                      'in_use', coalesce(ls.interrupt_in_use, 0))
              FROM agents a LEFT JOIN agent_states ls ON ls.agent_id = a.id
             WHERE a.id = p_agent),
        'work', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'id', i.id, 'channel', i.channel, 'units', i.units,
                       'interruptible', i.interruptible, 'assigned_at', i.assigned_at)
                       ORDER BY i.assigned_at, i.id), '[]'::jsonb)
              FROM work_items i
             WHERE i.agent_id = p_agent AND i.closed_at IS NULL),
        'change', p_change);
END
$$;


--
-- Name: channels_event(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.channels_event() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM event_append('channels.' || NEW.id, 'channel',
                         jsonb_build_object('id', NEW.id, 'topics', to_jsonb(NEW.topics)));
    RETURN NULL;
END
$$;


--
-- Name: event_append(text, text, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.event_append(p_topic text, p_kind text, p_body jsonb) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO events (topic, kind, body) VALUES (p_topic, p_kind, p_body);
    -- One doorbell per transaction. PostgreSQL would fold identical
    -- notifications itself, but every pg_notify call still searches the
    -- pending list; a transaction-local flag skips the later calls.
    IF current_setting('presenced.notified', true) IS DISTINCT FROM 'on' THEN
        PERFORM pg_notify('presenced_events', '');
        PERFORM set_config('presenced.notified', 'on', true);
    END IF;
END
$$;


--
-- Name: event_epoch(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.event_epoch() RETURNS integer
    LANGUAGE sql PARALLEL SAFE
    AS $$
    SELECT ('x' || substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_insert_lsn()), 1, 8))::bit(32)::integer
$$;


--
-- Name: presence_apply(text, text, text, text, text, timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.presence_apply(p_agent text, p_status text, p_source text, p_reason_code text, p_message text, p_at timestamp with time zone) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_deleted_at timestamptz;
    v_cur        spells%ROWTYPE;
    v_at         timestamptz;
    v_ended      timestamptz;
    v_wrote      boolean := false; -- whether the spells_event trigger wrote the record
    v_record     jsonb;
    v_xid        xid8;
    v_id         bigint;
BEGIN
    SELECT a.deleted_at INTO v_deleted_at FROM agents a WHERE a.id = p_agent FOR UPDATE;
    IF NOT FOUND OR v_deleted_at IS NOT NULL THEN
        RAISE EXCEPTION 'agent % does not exist', p_agent USING ERRCODE = 'PA404';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM statuses st WHERE st.id = p_status AND st.deleted_at IS NULL) THEN
        RAISE EXCEPTION 'status % does not exist', p_status USING ERRCODE = 'PA422';
    END IF;

    -- The current spell: its key from spells_current, then the row from
    -- the one partition of its month (the key in variables, so the
    -- partitions are pruned as the statement starts, not initialised
    -- each and skipped).
    SELECT c.spell_id, c.started_at INTO v_cur.id, v_cur.started_at
      FROM spells_current c WHERE c.agent_id = p_agent;
    IF FOUND THEN
        SELECT s.* INTO v_cur FROM spells s WHERE s.id = v_cur.id AND s.started_at = v_cur.started_at;
    END IF;
    IF FOUND AND v_cur.status_id = p_status THEN
        IF (coalesce(p_message, v_cur.message), coalesce(p_reason_code, v_cur.reason_code))
           IS DISTINCT FROM (v_cur.message, v_cur.reason_code) THEN
            UPDATE spells
            SET message = coalesce(p_message, v_cur.message),
                reason_code = coalesce(p_reason_code, v_cur.reason_code),
                updated_at = clock_timestamp()
            WHERE id = v_cur.id AND started_at = v_cur.started_at;
            v_wrote := true;
        END IF;
    ELSE
        v_at := coalesce(p_at, clock_timestamp());
        IF FOUND THEN
            UPDATE spells
            SET ended_at = greatest(v_at, started_at), updated_at = greatest(v_at, started_at)
            WHERE id = v_cur.id AND started_at = v_cur.started_at
            RETURNING ended_at INTO v_ended;
        END IF;
        INSERT INTO spells (agent_id, status_id, source, reason_code, message, started_at, updated_at)
        VALUES (p_agent, p_status, p_source, p_reason_code, p_message,
                coalesce(v_ended, v_at), coalesce(v_ended, v_at));
        v_wrote := true;
    END IF;

    -- The record, as the event of this change carries it: the event
    -- just appended (event_append took its id from events_id_seq in this
    -- session; the primary key finds it). A change that wrote no event
    -- (the same status and text again) or whose event is not that one
    -- computes it. The key is in variables: a volatile function in the
    -- condition would not be an index condition (a scan of the log).
    IF v_wrote THEN
        v_xid := pg_current_xact_id();
        v_id := currval('events_id_seq');
        SELECT e.body INTO v_record FROM events e
         WHERE e.xid = v_xid AND e.id = v_id
           AND e.topic = 'agents.' || p_agent || '.presence' AND e.kind = 'presence';
        IF FOUND THEN
            RETURN v_record;
        END IF;
    END IF;
    RETURN presence_record_json(p_agent);
END
$$;


--
-- Name: presence_apply_set(text[], text[], text[], text[], text[], timestamp with time zone[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.presence_apply_set(p_agents text[], p_statuses text[], p_sources text[], p_reason_codes text[], p_messages text[], p_ats timestamp with time zone[]) RETURNS TABLE(ord integer, record jsonb)
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
DECLARE
    v_now         timestamptz := clock_timestamp();
    v_xid         xid8 := pg_current_xact_id();
    v_seen        bigint; -- this transaction's last event before these changes
    -- Text: the current spell keeps its status and takes a new message or
    -- reason code.
    v_text_ids    bigint[];
    v_text_starts timestamptz[];
    v_text_msgs   text[];
    v_text_codes  text[];
    -- Switch: the current spell (if any) ends and a spell of the new
    -- status starts.
    v_close_ids    bigint[];
    v_close_starts timestamptz[];
    v_close_ats    timestamptz[];
    v_open         integer[]; -- the items that open a spell
    v_ended_agents text[];
    v_ended_ats    timestamptz[];
    v_lo           timestamptz; -- the current spells' first start
    v_hi           timestamptz; -- and last
BEGIN
    SELECT max(e.id) INTO v_seen FROM events e WHERE e.xid = v_xid;
    -- The range of months the current spells started in, in variables: a
    -- statement on spells prunes the other months' partitions as it starts
    -- rather than opening each with its indexes.
    SELECT min(c.started_at), max(c.started_at) INTO v_lo, v_hi
      FROM spells_current c WHERE c.agent_id = ANY (p_agents);
    -- Each item against its agent's current spell: the key from
    -- spells_current, the row from its month's partition.
    SELECT array_agg(x.id ORDER BY x.i) FILTER (WHERE x.kind = 'text'),
           array_agg(x.started_at ORDER BY x.i) FILTER (WHERE x.kind = 'text'),
           array_agg(coalesce(x.message, x.cur_message) ORDER BY x.i) FILTER (WHERE x.kind = 'text'),
           array_agg(coalesce(x.reason_code, x.cur_reason_code) ORDER BY x.i) FILTER (WHERE x.kind = 'text'),
           array_agg(x.id ORDER BY x.i) FILTER (WHERE x.kind = 'switch' AND x.id IS NOT NULL),
           array_agg(x.started_at ORDER BY x.i) FILTER (WHERE x.kind = 'switch' AND x.id IS NOT NULL),
           array_agg(x.at ORDER BY x.i) FILTER (WHERE x.kind = 'switch' AND x.id IS NOT NULL),
           array_agg(x.i::integer ORDER BY x.i) FILTER (WHERE x.kind = 'switch')
      INTO v_text_ids, v_text_starts, v_text_msgs, v_text_codes,
           v_close_ids, v_close_starts, v_close_ats, v_open
      FROM (SELECT u.i, u.message, u.reason_code, coalesce(u.at, v_now) AS at,
                   s.id, s.started_at, s.message AS cur_message, s.reason_code AS cur_reason_code,
                   CASE WHEN s.id IS NULL OR s.status_id <> u.status THEN 'switch'
                        WHEN (coalesce(u.message, s.message), coalesce(u.reason_code, s.reason_code))
                             IS DISTINCT FROM (s.message, s.reason_code) THEN 'text'
                   END AS kind
              FROM unnest(p_agents, p_statuses, p_messages, p_reason_codes, p_ats)
                   WITH ORDINALITY u(agent_id, status, message, reason_code, at, i)
              LEFT JOIN spells_current c ON c.agent_id = u.agent_id
              LEFT JOIN spells s ON s.id = c.spell_id AND s.started_at = c.started_at
                                 AND s.started_at BETWEEN v_lo AND v_hi) x;

    IF v_text_ids IS NOT NULL THEN
        UPDATE spells s
           SET message = t.message, reason_code = t.reason_code, updated_at = clock_timestamp()
          FROM unnest(v_text_ids, v_text_starts, v_text_msgs, v_text_codes) t(id, started_at, message, reason_code)
         WHERE s.id = t.id AND s.started_at = t.started_at AND s.started_at BETWEEN v_lo AND v_hi;
    END IF;
    IF v_close_ids IS NOT NULL THEN
        WITH ended AS (
            UPDATE spells s
               SET ended_at = greatest(t.at, s.started_at), updated_at = greatest(t.at, s.started_at)
              FROM unnest(v_close_ids, v_close_starts, v_close_ats) t(id, started_at, at)
             WHERE s.id = t.id AND s.started_at = t.started_at AND s.started_at BETWEEN v_lo AND v_hi
            RETURNING s.agent_id, s.ended_at)
        SELECT array_agg(ended.agent_id), array_agg(ended.ended_at) INTO v_ended_agents, v_ended_ats FROM ended;
    END IF;
    IF v_open IS NOT NULL THEN
        INSERT INTO spells (agent_id, status_id, source, reason_code, message, started_at, updated_at)
        SELECT p_agents[o.i], p_statuses[o.i], p_sources[o.i], p_reason_codes[o.i], p_messages[o.i],
               coalesce(e.ended_at, p_ats[o.i], v_now), coalesce(e.ended_at, p_ats[o.i], v_now)
          FROM unnest(v_open) o(i)
          LEFT JOIN unnest(v_ended_agents, v_ended_ats) e(agent_id, ended_at) ON e.agent_id = p_agents[o.i]
         ORDER BY o.i;
    END IF;

    -- Each item's record: the body of the event its change wrote (the
    -- agent's last presence event of this transaction, written since
    -- v_seen), or, for a change that wrote none, computed.
    RETURN QUERY
    SELECT u.i::integer, coalesce(ev.body, presence_record_json(u.agent_id))
      FROM unnest(p_agents) WITH ORDINALITY u(agent_id, i)
      LEFT JOIN (SELECT DISTINCT ON (e.topic) e.topic, e.body FROM events e
                  WHERE e.xid = v_xid AND e.id > coalesce(v_seen, 0) AND e.kind = 'presence'
                  ORDER BY e.topic, e.id DESC) ev ON ev.topic = 'agents.' || u.agent_id || '.presence'
     ORDER BY u.i;
END
$$;


--
-- Name: agent_states; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.agent_states (
    agent_id text NOT NULL,
    state text DEFAULT 'OFFLINE'::text NOT NULL,
    state_since timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    routing_status text DEFAULT 'OFF_QUEUE'::text NOT NULL,
    routing_since timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    queues text[] DEFAULT '{}'::text[] NOT NULL,
    capacity_in_use integer DEFAULT 0 NOT NULL,
    interrupt_in_use integer DEFAULT 0 NOT NULL,
    CONSTRAINT agent_states_capacity_in_use_check CHECK ((capacity_in_use >= 0)),
    CONSTRAINT agent_states_interrupt_in_use_check CHECK ((interrupt_in_use >= 0)),
    CONSTRAINT agent_states_routing_status_check CHECK ((routing_status = ANY (ARRAY['OFF_QUEUE'::text, 'IDLE'::text, 'INTERACTING'::text]))),
    CONSTRAINT agent_states_state_check CHECK ((state = ANY (ARRAY['ACTIVE'::text, 'AWAY'::text, 'DISCONNECTED'::text, 'OFFLINE'::text])))
);


--
-- Name: agents; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.agents (
    id text NOT NULL,
    name text NOT NULL,
    default_status text DEFAULT 'available'::text NOT NULL,
    capacity integer DEFAULT 1 NOT NULL,
    interrupt_capacity integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    deleted_at timestamp with time zone,
    CONSTRAINT agents_capacity_check CHECK (((capacity >= 0) AND (capacity <= 1000))),
    CONSTRAINT agents_id_check CHECK ((id ~ '^[A-Za-z0-9._@+-]{1,128}$'::text)),
    CONSTRAINT agents_interrupt_capacity_check CHECK (((interrupt_capacity >= 0) AND (interrupt_capacity <= 1000))),
    CONSTRAINT agents_name_check CHECK (((length(name) >= 1) AND (length(name) <= 200)))
);


--
-- Name: spells; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.spells (
    id bigint NOT NULL,
    agent_id text NOT NULL,
    status_id text NOT NULL,
    source text NOT NULL,
    reason_code text,
    message text,
    started_at timestamp with time zone NOT NULL,
    ended_at timestamp with time zone,
    duration interval GENERATED ALWAYS AS ((ended_at - started_at)) STORED,
    is_current boolean GENERATED ALWAYS AS ((ended_at IS NULL)) STORED NOT NULL,
    at_capacity_ms bigint DEFAULT 0 NOT NULL,
    idle_ms bigint DEFAULT 0 NOT NULL,
    average_capacity double precision DEFAULT 0 NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    deleted_at timestamp with time zone,
    configured_capacity integer NOT NULL,
    configured_interrupt_capacity integer NOT NULL,
    CONSTRAINT spells_at_capacity_ms_check1 CHECK ((at_capacity_ms >= 0)),
    CONSTRAINT spells_average_capacity_check1 CHECK ((average_capacity >= (0)::double precision)),
    CONSTRAINT spells_check1 CHECK (((ended_at IS NULL) OR (ended_at >= started_at))),
    CONSTRAINT spells_configured_capacity_check1 CHECK ((configured_capacity >= 0)),
    CONSTRAINT spells_configured_interrupt_capacity_check1 CHECK ((configured_interrupt_capacity >= 0)),
    CONSTRAINT spells_idle_ms_check1 CHECK ((idle_ms >= 0)),
    CONSTRAINT spells_message_check1 CHECK ((length(message) <= 500)),
    CONSTRAINT spells_reason_code_check1 CHECK ((length(reason_code) <= 64)),
    CONSTRAINT spells_source_check1 CHECK ((source = ANY (ARRAY['manual'::text, 'automatic'::text, 'system'::text])))
)
PARTITION BY RANGE (started_at);


--
-- Name: statuses; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.statuses (
    id text NOT NULL,
    label text NOT NULL,
    system_presence text NOT NULL,
    is_away boolean NOT NULL,
    built_in boolean DEFAULT false NOT NULL,
    sort_order integer DEFAULT 1000 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    deleted_at timestamp with time zone,
    CONSTRAINT statuses_check CHECK ((NOT (built_in AND (deleted_at IS NOT NULL)))),
    CONSTRAINT statuses_id_check CHECK ((id ~ '^[A-Za-z0-9._@+-]{1,128}$'::text)),
    CONSTRAINT statuses_label_check CHECK (((length(label) >= 1) AND (length(label) <= 200))),
    CONSTRAINT statuses_system_presence_check CHECK ((system_presence = ANY (ARRAY['AVAILABLE'::text, 'BUSY'::text, 'AWAY'::text, 'BREAK'::text, 'MEAL'::text, 'MEETING'::text, 'TRAINING'::text, 'OFFLINE'::text])))
);


--
-- Name: presence_records; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.presence_records AS
 SELECT a.id AS agent_id,
    COALESCE(st.id, off.id) AS status_id,
    COALESCE(st.label, off.label) AS status_label,
    COALESCE(st.system_presence, off.system_presence) AS system_presence,
    COALESCE(st.is_away, off.is_away) AS is_away,
    ls.state,
        CASE
            WHEN (cardinality(ls.queues) = 0) THEN 'OFF_QUEUE'::text
            WHEN ((ls.capacity_in_use + ls.interrupt_in_use) > 0) THEN 'INTERACTING'::text
            ELSE 'IDLE'::text
        END AS routing_status,
    s.message,
    s.reason_code,
    s.source,
    s.started_at AS since,
    s.id AS spell_id,
    a.capacity AS capacity_configured,
    ls.capacity_in_use,
    ls.queues,
    a.deleted_at AS agent_deleted_at
   FROM ((((public.agents a
     CROSS JOIN public.statuses off)
     LEFT JOIN public.spells s ON (((s.agent_id = a.id) AND (s.ended_at IS NULL))))
     LEFT JOIN public.statuses st ON ((st.id = s.status_id)))
     JOIN public.agent_states ls ON ((ls.agent_id = a.id)))
  WHERE (off.id = 'offline'::text);


--
-- Name: VIEW presence_records; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON VIEW public.presence_records IS 'The presence record of every agent, deleted or not: the one definition that the API reads, the events (presence_record_json: every column but agent_deleted_at is a field of the JSON record) and the report schema share.';


--
-- Name: presence_change(text, text, text, text, text, timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.presence_change(p_agent text, p_status text, p_source text, p_reason_code text, p_message text, p_at timestamp with time zone) RETURNS SETOF public.presence_records
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM presence_apply(p_agent, p_status, p_source, p_reason_code, p_message, p_at);
    RETURN QUERY SELECT * FROM presence_records r WHERE r.agent_id = p_agent;
END
$$;


--
-- Name: presence_change_many(text[], text[], text[], text[], text[], timestamp with time zone[], text[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.presence_change_many(p_agents text[], p_statuses text[], p_sources text[], p_reason_codes text[], p_messages text[], p_ats timestamp with time zone[], p_tokens text[] DEFAULT NULL::text[]) RETURNS TABLE(ord integer, error_code text, record jsonb)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_live     text[];    -- the agents that exist and are not deleted
    v_statuses text[];    -- the statuses that do
    v_xid      xid8;
    v_first    integer[]; -- the valid items that are their agent's first
    v_refused  integer[]; -- the items whose token is revoked or gone
BEGIN
    -- First the tokens (p_tokens[i], the token the request of item i came
    -- with; NULL: none to check): a node answers a presence change from
    -- what it knows of its token (db/tokens.go), and this statement checks,
    -- after the request arrived, that no revocation has come since.
    SELECT coalesce(array_agg(u.i::integer), '{}') INTO v_refused
    FROM unnest(p_tokens) WITH ORDINALITY u(token_id, i)
    WHERE u.token_id IS NOT NULL AND NOT token_live(u.token_id);
    -- ORDER BY sorts, then FOR UPDATE locks the rows in that order.
    SELECT coalesce(array_agg(a.id) FILTER (WHERE a.deleted_at IS NULL), '{}') INTO v_live
    FROM (SELECT a.id, a.deleted_at FROM agents a WHERE a.id = ANY (p_agents) ORDER BY a.id FOR UPDATE) a;
    -- The locks made this transaction's xid, maybe before it waited for
    -- one of them. A transaction that held that lock and got its xid
    -- later has committed events of the agent at a higher position than
    -- this one's will have: the log (read in (xid, id) order) would show
    -- them after this change that replaced them. Then the batch gives way
    -- (the caller applies its changes one at a time, each statement's xid
    -- made at its one lock). The events above this xid are the few
    -- committed since it began: a short range of the primary key.
    v_xid := pg_current_xact_id();
    IF EXISTS (SELECT 1 FROM events e
               WHERE e.xid > v_xid
                 AND e.topic = ANY (SELECT 'agents.' || x || '.presence' FROM unnest(p_agents) x)) THEN
        RAISE EXCEPTION 'a change of one of these agents committed at a later log position'
            USING ERRCODE = '40001', HINT = 'Apply the changes one at a time.';
    END IF;
    -- The checks in bulk. A status deleted after this check is as one
    -- deleted after presence_apply's own check: the change goes in.
    SELECT coalesce(array_agg(st.id), '{}') INTO v_statuses
    FROM statuses st WHERE st.id = ANY (p_statuses) AND st.deleted_at IS NULL;
    SELECT coalesce(array_agg(f.i ORDER BY f.i), '{}') INTO v_first
    FROM (SELECT DISTINCT ON (u.agent_id) u.i::integer AS i
            FROM unnest(p_agents, p_statuses) WITH ORDINALITY u(agent_id, status, i)
           WHERE u.agent_id = ANY (v_live) AND u.status = ANY (v_statuses) AND NOT u.i = ANY (v_refused)
           ORDER BY u.agent_id, u.i) f;

    IF v_first <> '{}' THEN
        RETURN QUERY
        SELECT v_first[s.ord], NULL::text, s.record
          FROM (SELECT array_agg(p_agents[f.i] ORDER BY f.i) AS agents,
                       array_agg(p_statuses[f.i] ORDER BY f.i) AS statuses,
                       array_agg(p_sources[f.i] ORDER BY f.i) AS sources,
                       array_agg(p_reason_codes[f.i] ORDER BY f.i) AS reason_codes,
                       array_agg(p_messages[f.i] ORDER BY f.i) AS messages,
                       array_agg(p_ats[f.i] ORDER BY f.i) AS ats
                  FROM unnest(v_first) f(i)) x,
               presence_apply_set(x.agents, x.statuses, x.sources, x.reason_codes, x.messages, x.ats) s;
    END IF;

    FOR i IN 1 .. coalesce(array_length(p_agents, 1), 0) LOOP
        ord := i;
        error_code := NULL;
        record := NULL;
        IF i = ANY (v_refused) THEN
            error_code := 'PA401';
        ELSIF NOT p_agents[i] = ANY (v_live) THEN
            error_code := 'PA404';
        ELSIF NOT p_statuses[i] = ANY (v_statuses) THEN
            error_code := 'PA422';
        ELSIF i = ANY (v_first) THEN
            CONTINUE; -- answered above
        ELSE
            record := presence_apply(p_agents[i], p_statuses[i], p_sources[i],
                                     p_reason_codes[i], p_messages[i], p_ats[i]);
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;


--
-- Name: presence_record_json(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.presence_record_json(p_agent text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    AS $$
DECLARE
    v_row jsonb;
BEGIN
    SELECT to_jsonb(r) INTO v_row FROM presence_records r WHERE r.agent_id = p_agent;
    RETURN (v_row - ARRAY['status_id', 'status_label', 'system_presence', 'is_away',
                          'capacity_configured', 'capacity_in_use', 'agent_deleted_at'])
        || jsonb_build_object(
               'status', jsonb_build_object('id', v_row -> 'status_id', 'label', v_row -> 'status_label',
                                            'system_presence', v_row -> 'system_presence',
                                            'is_away', v_row -> 'is_away'),
               'capacity', jsonb_build_object('configured', v_row -> 'capacity_configured',
                                              'in_use', v_row -> 'capacity_in_use'));
END
$$;


--
-- Name: queue_memberships_event(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.queue_memberships_event() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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


--
-- Name: queues_event(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.queues_event() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM event_append('queues.' || NEW.id, 'queue', jsonb_build_object(
        'action', CASE WHEN TG_OP = 'INSERT' THEN 'create' ELSE 'update' END,
        'queue_id', NEW.id, 'name', NEW.name));
    RETURN NULL;
END
$$;


--
-- Name: sessions_refresh(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.sessions_refresh() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM agent_states_refresh(NEW.agent_id);
    RETURN NULL;
END
$$;


--
-- Name: spell_capacity_figures(text, timestamp with time zone, timestamp with time zone, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.spell_capacity_figures(p_agent text, p_from timestamp with time zone, p_to timestamp with time zone, p_capacity integer, OUT at_capacity_ms bigint, OUT idle_ms bigint, OUT average_capacity double precision) RETURNS record
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    v_total    numeric := extract(epoch FROM p_to - p_from);
    v_full     numeric;
    v_busy     numeric;
    v_integral numeric;
BEGIN
    IF v_total IS NULL OR v_total <= 0 THEN
        at_capacity_ms := 0; idle_ms := 0; average_capacity := 0;
        RETURN;
    END IF;
    -- Most spells of most agents see no work at all (every presence change
    -- closes a spell and lands here): two index probes instead of the sums.
    IF NOT EXISTS (SELECT 1 FROM work_items i
                    WHERE i.agent_id = p_agent AND i.closed_at IS NULL AND i.assigned_at < p_to)
       AND NOT EXISTS (SELECT 1 FROM work_items i
                        WHERE i.agent_id = p_agent AND i.closed_at > p_from AND i.assigned_at < p_to) THEN
        at_capacity_ms := 0; idle_ms := trunc(v_total * 1000); average_capacity := 0;
        RETURN;
    END IF;
    WITH w AS (
        -- Two range scans of work_items_agent_closed_idx: the open items
        -- and those closed after the window opened. least() ignores NULL.
        SELECT greatest(i.assigned_at, p_from) AS lo, least(i.closed_at, p_to) AS hi, i.units, i.interruptible
          FROM work_items i
         WHERE i.agent_id = p_agent AND i.closed_at IS NULL AND i.assigned_at < p_to
        UNION ALL
        SELECT greatest(i.assigned_at, p_from), least(i.closed_at, p_to), i.units, i.interruptible
          FROM work_items i
         WHERE i.agent_id = p_agent AND i.closed_at > p_from AND i.assigned_at < p_to
    ), d AS (
        -- Every start adds its units (primary only) and one open item;
        -- every end takes them away.
        SELECT w.lo AS at, CASE WHEN w.interruptible THEN 0 ELSE w.units END AS du, 1 AS dn
          FROM w WHERE w.hi > w.lo
        UNION ALL
        SELECT w.hi, CASE WHEN w.interruptible THEN 0 ELSE -w.units END, -1
          FROM w WHERE w.hi > w.lo
    ), steps AS (
        -- The levels from each distinct instant to the next one.
        SELECT d.at,
               lead(d.at) OVER (ORDER BY d.at) AS next_at,
               sum(sum(d.du)) OVER (ORDER BY d.at) AS units,
               sum(sum(d.dn)) OVER (ORDER BY d.at) AS n
          FROM d
         GROUP BY d.at
    )
    SELECT coalesce(sum(extract(epoch FROM s.next_at - s.at)) FILTER (WHERE p_capacity > 0 AND s.units >= p_capacity), 0),
           coalesce(sum(extract(epoch FROM s.next_at - s.at)) FILTER (WHERE s.n > 0), 0),
           coalesce(sum(extract(epoch FROM s.next_at - s.at) * s.units), 0)
      INTO v_full, v_busy, v_integral
      FROM steps s
     WHERE s.next_at IS NOT NULL;
    at_capacity_ms := trunc(v_full * 1000);
    idle_ms := trunc((v_total - v_busy) * 1000);
    average_capacity := (v_integral / v_total)::double precision;
END
$$;


--
-- Name: spell_rollup_day(date); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.spell_rollup_day(p_day date) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
BEGIN
    DELETE FROM spell_rollups WHERE day = p_day;
    INSERT INTO spell_rollups SELECT * FROM spell_rollup_rows(p_day);
    DELETE FROM spell_rollup_intervals
     WHERE starts_at >= p_day::timestamp AT TIME ZONE 'UTC' AND starts_at < (p_day + 1)::timestamp AT TIME ZONE 'UTC';
    INSERT INTO spell_rollup_intervals SELECT * FROM spell_rollup_interval_rows(p_day);
    INSERT INTO spell_rollup_days (day, rolled_at, intervals) VALUES (p_day, now(), true)
        ON CONFLICT (day) DO UPDATE SET rolled_at = excluded.rolled_at, intervals = true;
    -- One day at a time (tests, imports, the load program): its totals
    -- now, and those of any day pending from before it.
    PERFORM spell_rollup_totals_from(least(p_day, (SELECT min(x.day) FROM spell_rollup_totals_pending x)));
    DELETE FROM spell_rollup_totals_pending;
    DELETE FROM spell_rollup_dirty WHERE day = p_day;
END
$$;


--
-- Name: spell_rollup_intervals; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.spell_rollup_intervals (
    starts_at timestamp with time zone NOT NULL,
    status_id text NOT NULL,
    spells integer NOT NULL,
    seconds numeric NOT NULL,
    agents integer NOT NULL
);


--
-- Name: spell_rollup_interval_rows(date); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.spell_rollup_interval_rows(p_day date) RETURNS SETOF public.spell_rollup_intervals
    LANGUAGE sql STABLE
    AS $$
    SELECT p.slot, p.status_id,
           (count(*) FILTER (WHERE p.started_at >= p.slot AND p.started_at < p.slot + interval '15 minutes'))::integer,
           sum(extract(epoch FROM least(p.hi, p.slot + interval '15 minutes') - greatest(p.lo, p.slot))),
           count(DISTINCT p.agent_id)::integer
      FROM (SELECT c.agent_id, c.status_id, c.started_at, c.lo, c.hi,
                   generate_series(date_bin('15 minutes', c.lo, c.day_lo), c.hi - interval '1 microsecond',
                                   interval '15 minutes') AS slot
              FROM (SELECT w.agent_id, w.status_id, w.started_at, r.lo AS day_lo,
                           greatest(w.started_at, r.lo) AS lo,
                           least(coalesce(w.ended_at, greatest(now(), w.started_at)), r.hi) AS hi
                      FROM (SELECT p_day::timestamp AT TIME ZONE 'UTC' AS lo,
                                   (p_day + 1)::timestamp AT TIME ZONE 'UTC' AS hi) r,
                           LATERAL public.spells_window(r.lo, r.hi) w
                     WHERE w.deleted_at IS NULL) c
             WHERE c.hi > c.lo) p
     GROUP BY p.slot, p.status_id
$$;


--
-- Name: spell_rollup_pending(timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.spell_rollup_pending(p_now timestamp with time zone) RETURNS SETOF date
    LANGUAGE sql STABLE
    AS $$
    SELECT d::date
      FROM generate_series(
               coalesce((SELECT max(day) + 1 FROM public.spell_rollup_days),
                        -- The first spell by id (ids follow time but for
                        -- imports, which mark their days): the primary
                        -- keys' order, not a scan of every partition.
                        ((SELECT s.started_at FROM public.spells s ORDER BY s.id LIMIT 1) AT TIME ZONE 'UTC')::date),
               (p_now AT TIME ZONE 'UTC')::date - 1, interval '1 day') d
    UNION
    SELECT day FROM public.spell_rollup_dirty WHERE day < (p_now AT TIME ZONE 'UTC')::date
    ORDER BY 1
$$;


--
-- Name: spell_rollups; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.spell_rollups (
    day date NOT NULL,
    agent_id text NOT NULL,
    status_id text NOT NULL,
    seconds numeric NOT NULL,
    spells integer NOT NULL,
    at_capacity_ms bigint NOT NULL,
    idle_ms bigint NOT NULL
);


--
-- Name: spell_rollup_rows(date); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.spell_rollup_rows(p_day date) RETURNS SETOF public.spell_rollups
    LANGUAGE sql STABLE
    AS $$
    SELECT p_day, c.agent_id, c.status_id,
           sum(extract(epoch FROM c.hi - c.lo)), count(*)::integer,
           coalesce(sum(trunc(c.at_capacity_ms * c.share)), 0)::bigint,
           coalesce(sum(trunc(c.idle_ms * c.share)), 0)::bigint
      FROM (SELECT w.agent_id, w.status_id,
                   greatest(w.started_at, r.lo) AS lo,
                   least(coalesce(w.ended_at, greatest(now(), w.started_at)), r.hi) AS hi,
                   w.at_capacity_ms, w.idle_ms,
                   CASE WHEN w.ended_at IS NULL OR w.ended_at = w.started_at THEN 0
                        ELSE extract(epoch FROM least(w.ended_at, r.hi) - greatest(w.started_at, r.lo))
                             / extract(epoch FROM w.ended_at - w.started_at) END AS share
              FROM (SELECT p_day::timestamp AT TIME ZONE 'UTC' AS lo,
                           (p_day + 1)::timestamp AT TIME ZONE 'UTC' AS hi) r,
                   LATERAL public.spells_window(r.lo, r.hi) w
             WHERE w.deleted_at IS NULL) c
     WHERE c.hi > c.lo
     GROUP BY c.agent_id, c.status_id
$$;


--
-- Name: spell_rollup_totals_from(date); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.spell_rollup_totals_from(p_day date) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    v_day  date;
    v_prev date := (SELECT max(t.day) FROM spell_rollup_totals t WHERE t.day < p_day);
BEGIN
    DELETE FROM spell_rollup_totals WHERE day >= p_day;
    FOR v_day IN SELECT d.day FROM spell_rollup_days d WHERE d.day >= p_day ORDER BY d.day LOOP
        INSERT INTO spell_rollup_totals (day, agent_id, status_id, seconds, spells, at_capacity_ms, idle_ms)
        SELECT v_day, agent_id, status_id,
               coalesce(t.seconds, 0) + coalesce(r.seconds, 0),
               coalesce(t.spells, 0) + coalesce(r.spells, 0),
               coalesce(t.at_capacity_ms, 0) + coalesce(r.at_capacity_ms, 0),
               coalesce(t.idle_ms, 0) + coalesce(r.idle_ms, 0)
          FROM (SELECT * FROM spell_rollup_totals WHERE day = v_prev) t
          FULL JOIN (SELECT * FROM spell_rollups WHERE day = v_day) r USING (agent_id, status_id);
        v_prev := v_day;
    END LOOP;
END
$$;


--
-- Name: spells_capacity(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.spells_capacity() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'INSERT' AND (NEW.configured_capacity IS NULL OR NEW.configured_interrupt_capacity IS NULL) THEN
        SELECT coalesce(NEW.configured_capacity, a.capacity, 0),
               coalesce(NEW.configured_interrupt_capacity, a.interrupt_capacity, 0)
          INTO NEW.configured_capacity, NEW.configured_interrupt_capacity
          FROM (SELECT 1) one
          LEFT JOIN agents a ON a.id = NEW.agent_id;
    END IF;
    IF NEW.ended_at IS NOT NULL AND (TG_OP = 'INSERT'
            OR (NEW.started_at, NEW.ended_at) IS DISTINCT FROM (OLD.started_at, OLD.ended_at)) THEN
        -- The common case inline (a spell without any work: every
        -- presence change of an agent that takes no work), the same two
        -- probes as the function's own short cut, without the call.
        IF EXISTS (SELECT 1 FROM work_items i
                    WHERE i.agent_id = NEW.agent_id AND i.closed_at IS NULL AND i.assigned_at < NEW.ended_at)
           OR EXISTS (SELECT 1 FROM work_items i
                       WHERE i.agent_id = NEW.agent_id AND i.closed_at > NEW.started_at AND i.assigned_at < NEW.ended_at) THEN
            SELECT f.at_capacity_ms, f.idle_ms, f.average_capacity
              INTO NEW.at_capacity_ms, NEW.idle_ms, NEW.average_capacity
              FROM spell_capacity_figures(NEW.agent_id, NEW.started_at, NEW.ended_at, NEW.configured_capacity) f;
        ELSE
            NEW.at_capacity_ms := 0;
            NEW.idle_ms := trunc(extract(epoch FROM NEW.ended_at - NEW.started_at) * 1000);
            NEW.average_capacity := 0;
        END IF;
    END IF;
    RETURN NEW;
END
$$;


--
-- Name: spells_current_forget(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.spells_current_forget() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE spells_current;
        RETURN NULL;
    END IF;
    IF OLD.ended_at IS NULL THEN
        DELETE FROM spells_current c WHERE c.agent_id = OLD.agent_id AND c.spell_id = OLD.id;
    END IF;
    RETURN OLD;
END
$$;


--
-- Name: spells_event(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.spells_event() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.deleted_at IS DISTINCT FROM OLD.deleted_at THEN
        PERFORM admin_event(CASE WHEN NEW.deleted_at IS NULL THEN 'restore' ELSE 'delete' END,
                            'spell', NEW.id::text, NEW.agent_id);
    ELSIF NEW.ended_at IS NULL AND (TG_OP = 'INSERT'
            OR (NEW.status_id, NEW.message, NEW.reason_code)
               IS DISTINCT FROM (OLD.status_id, OLD.message, OLD.reason_code)) THEN
        PERFORM event_append('agents.' || NEW.agent_id || '.presence', 'presence',
                             presence_record_json(NEW.agent_id));
    END IF;
    RETURN NULL;
END
$$;


--
-- Name: spells_history(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.spells_history() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    -- Days before this one may have been rolled up; today has not.
    v_today timestamptz := date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    v_from  timestamptz; -- a current spell's change reaches back to here
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.deleted_at IS NULL AND OLD.ended_at - OLD.started_at > spells_lookback() THEN
        DELETE FROM spells_long WHERE id = OLD.id;
    END IF;
    IF NEW.deleted_at IS NULL AND NEW.ended_at - NEW.started_at > spells_lookback() THEN
        INSERT INTO spells_long (id, agent_id, started_at, ended_at)
        VALUES (NEW.id, NEW.agent_id, NEW.started_at, NEW.ended_at);
    END IF;
    -- A closed spell inserted into the past (an import) marks its days
    -- up to the last one rolled up.
    IF TG_OP = 'INSERT' AND NEW.ended_at IS NOT NULL AND NEW.deleted_at IS NULL THEN
        INSERT INTO spell_rollup_dirty (day)
        SELECT d::date FROM generate_series((NEW.started_at AT TIME ZONE 'UTC')::date,
                                            (NEW.ended_at AT TIME ZONE 'UTC')::date, interval '1 day') d
        WHERE d::date <= (SELECT max(r.day) FROM spell_rollup_days r)
        ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.deleted_at IS DISTINCT FROM OLD.deleted_at
            OR (OLD.ended_at IS NOT NULL AND (NEW.started_at, NEW.ended_at) IS DISTINCT FROM (OLD.started_at, OLD.ended_at))) THEN
        INSERT INTO spell_rollup_dirty (day)
        SELECT d::date FROM generate_series((least(OLD.started_at, NEW.started_at) AT TIME ZONE 'UTC')::date,
                                            (greatest(coalesce(OLD.ended_at, now()), coalesce(NEW.ended_at, now())) AT TIME ZONE 'UTC')::date,
                                            interval '1 day') d
        WHERE d::date IN (SELECT r.day FROM spell_rollup_days r)
        ON CONFLICT DO NOTHING;
    END IF;
    -- The close of a current spell, or a current spell inserted, before
    -- today: the rolled-up days from then on counted the spell that was
    -- current then to their ends.
    IF TG_OP = 'UPDATE' AND OLD.ended_at IS NULL AND NEW.ended_at < v_today THEN
        v_from := NEW.ended_at;
    ELSIF TG_OP = 'INSERT' AND NEW.ended_at IS NULL AND NEW.deleted_at IS NULL AND NEW.started_at < v_today THEN
        v_from := NEW.started_at;
    END IF;
    IF v_from IS NOT NULL THEN
        INSERT INTO spell_rollup_dirty (day)
        SELECT r.day FROM spell_rollup_days r WHERE r.day >= (v_from AT TIME ZONE 'UTC')::date
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;


--
-- Name: spells_lookback(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.spells_lookback() RETURNS interval
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT interval '2 hours' $$;


--
-- Name: spells_month(timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.spells_month(t timestamp with time zone) RETURNS timestamp with time zone
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT date_trunc('month', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' $$;


--
-- Name: spells_no_overlap(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.spells_no_overlap() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_end      timestamptz := coalesce(NEW.ended_at, 'infinity');
    -- Whether the row becomes current, or current under a new key.
    v_point    boolean := NEW.ended_at IS NULL
        AND (TG_OP = 'INSERT' OR OLD.ended_at IS NOT NULL
             OR (NEW.agent_id, NEW.started_at) IS DISTINCT FROM (OLD.agent_id, OLD.started_at));
    -- Whether the row may overlap something new: live, not empty, and not
    -- a live spell of the same agent that only shrank (closing the
    -- current spell: every presence change).
    v_check    boolean := NEW.deleted_at IS NULL AND v_end > NEW.started_at
        AND NOT (TG_OP = 'UPDATE' AND OLD.deleted_at IS NULL AND NEW.agent_id = OLD.agent_id
                 AND NEW.started_at >= OLD.started_at AND v_end <= coalesce(OLD.ended_at, 'infinity'));
    v_prev_end timestamptz;
BEGIN
    -- spells_current follows every row whose ended_at is NULL, deleted or
    -- not (what presence_records and presence_apply call current). A
    -- current spell that ends (or changes agent) leaves it here.
    IF TG_OP = 'UPDATE' AND OLD.ended_at IS NULL
       AND (NEW.ended_at IS NOT NULL OR NEW.agent_id IS DISTINCT FROM OLD.agent_id) THEN
        DELETE FROM spells_current c WHERE c.agent_id = OLD.agent_id AND c.spell_id = OLD.id;
    END IF;
    IF NOT v_point AND NOT v_check THEN
        RETURN NEW;
    END IF;
    IF v_check AND current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'spells are checked for overlaps at READ COMMITTED or SERIALIZABLE, not REPEATABLE READ'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Write spells in a READ COMMITTED or SERIALIZABLE transaction.';
    END IF;
    -- Serialise with every other writer of this agent's spells (a no-op
    -- inside presence_apply(), which holds the row lock), before
    -- spells_current's row: always the agent first, then the key.
    PERFORM 1 FROM agents a WHERE a.id = NEW.agent_id FOR NO KEY UPDATE;
    -- A spell that becomes current takes the agent's row. The primary key
    -- keeps one per agent: a second current spell of the agent (any
    -- month) overlaps the first, the same violation as below. On conflict,
    -- the row of the same spell (moved to another partition, whose BEFORE
    -- DELETE trigger removed it, or given a new started_at) takes the new
    -- key.
    IF v_point THEN
        INSERT INTO spells_current AS c (agent_id, spell_id, started_at)
        VALUES (NEW.agent_id, NEW.id, NEW.started_at)
        ON CONFLICT (agent_id) DO UPDATE SET started_at = excluded.started_at
        WHERE c.spell_id = excluded.spell_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'spell % of agent % overlaps its current spell', NEW.id, NEW.agent_id
                USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'spells_no_overlap';
        END IF;
    END IF;
    IF NOT v_check THEN
        RETURN NEW;
    END IF;
    -- The last live spell to start in the look-back before this one: the
    -- only one of them that may reach into it.
    SELECT coalesce(t.ended_at, 'infinity') INTO v_prev_end
      FROM spells t
     WHERE t.agent_id = NEW.agent_id
       AND t.started_at >= NEW.started_at - spells_lookback() AND t.started_at < NEW.started_at
       AND t.deleted_at IS NULL AND t.id <> NEW.id
       AND (t.ended_at IS NULL OR t.ended_at > t.started_at)
     ORDER BY t.started_at DESC
     LIMIT 1;
    IF v_prev_end > NEW.started_at
       OR EXISTS (
            SELECT 1 FROM spells t
             WHERE t.agent_id = NEW.agent_id AND t.started_at >= NEW.started_at AND t.started_at < v_end
               AND t.deleted_at IS NULL AND t.id <> NEW.id
               AND (t.ended_at IS NULL OR t.ended_at > t.started_at))
       OR EXISTS (
            SELECT 1 FROM spells_long l
             WHERE l.agent_id = NEW.agent_id AND l.ended_at > NEW.started_at
               AND l.started_at < v_end AND l.id <> NEW.id)
       OR (NEW.ended_at IS NOT NULL AND EXISTS (
            SELECT 1 FROM spells_current c JOIN spells s ON s.id = c.spell_id AND s.started_at = c.started_at
             WHERE c.agent_id = NEW.agent_id AND c.started_at < v_end AND c.spell_id <> NEW.id
               AND s.deleted_at IS NULL)) THEN
        RAISE EXCEPTION 'spell % of agent % overlaps another spell of the agent', NEW.id, NEW.agent_id
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'spells_no_overlap';
    END IF;
    RETURN NEW;
END
$$;


--
-- Name: spells_partition_create(timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.spells_partition_create(p_at timestamp with time zone) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    v_lo   timestamptz := spells_month(p_at);
    v_name text := 'spells_p' || to_char(v_lo AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
    IF to_regclass(v_name) IS NOT NULL THEN
        RETURN v_name;
    END IF;
    EXECUTE format('CREATE TABLE public.%I PARTITION OF public.spells FOR VALUES FROM (%L) TO (%L)',
                   v_name, v_lo, v_lo + interval '1 month');
    RETURN v_name;
END
$$;


--
-- Name: spells_partitions_ensure(timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.spells_partitions_ensure(p_from timestamp with time zone, p_to timestamp with time zone) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'public', 'pg_temp'
    AS $$
DECLARE
    v_m timestamptz := spells_month(p_from);
BEGIN
    WHILE v_m <= p_to LOOP
        PERFORM spells_partition_create(v_m);
        v_m := v_m + interval '1 month';
    END LOOP;
END
$$;


--
-- Name: spells_window(timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.spells_window(p_from timestamp with time zone, p_to timestamp with time zone) RETURNS SETOF public.spells
    LANGUAGE sql STABLE
    AS $$
    SELECT s.* FROM public.spells s
     WHERE s.started_at >= p_from - public.spells_lookback() AND s.started_at < p_to
       AND (s.ended_at IS NULL OR s.ended_at > p_from)
    UNION ALL
    SELECT s.* FROM public.spells_long l
      JOIN public.spells s ON s.id = l.id AND s.started_at = l.started_at
     WHERE tstzrange(l.started_at, l.ended_at, '[)') && tstzrange(p_from, p_to, '[)')
       AND l.started_at < p_from - public.spells_lookback()
    UNION ALL
    SELECT s.* FROM public.spells s
     WHERE s.ended_at IS NULL AND s.started_at < p_from - public.spells_lookback()
$$;


--
-- Name: statuses_event(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.statuses_event() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM event_append('statuses', 'status', jsonb_build_object(
        'action', CASE WHEN TG_OP = 'INSERT' THEN 'create'
                       WHEN NEW.deleted_at IS NOT NULL THEN 'delete' ELSE 'update' END,
        'id', NEW.id, 'label', NEW.label, 'system_presence', NEW.system_presence,
        'is_away', NEW.is_away, 'built_in', NEW.built_in));
    RETURN NULL;
END
$$;


--
-- Name: token_live(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.token_live(p_id text) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
    SELECT EXISTS (SELECT 1 FROM tokens k WHERE k.id = p_id AND k.revoked_at IS NULL)
$$;


--
-- Name: tokens_event(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tokens_event() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM admin_event('create', 'token', NEW.id, NEW.agent_id);
    ELSIF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
        PERFORM admin_event('revoke', 'token', NEW.id, NEW.agent_id);
    END IF;
    RETURN NULL;
END
$$;


--
-- Name: work_items_publish(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.work_items_publish() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM agent_states ls
                WHERE ls.agent_id = NEW.agent_id
                  AND ls.routing_status <> CASE WHEN cardinality(ls.queues) = 0 THEN 'OFF_QUEUE'
                                                WHEN ls.capacity_in_use + ls.interrupt_in_use > 0 THEN 'INTERACTING'
                                                ELSE 'IDLE' END) THEN
        PERFORM agent_states_refresh(NEW.agent_id);
    END IF;
    PERFORM event_append('agents.' || NEW.agent_id || '.capacity', 'capacity',
        capacity_event_json(NEW.agent_id, jsonb_build_object(
            'action', CASE WHEN TG_OP = 'INSERT' THEN 'assign'
                           WHEN NEW.close_reason = 'closed' THEN 'close'
                           WHEN NEW.close_reason = 'released' THEN 'release'
                           ELSE NEW.close_reason END,
            'work_id', NEW.id, 'channel', NEW.channel, 'units', NEW.units,
            'interruptible', NEW.interruptible, 'reason_code', NEW.reason_code)));
    RETURN NULL;
END
$$;


--
-- Name: work_items_usage(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.work_items_usage() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO agent_states AS s (agent_id, capacity_in_use, interrupt_in_use)
    SELECT NEW.agent_id,
           coalesce(sum(i.units) FILTER (WHERE NOT i.interruptible), 0),
           coalesce(sum(i.units) FILTER (WHERE i.interruptible), 0)
      FROM work_items i
     WHERE i.agent_id = NEW.agent_id AND i.closed_at IS NULL
    ON CONFLICT (agent_id) DO UPDATE
       SET capacity_in_use = excluded.capacity_in_use, interrupt_in_use = excluded.interrupt_in_use;
    IF TG_OP = 'UPDATE' AND NEW.close_reason = 'released' THEN
        PERFORM admin_event('release', 'work', NEW.id, NEW.agent_id);
    END IF;
    RETURN NULL;
END
$$;


--
-- Name: capacity_figures(text, timestamp with time zone, timestamp with time zone, integer); Type: FUNCTION; Schema: report; Owner: -
--

CREATE FUNCTION report.capacity_figures(p_agent text, p_from timestamp with time zone, p_to timestamp with time zone, p_capacity integer, OUT at_capacity_ms bigint, OUT idle_ms bigint, OUT average_capacity double precision) RETURNS record
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT f.at_capacity_ms, f.idle_ms, f.average_capacity
    FROM public.spell_capacity_figures(p_agent, p_from, p_to, p_capacity) f
$$;


--
-- Name: status_time(timestamp with time zone, timestamp with time zone, text); Type: FUNCTION; Schema: report; Owner: -
--

CREATE FUNCTION report.status_time(p_from timestamp with time zone, p_to timestamp with time zone, p_tz text) RETURNS TABLE(agent_id text, day date, status_id text, status_label text, system_presence text, seconds numeric)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET work_mem TO '64MB'
    SET jit TO 'off'
    AS $$
    WITH days AS (
        SELECT d::date AS day,
               greatest(p_from, d AT TIME ZONE p_tz) AS lo,
               least(p_to, (d + interval '1 day') AT TIME ZONE p_tz) AS hi,
               d AT TIME ZONE p_tz AS day_lo,
               (d + interval '1 day') AT TIME ZONE p_tz AS day_hi
          FROM pg_catalog.generate_series((p_from AT TIME ZONE p_tz)::date::timestamp,
                                          (p_to AT TIME ZONE p_tz)::date::timestamp, interval '1 day') d
    ), plan AS (
        SELECT dd.day, dd.lo, dd.hi, u.day AS utc_day,
               u.day::timestamp AT TIME ZONE 'UTC' AS u_lo,
               (u.day + 1)::timestamp AT TIME ZONE 'UTC' AS u_hi
          FROM days dd
          LEFT JOIN public.spell_rollup_days u
            ON dd.lo = dd.day_lo AND dd.hi = dd.day_hi
           AND u.day = ((dd.day_lo + (dd.day_hi - dd.day_lo) / 2) AT TIME ZONE 'UTC')::date
           AND u.rolled_at >= (u.day + 1)::timestamp AT TIME ZONE 'UTC'
           AND NOT EXISTS (SELECT 1 FROM public.spell_rollup_dirty x WHERE x.day = u.day)
         WHERE dd.hi > dd.lo
    ), segments AS (
        SELECT p.day, p.lo, p.hi, 1 AS sign FROM plan p WHERE p.utc_day IS NULL
        UNION ALL
        SELECT p.day, e.lo, e.hi, e.sign
          FROM plan p,
               LATERAL (VALUES (p.lo, least(p.hi, p.u_lo), 1),
                               (greatest(p.lo, p.u_hi), p.hi, 1),
                               (p.u_lo, least(p.u_hi, p.lo), -1),
                               (greatest(p.u_lo, p.hi), p.u_hi, -1)) e (lo, hi, sign)
         WHERE p.utc_day IS NOT NULL AND e.hi > e.lo
    ), corrections AS (
        -- The spells of the segments, grouped on their own: in microseconds
        -- (bigint sums, exact), made seconds once a group.
        SELECT w.agent_id, g.day, w.status_id,
               sum(g.sign * (date_part('epoch', least(coalesce(w.ended_at, now()), g.hi)
                                                - greatest(w.started_at, g.lo)) * 1000000)::bigint) AS us
          FROM segments g
          CROSS JOIN LATERAL public.spells_window(g.lo, g.hi) w
         WHERE w.deleted_at IS NULL
           AND least(coalesce(w.ended_at, now()), g.hi) > greatest(w.started_at, g.lo)
         GROUP BY w.agent_id, g.day, w.status_id
    ), rolled AS (
        -- A day's rows by the primary key: planned generically (a SQL
        -- function's parameters), the join was a scan of every rollup.
        SELECT r.agent_id, p.day, r.status_id, r.seconds
          FROM plan p
         CROSS JOIN LATERAL (SELECT r.agent_id, r.status_id, r.seconds
                               FROM public.spell_rollups r WHERE r.day = p.utc_day OFFSET 0) r
    ), sums AS (
        -- Joined, not grouped with the corrections: the rollup rows are
        -- most of the rows and need no aggregate.
        SELECT coalesce(a.agent_id, c.agent_id) AS agent_id, coalesce(a.day, c.day) AS day,
               coalesce(a.status_id, c.status_id) AS status_id,
               coalesce(a.seconds, 0) + coalesce(round(c.us::numeric / 1000000, 6), 0) AS seconds
          FROM rolled a
          FULL JOIN corrections c ON c.agent_id = a.agent_id AND c.day = a.day AND c.status_id = a.status_id
    )
    SELECT s.agent_id, s.day, s.status_id, st.label, st.system_presence, s.seconds
      FROM sums s
      JOIN public.statuses st ON st.id = s.status_id
     WHERE s.seconds > 0
     ORDER BY s.agent_id, s.day, s.status_id
$$;


--
-- Name: status_totals(date, date); Type: FUNCTION; Schema: report; Owner: -
--

CREATE FUNCTION report.status_totals(p_from date, p_to date) RETURNS TABLE(agent_id text, status_id text, status_label text, system_presence text, is_away boolean, seconds numeric, spells bigint, at_capacity_ms bigint, idle_ms bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET work_mem TO '64MB'
    SET jit TO 'off'
    AS $$
    SELECT x.agent_id, x.status_id, st.label, st.system_presence, st.is_away,
           x.seconds, x.spells, x.at_capacity_ms, x.idle_ms
      FROM (SELECT hi.agent_id, hi.status_id,
                   hi.seconds - coalesce(lo.seconds, 0) AS seconds,
                   hi.spells - coalesce(lo.spells, 0) AS spells,
                   hi.at_capacity_ms - coalesce(lo.at_capacity_ms, 0) AS at_capacity_ms,
                   hi.idle_ms - coalesce(lo.idle_ms, 0) AS idle_ms
              FROM public.spell_rollup_totals hi
              LEFT JOIN public.spell_rollup_totals lo
                ON lo.day = (SELECT max(t.day) FROM public.spell_rollup_totals t WHERE t.day < p_from)
               AND lo.agent_id = hi.agent_id AND lo.status_id = hi.status_id
             WHERE hi.day = (SELECT max(t.day) FROM public.spell_rollup_totals t WHERE t.day <= p_to)
               AND p_from <= p_to
               AND NOT EXISTS (SELECT 1 FROM public.spell_rollup_totals_pending p WHERE p.day <= p_to)
            UNION ALL
            SELECT r.agent_id, r.status_id, sum(r.seconds), sum(r.spells), sum(r.at_capacity_ms)::bigint, sum(r.idle_ms)::bigint
              FROM public.spell_rollups r
             WHERE r.day BETWEEN p_from AND p_to
               AND EXISTS (SELECT 1 FROM public.spell_rollup_totals_pending p WHERE p.day <= p_to)
             GROUP BY r.agent_id, r.status_id) x
      JOIN public.statuses st ON st.id = x.status_id
     WHERE x.spells > 0
$$;


--
-- Name: attributes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.attributes (
    agent_id text NOT NULL,
    category text NOT NULL,
    name text NOT NULL,
    value text NOT NULL COLLATE pg_catalog."C",
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT attributes_category_check CHECK (((length(category) >= 1) AND (length(category) <= 64))),
    CONSTRAINT attributes_name_check CHECK (((length(name) >= 1) AND (length(name) <= 128))),
    CONSTRAINT attributes_value_check CHECK ((length(value) <= 256))
);


--
-- Name: audit; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    actor text DEFAULT NULLIF(current_setting('presenced.actor'::text, true), ''::text),
    action text NOT NULL,
    target_type text NOT NULL,
    target_id text NOT NULL,
    agent_id text
);


--
-- Name: audit_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.audit ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.audit_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: channels; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.channels (
    id text DEFAULT (gen_random_uuid())::text NOT NULL,
    topics text[] NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    owner_token_id text
);


--
-- Name: event_fences; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.event_fences (
    epoch integer NOT NULL,
    xid xid8 NOT NULL,
    id bigint NOT NULL
);


--
-- Name: event_log_state; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.event_log_state (
    singleton boolean DEFAULT true NOT NULL,
    pruned_xid xid8 DEFAULT '0'::xid8 NOT NULL,
    pruned_id bigint DEFAULT 0 NOT NULL,
    CONSTRAINT event_log_state_singleton_check CHECK (singleton)
);


--
-- Name: events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.events (
    xid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    id bigint NOT NULL,
    topic text NOT NULL,
    kind text NOT NULL,
    at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    body jsonb NOT NULL,
    epoch integer DEFAULT public.event_epoch() NOT NULL
);


--
-- Name: events_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: geolocations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.geolocations (
    agent_id text NOT NULL,
    lat double precision NOT NULL,
    lon double precision NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT geolocations_lat_check CHECK (((lat >= ('-90'::integer)::double precision) AND (lat <= (90)::double precision))),
    CONSTRAINT geolocations_lon_check CHECK (((lon >= ('-180'::integer)::double precision) AND (lon <= (180)::double precision)))
);


--
-- Name: goose_db_version; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.goose_db_version (
    id integer NOT NULL,
    version_id bigint NOT NULL,
    is_applied boolean NOT NULL,
    tstamp timestamp without time zone DEFAULT now() NOT NULL
);


--
-- Name: goose_db_version_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.goose_db_version ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.goose_db_version_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: queue_memberships; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.queue_memberships (
    id bigint NOT NULL,
    agent_id text NOT NULL,
    queue_id text NOT NULL,
    joined_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    left_at timestamp with time zone,
    reason_code text,
    CONSTRAINT queue_memberships_check CHECK (((left_at IS NULL) OR (left_at >= joined_at))),
    CONSTRAINT queue_memberships_check1 CHECK (((left_at IS NOT NULL) OR (reason_code IS NULL))),
    CONSTRAINT queue_memberships_reason_code_check CHECK (((length(reason_code) >= 1) AND (length(reason_code) <= 64)))
);


--
-- Name: queue_memberships_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.queue_memberships ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.queue_memberships_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: queues; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.queues (
    id text NOT NULL,
    name text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT queues_id_check CHECK ((id ~ '^[A-Za-z0-9._@+-]{1,128}$'::text)),
    CONSTRAINT queues_name_check CHECK (((length(name) >= 1) AND (length(name) <= 200)))
);


--
-- Name: sessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.sessions (
    id text DEFAULT (gen_random_uuid())::text NOT NULL,
    agent_id text NOT NULL,
    client text,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    last_beat_at timestamp with time zone DEFAULT now() NOT NULL,
    idle boolean DEFAULT false NOT NULL,
    lost boolean DEFAULT false NOT NULL,
    ended_at timestamp with time zone,
    end_reason text,
    CONSTRAINT sessions_check CHECK (((ended_at IS NULL) = (end_reason IS NULL))),
    CONSTRAINT sessions_check1 CHECK (((ended_at IS NULL) OR (ended_at >= started_at))),
    CONSTRAINT sessions_client_check CHECK (((length(client) >= 1) AND (length(client) <= 200))),
    CONSTRAINT sessions_end_reason_check CHECK ((end_reason = ANY (ARRAY['logout'::text, 'agent_deleted'::text])))
)
WITH (fillfactor='70');


--
-- Name: spell_rollup_days; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.spell_rollup_days (
    day date NOT NULL,
    rolled_at timestamp with time zone DEFAULT now() NOT NULL,
    intervals boolean DEFAULT false NOT NULL
);


--
-- Name: spell_rollup_dirty; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.spell_rollup_dirty (
    day date NOT NULL
);


--
-- Name: spell_rollup_totals; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.spell_rollup_totals (
    day date NOT NULL,
    agent_id text NOT NULL,
    status_id text NOT NULL,
    seconds numeric NOT NULL,
    spells bigint NOT NULL,
    at_capacity_ms bigint NOT NULL,
    idle_ms bigint NOT NULL
);


--
-- Name: spell_rollup_totals_pending; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.spell_rollup_totals_pending (
    day date NOT NULL
);


--
-- Name: spells_current; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.spells_current (
    agent_id text NOT NULL,
    spell_id bigint NOT NULL,
    started_at timestamp with time zone NOT NULL
);


--
-- Name: TABLE spells_current; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.spells_current IS 'The key of each agent''s current spell (ended_at IS NULL), kept by the spells triggers; its primary key keeps one current spell per agent across the monthly partitions (migrations/00019).';


--
-- Name: spells_default; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.spells_default (
    id bigint NOT NULL,
    agent_id text NOT NULL,
    status_id text NOT NULL,
    source text NOT NULL,
    reason_code text,
    message text,
    started_at timestamp with time zone NOT NULL,
    ended_at timestamp with time zone,
    duration interval GENERATED ALWAYS AS ((ended_at - started_at)) STORED,
    is_current boolean GENERATED ALWAYS AS ((ended_at IS NULL)) STORED NOT NULL,
    at_capacity_ms bigint DEFAULT 0 NOT NULL,
    idle_ms bigint DEFAULT 0 NOT NULL,
    average_capacity double precision DEFAULT 0 NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    deleted_at timestamp with time zone,
    configured_capacity integer NOT NULL,
    configured_interrupt_capacity integer NOT NULL,
    CONSTRAINT spells_at_capacity_ms_check1 CHECK ((at_capacity_ms >= 0)),
    CONSTRAINT spells_average_capacity_check1 CHECK ((average_capacity >= (0)::double precision)),
    CONSTRAINT spells_check1 CHECK (((ended_at IS NULL) OR (ended_at >= started_at))),
    CONSTRAINT spells_configured_capacity_check1 CHECK ((configured_capacity >= 0)),
    CONSTRAINT spells_configured_interrupt_capacity_check1 CHECK ((configured_interrupt_capacity >= 0)),
    CONSTRAINT spells_idle_ms_check1 CHECK ((idle_ms >= 0)),
    CONSTRAINT spells_message_check1 CHECK ((length(message) <= 500)),
    CONSTRAINT spells_reason_code_check1 CHECK ((length(reason_code) <= 64)),
    CONSTRAINT spells_source_check1 CHECK ((source = ANY (ARRAY['manual'::text, 'automatic'::text, 'system'::text])))
);


--
-- Name: spells_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.spells ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.spells_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: spells_long; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.spells_long (
    id bigint NOT NULL,
    agent_id text NOT NULL,
    started_at timestamp with time zone NOT NULL,
    ended_at timestamp with time zone NOT NULL
);


--
-- Name: tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tokens (
    id text DEFAULT (gen_random_uuid())::text NOT NULL,
    name text DEFAULT ''::text NOT NULL,
    secret_hash bytea NOT NULL,
    scopes text[] NOT NULL,
    agent_id text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    created_by text DEFAULT NULLIF(current_setting('presenced.actor'::text, true), ''::text),
    revoked_at timestamp with time zone,
    revoked_by text,
    expires_at timestamp with time zone,
    CONSTRAINT tokens_agent_id_check CHECK ((agent_id ~ '^[A-Za-z0-9._@+-]{1,128}$'::text)),
    CONSTRAINT tokens_check CHECK (((agent_id IS NULL) OR (NOT ('admin'::text = ANY (scopes))))),
    CONSTRAINT tokens_name_check CHECK ((length(name) <= 200)),
    CONSTRAINT tokens_scopes_check CHECK (((cardinality(scopes) >= 1) AND (scopes <@ ARRAY['presence:read'::text, 'presence:read:all'::text, 'presence:write'::text, 'admin'::text]))),
    CONSTRAINT tokens_secret_hash_check CHECK ((length(secret_hash) = 32))
);


--
-- Name: work_items; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.work_items (
    id text DEFAULT (gen_random_uuid())::text NOT NULL,
    agent_id text NOT NULL,
    channel text NOT NULL,
    units integer NOT NULL,
    interruptible boolean DEFAULT false NOT NULL,
    assigned_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    closed_at timestamp with time zone,
    close_reason text,
    reason_code text,
    CONSTRAINT work_items_channel_check CHECK ((channel ~ '^[A-Za-z0-9._@+-]{1,128}$'::text)),
    CONSTRAINT work_items_check CHECK (((closed_at IS NULL) = (close_reason IS NULL))),
    CONSTRAINT work_items_check1 CHECK (((closed_at IS NULL) OR (closed_at >= assigned_at))),
    CONSTRAINT work_items_check2 CHECK (((closed_at IS NOT NULL) OR (reason_code IS NULL))),
    CONSTRAINT work_items_close_reason_check CHECK ((close_reason = ANY (ARRAY['closed'::text, 'released'::text, 'agent_deleted'::text]))),
    CONSTRAINT work_items_id_check CHECK ((id ~ '^[A-Za-z0-9._@+-]{1,128}$'::text)),
    CONSTRAINT work_items_reason_code_check CHECK (((length(reason_code) >= 1) AND (length(reason_code) <= 64))),
    CONSTRAINT work_items_units_check CHECK (((units >= 1) AND (units <= 1000)))
);


--
-- Name: audit; Type: VIEW; Schema: report; Owner: -
--

CREATE VIEW report.audit AS
 SELECT audit.id,
    audit.at,
    audit.actor AS actor_token_id,
    audit.action,
    audit.target_type,
    audit.target_id,
    audit.agent_id
   FROM public.audit;


--
-- Name: current_presence; Type: VIEW; Schema: report; Owner: -
--

CREATE VIEW report.current_presence AS
 SELECT r.agent_id,
    a.name AS agent_name,
    r.status_id,
    r.status_label,
    r.system_presence,
    r.is_away,
    r.state,
    r.routing_status,
    r.since
   FROM (public.presence_records r
     JOIN public.agents a ON ((a.id = r.agent_id)))
  WHERE (a.deleted_at IS NULL);


--
-- Name: daily_status; Type: VIEW; Schema: report; Owner: -
--

CREATE VIEW report.daily_status AS
 SELECT r.day,
    r.agent_id,
    r.status_id,
    st.label AS status_label,
    st.system_presence,
    st.is_away,
    r.seconds,
    r.spells,
    r.at_capacity_ms,
    r.idle_ms
   FROM (public.spell_rollups r
     JOIN public.statuses st ON ((st.id = r.status_id)));


--
-- Name: daily_status_days; Type: VIEW; Schema: report; Owner: -
--

CREATE VIEW report.daily_status_days AS
 SELECT d.day,
    d.rolled_at,
    (x.day IS NOT NULL) AS stale
   FROM (public.spell_rollup_days d
     LEFT JOIN public.spell_rollup_dirty x ON ((x.day = d.day)));


--
-- Name: interval_status; Type: VIEW; Schema: report; Owner: -
--

CREATE VIEW report.interval_status AS
 SELECT i.starts_at,
    (i.starts_at + '00:15:00'::interval) AS ends_at,
    i.status_id,
    st.label AS status_label,
    st.system_presence,
    st.is_away,
    i.spells,
    i.seconds,
    i.agents
   FROM (public.spell_rollup_intervals i
     JOIN public.statuses st ON ((st.id = i.status_id)));


--
-- Name: queue_memberships; Type: VIEW; Schema: report; Owner: -
--

CREATE VIEW report.queue_memberships AS
 SELECT m.id,
    m.agent_id,
    m.queue_id,
    q.name AS queue_name,
    m.joined_at,
    m.left_at,
    ((EXTRACT(epoch FROM (m.left_at - m.joined_at)) * (1000)::numeric))::bigint AS duration_ms,
    (m.left_at IS NULL) AS is_current,
    m.reason_code
   FROM (public.queue_memberships m
     JOIN public.queues q ON ((q.id = m.queue_id)));


--
-- Name: sessions; Type: VIEW; Schema: report; Owner: -
--

CREATE VIEW report.sessions AS
 SELECT s.id,
    s.agent_id,
    s.client,
    s.started_at,
    s.ended_at,
    ((EXTRACT(epoch FROM (s.ended_at - s.started_at)) * (1000)::numeric))::bigint AS duration_ms,
    (s.ended_at IS NULL) AS is_open,
    s.end_reason
   FROM public.sessions s;


--
-- Name: spells; Type: VIEW; Schema: report; Owner: -
--

CREATE VIEW report.spells AS
 SELECT s.id,
    s.agent_id,
    s.status_id,
    st.label AS status_label,
    st.system_presence,
    st.is_away,
    s.source,
    s.reason_code,
    s.message,
    s.started_at,
    s.ended_at,
    ((EXTRACT(epoch FROM s.duration) * (1000)::numeric))::bigint AS duration_ms,
    s.is_current,
    s.at_capacity_ms,
    s.idle_ms,
    s.average_capacity,
    s.updated_at,
    s.deleted_at,
    s.configured_capacity,
    s.configured_interrupt_capacity
   FROM (public.spells s
     JOIN public.statuses st ON ((st.id = s.status_id)))
  WHERE ((s.deleted_at IS NULL) AND (s.ended_at IS NOT NULL))
UNION ALL
 SELECT s.id,
    s.agent_id,
    s.status_id,
    st.label AS status_label,
    st.system_presence,
    st.is_away,
    s.source,
    s.reason_code,
    s.message,
    s.started_at,
    s.ended_at,
    ((EXTRACT(epoch FROM s.duration) * (1000)::numeric))::bigint AS duration_ms,
    s.is_current,
    f.at_capacity_ms,
    f.idle_ms,
    f.average_capacity,
    s.updated_at,
    s.deleted_at,
    s.configured_capacity,
    s.configured_interrupt_capacity
   FROM ((public.spells s
     JOIN public.statuses st ON ((st.id = s.status_id)))
     CROSS JOIN LATERAL report.capacity_figures(s.agent_id, s.started_at, GREATEST(now(), s.started_at), s.configured_capacity) f(at_capacity_ms, idle_ms, average_capacity))
  WHERE ((s.deleted_at IS NULL) AND (s.ended_at IS NULL));


--
-- Name: work_items; Type: VIEW; Schema: report; Owner: -
--

CREATE VIEW report.work_items AS
 SELECT w.id,
    w.agent_id,
    w.channel,
    w.units,
    w.interruptible,
    w.assigned_at,
    w.closed_at,
    ((EXTRACT(epoch FROM (w.closed_at - w.assigned_at)) * (1000)::numeric))::bigint AS duration_ms,
    (w.closed_at IS NULL) AS is_open,
    w.close_reason,
    w.reason_code
   FROM public.work_items w;


--
-- Name: spells_default; Type: TABLE ATTACH; Schema: public; Owner: -
--

ALTER TABLE ONLY public.spells ATTACH PARTITION public.spells_default DEFAULT;


--
-- Name: agent_states agent_states_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.agent_states
    ADD CONSTRAINT agent_states_pkey PRIMARY KEY (agent_id);


--
-- Name: agents agents_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.agents
    ADD CONSTRAINT agents_pkey PRIMARY KEY (id);


--
-- Name: attributes attributes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.attributes
    ADD CONSTRAINT attributes_pkey PRIMARY KEY (agent_id, category, name) INCLUDE (value);


--
-- Name: audit audit_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit
    ADD CONSTRAINT audit_pkey PRIMARY KEY (id);


--
-- Name: channels channels_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.channels
    ADD CONSTRAINT channels_pkey PRIMARY KEY (id);


--
-- Name: event_fences event_fences_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.event_fences
    ADD CONSTRAINT event_fences_pkey PRIMARY KEY (epoch);


--
-- Name: event_log_state event_log_state_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.event_log_state
    ADD CONSTRAINT event_log_state_pkey PRIMARY KEY (singleton);


--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (xid, id);


--
-- Name: geolocations geolocations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.geolocations
    ADD CONSTRAINT geolocations_pkey PRIMARY KEY (agent_id);


--
-- Name: goose_db_version goose_db_version_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.goose_db_version
    ADD CONSTRAINT goose_db_version_pkey PRIMARY KEY (id);


--
-- Name: queue_memberships queue_memberships_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_memberships
    ADD CONSTRAINT queue_memberships_pkey PRIMARY KEY (id);


--
-- Name: queues queues_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queues
    ADD CONSTRAINT queues_pkey PRIMARY KEY (id);


--
-- Name: sessions sessions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sessions
    ADD CONSTRAINT sessions_pkey PRIMARY KEY (id);


--
-- Name: spell_rollup_days spell_rollup_days_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.spell_rollup_days
    ADD CONSTRAINT spell_rollup_days_pkey PRIMARY KEY (day);


--
-- Name: spell_rollup_dirty spell_rollup_dirty_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.spell_rollup_dirty
    ADD CONSTRAINT spell_rollup_dirty_pkey PRIMARY KEY (day);


--
-- Name: spell_rollup_intervals spell_rollup_intervals_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.spell_rollup_intervals
    ADD CONSTRAINT spell_rollup_intervals_pkey PRIMARY KEY (starts_at, status_id);


--
-- Name: spell_rollup_totals_pending spell_rollup_totals_pending_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.spell_rollup_totals_pending
    ADD CONSTRAINT spell_rollup_totals_pending_pkey PRIMARY KEY (day);


--
-- Name: spell_rollup_totals spell_rollup_totals_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.spell_rollup_totals
    ADD CONSTRAINT spell_rollup_totals_pkey PRIMARY KEY (day, agent_id, status_id);


--
-- Name: spell_rollups spell_rollups_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.spell_rollups
    ADD CONSTRAINT spell_rollups_pkey PRIMARY KEY (day, agent_id, status_id);


--
-- Name: spells_current spells_current_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.spells_current
    ADD CONSTRAINT spells_current_pkey PRIMARY KEY (agent_id);


--
-- Name: spells spells_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.spells
    ADD CONSTRAINT spells_pkey PRIMARY KEY (id, started_at);


--
-- Name: spells_default spells_default_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.spells_default
    ADD CONSTRAINT spells_default_pkey PRIMARY KEY (id, started_at);


--
-- Name: spells_long spells_long_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.spells_long
    ADD CONSTRAINT spells_long_pkey PRIMARY KEY (id);


--
-- Name: statuses statuses_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.statuses
    ADD CONSTRAINT statuses_pkey PRIMARY KEY (id);


--
-- Name: tokens tokens_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tokens
    ADD CONSTRAINT tokens_pkey PRIMARY KEY (id);


--
-- Name: tokens tokens_secret_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tokens
    ADD CONSTRAINT tokens_secret_hash_key UNIQUE (secret_hash);


--
-- Name: work_items work_items_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.work_items
    ADD CONSTRAINT work_items_pkey PRIMARY KEY (id);


--
-- Name: agent_states_routing_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX agent_states_routing_idx ON public.agent_states USING btree (routing_status);


--
-- Name: agent_states_state_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX agent_states_state_idx ON public.agent_states USING btree (state);


--
-- Name: agents_deleted_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX agents_deleted_at_idx ON public.agents USING btree (deleted_at, id) WHERE (deleted_at IS NOT NULL);


--
-- Name: agents_updated_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX agents_updated_at_idx ON public.agents USING btree (updated_at, id);


--
-- Name: attributes_search_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX attributes_search_idx ON public.attributes USING btree (category, name, value, agent_id);


--
-- Name: audit_actor_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX audit_actor_idx ON public.audit USING btree (actor, id);


--
-- Name: events_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_at_idx ON public.events USING btree (at);


--
-- Name: queue_memberships_agent_joined_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX queue_memberships_agent_joined_idx ON public.queue_memberships USING btree (agent_id, joined_at);


--
-- Name: queue_memberships_current_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX queue_memberships_current_idx ON public.queue_memberships USING btree (agent_id, queue_id) WHERE (left_at IS NULL);


--
-- Name: queue_memberships_queue_current_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX queue_memberships_queue_current_idx ON public.queue_memberships USING btree (queue_id) WHERE (left_at IS NULL);


--
-- Name: sessions_open_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX sessions_open_idx ON public.sessions USING btree (agent_id) WHERE (ended_at IS NULL);


--
-- Name: spells_agent_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX spells_agent_id_idx ON ONLY public.spells USING btree (agent_id, id);


--
-- Name: spells_agent_started_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX spells_agent_started_idx ON ONLY public.spells USING btree (agent_id, started_at);


--
-- Name: spells_current_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX spells_current_id_idx ON ONLY public.spells USING btree (id) WHERE (ended_at IS NULL);


--
-- Name: spells_current_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX spells_current_idx ON ONLY public.spells USING btree (agent_id) WHERE (ended_at IS NULL);


--
-- Name: spells_default_agent_id_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX spells_default_agent_id_id_idx ON public.spells_default USING btree (agent_id, id);


--
-- Name: spells_default_agent_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX spells_default_agent_id_idx ON public.spells_default USING btree (agent_id) WHERE (ended_at IS NULL);


--
-- Name: spells_default_agent_id_started_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX spells_default_agent_id_started_at_idx ON public.spells_default USING btree (agent_id, started_at);


--
-- Name: spells_deleted_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX spells_deleted_at_idx ON ONLY public.spells USING btree (deleted_at, id) WHERE (deleted_at IS NOT NULL);


--
-- Name: spells_default_deleted_at_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX spells_default_deleted_at_id_idx ON public.spells_default USING btree (deleted_at, id) WHERE (deleted_at IS NOT NULL);


--
-- Name: spells_default_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX spells_default_id_idx ON public.spells_default USING btree (id) WHERE (ended_at IS NULL);


--
-- Name: spells_started_brin; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX spells_started_brin ON ONLY public.spells USING brin (started_at);


--
-- Name: spells_default_started_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX spells_default_started_at_idx ON public.spells_default USING brin (started_at);


--
-- Name: spells_updated_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX spells_updated_at_idx ON ONLY public.spells USING btree (updated_at, id);


--
-- Name: spells_default_updated_at_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX spells_default_updated_at_id_idx ON public.spells_default USING btree (updated_at, id);


--
-- Name: spells_long_agent_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX spells_long_agent_idx ON public.spells_long USING btree (agent_id, ended_at);


--
-- Name: spells_long_range_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX spells_long_range_idx ON public.spells_long USING gist (tstzrange(started_at, ended_at, '[)'::text));


--
-- Name: tokens_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tokens_created_idx ON public.tokens USING btree (created_at, id);


--
-- Name: work_items_agent_closed_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX work_items_agent_closed_idx ON public.work_items USING btree (agent_id, closed_at);


--
-- Name: spells_default_agent_id_id_idx; Type: INDEX ATTACH; Schema: public; Owner: -
--

ALTER INDEX public.spells_agent_id_idx ATTACH PARTITION public.spells_default_agent_id_id_idx;


--
-- Name: spells_default_agent_id_idx; Type: INDEX ATTACH; Schema: public; Owner: -
--

ALTER INDEX public.spells_current_idx ATTACH PARTITION public.spells_default_agent_id_idx;


--
-- Name: spells_default_agent_id_started_at_idx; Type: INDEX ATTACH; Schema: public; Owner: -
--

ALTER INDEX public.spells_agent_started_idx ATTACH PARTITION public.spells_default_agent_id_started_at_idx;


--
-- Name: spells_default_deleted_at_id_idx; Type: INDEX ATTACH; Schema: public; Owner: -
--

ALTER INDEX public.spells_deleted_at_idx ATTACH PARTITION public.spells_default_deleted_at_id_idx;


--
-- Name: spells_default_id_idx; Type: INDEX ATTACH; Schema: public; Owner: -
--

ALTER INDEX public.spells_current_id_idx ATTACH PARTITION public.spells_default_id_idx;


--
-- Name: spells_default_pkey; Type: INDEX ATTACH; Schema: public; Owner: -
--

ALTER INDEX public.spells_pkey ATTACH PARTITION public.spells_default_pkey;


--
-- Name: spells_default_started_at_idx; Type: INDEX ATTACH; Schema: public; Owner: -
--

ALTER INDEX public.spells_started_brin ATTACH PARTITION public.spells_default_started_at_idx;


--
-- Name: spells_default_updated_at_id_idx; Type: INDEX ATTACH; Schema: public; Owner: -
--

ALTER INDEX public.spells_updated_at_idx ATTACH PARTITION public.spells_default_updated_at_id_idx;


--
-- Name: attributes_search_stats; Type: STATISTICS; Schema: public; Owner: -
--

CREATE STATISTICS public.attributes_search_stats (dependencies, mcv) ON category, name, value FROM public.attributes;


--
-- Name: agents agents_event; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER agents_event AFTER INSERT OR UPDATE ON public.agents FOR EACH ROW EXECUTE FUNCTION public.agents_event();


--
-- Name: attributes attributes_event; Type: TRIGGER; Schema: public; Owner: -
--

CREATE CONSTRAINT TRIGGER attributes_event AFTER INSERT OR DELETE OR UPDATE ON public.attributes DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.attributes_event();


--
-- Name: channels channels_event; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER channels_event AFTER UPDATE ON public.channels FOR EACH ROW EXECUTE FUNCTION public.channels_event();


--
-- Name: geolocations geolocations_event; Type: TRIGGER; Schema: public; Owner: -
--

CREATE CONSTRAINT TRIGGER geolocations_event AFTER INSERT OR DELETE OR UPDATE ON public.geolocations DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.attributes_event();


--
-- Name: queue_memberships queue_memberships_join; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER queue_memberships_join AFTER INSERT ON public.queue_memberships FOR EACH ROW EXECUTE FUNCTION public.queue_memberships_event();


--
-- Name: queue_memberships queue_memberships_leave; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER queue_memberships_leave AFTER UPDATE OF left_at ON public.queue_memberships FOR EACH ROW WHEN (((old.left_at IS NULL) AND (new.left_at IS NOT NULL))) EXECUTE FUNCTION public.queue_memberships_event();


--
-- Name: queues queues_event; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER queues_event AFTER INSERT OR UPDATE ON public.queues FOR EACH ROW EXECUTE FUNCTION public.queues_event();


--
-- Name: sessions sessions_refresh_insert; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER sessions_refresh_insert AFTER INSERT ON public.sessions FOR EACH ROW EXECUTE FUNCTION public.sessions_refresh();


--
-- Name: sessions sessions_refresh_update; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER sessions_refresh_update AFTER UPDATE OF idle, lost, ended_at ON public.sessions FOR EACH ROW WHEN ((((old.idle IS DISTINCT FROM new.idle) OR (old.lost IS DISTINCT FROM new.lost)) OR (old.ended_at IS DISTINCT FROM new.ended_at))) EXECUTE FUNCTION public.sessions_refresh();


--
-- Name: spells spells_capacity; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER spells_capacity BEFORE INSERT OR UPDATE OF started_at, ended_at ON public.spells FOR EACH ROW EXECUTE FUNCTION public.spells_capacity();


--
-- Name: spells spells_current_forget; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER spells_current_forget BEFORE DELETE ON public.spells FOR EACH ROW EXECUTE FUNCTION public.spells_current_forget();


--
-- Name: spells spells_current_truncate; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER spells_current_truncate BEFORE TRUNCATE ON public.spells FOR EACH STATEMENT EXECUTE FUNCTION public.spells_current_forget();


--
-- Name: spells spells_event; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER spells_event AFTER INSERT OR UPDATE ON public.spells FOR EACH ROW EXECUTE FUNCTION public.spells_event();


--
-- Name: spells spells_history; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER spells_history AFTER INSERT OR UPDATE OF started_at, ended_at, deleted_at ON public.spells FOR EACH ROW EXECUTE FUNCTION public.spells_history();


--
-- Name: spells spells_no_overlap; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER spells_no_overlap BEFORE INSERT OR UPDATE OF agent_id, started_at, ended_at, deleted_at ON public.spells FOR EACH ROW EXECUTE FUNCTION public.spells_no_overlap();


--
-- Name: statuses statuses_event; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER statuses_event AFTER INSERT OR UPDATE ON public.statuses FOR EACH ROW EXECUTE FUNCTION public.statuses_event();


--
-- Name: tokens tokens_event; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER tokens_event AFTER INSERT OR UPDATE ON public.tokens FOR EACH ROW EXECUTE FUNCTION public.tokens_event();


--
-- Name: work_items work_items_publish_close; Type: TRIGGER; Schema: public; Owner: -
--

CREATE CONSTRAINT TRIGGER work_items_publish_close AFTER UPDATE OF closed_at ON public.work_items DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (((old.closed_at IS NULL) AND (new.closed_at IS NOT NULL))) EXECUTE FUNCTION public.work_items_publish();


--
-- Name: work_items work_items_publish_insert; Type: TRIGGER; Schema: public; Owner: -
--

CREATE CONSTRAINT TRIGGER work_items_publish_insert AFTER INSERT ON public.work_items DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.work_items_publish();


--
-- Name: work_items work_items_usage_close; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER work_items_usage_close AFTER UPDATE OF closed_at ON public.work_items FOR EACH ROW WHEN (((old.closed_at IS NULL) AND (new.closed_at IS NOT NULL))) EXECUTE FUNCTION public.work_items_usage();


--
-- Name: work_items work_items_usage_insert; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER work_items_usage_insert AFTER INSERT ON public.work_items FOR EACH ROW EXECUTE FUNCTION public.work_items_usage();


--
-- Name: agent_states agent_states_agent_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.agent_states
    ADD CONSTRAINT agent_states_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES public.agents(id);


--
-- Name: agents agents_default_status_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.agents
    ADD CONSTRAINT agents_default_status_fkey FOREIGN KEY (default_status) REFERENCES public.statuses(id);


--
-- Name: attributes attributes_agent_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.attributes
    ADD CONSTRAINT attributes_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES public.agents(id);


--
-- Name: channels channels_owner_token_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.channels
    ADD CONSTRAINT channels_owner_token_id_fkey FOREIGN KEY (owner_token_id) REFERENCES public.tokens(id);


--
-- Name: geolocations geolocations_agent_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.geolocations
    ADD CONSTRAINT geolocations_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES public.agents(id);


--
-- Name: queue_memberships queue_memberships_agent_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_memberships
    ADD CONSTRAINT queue_memberships_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES public.agents(id);


--
-- Name: queue_memberships queue_memberships_queue_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_memberships
    ADD CONSTRAINT queue_memberships_queue_id_fkey FOREIGN KEY (queue_id) REFERENCES public.queues(id);


--
-- Name: sessions sessions_agent_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sessions
    ADD CONSTRAINT sessions_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES public.agents(id);


--
-- Name: spells spells_agent_id_fkey1; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE public.spells
    ADD CONSTRAINT spells_agent_id_fkey1 FOREIGN KEY (agent_id) REFERENCES public.agents(id);


--
-- Name: spells spells_status_id_fkey1; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE public.spells
    ADD CONSTRAINT spells_status_id_fkey1 FOREIGN KEY (status_id) REFERENCES public.statuses(id);


--
-- Name: work_items work_items_agent_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.work_items
    ADD CONSTRAINT work_items_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES public.agents(id);


--
-- Name: SCHEMA report; Type: ACL; Schema: -; Owner: -
--

GRANT USAGE ON SCHEMA report TO presence_reporting;


--
-- Name: FUNCTION admin_event(p_action text, p_type text, p_id text, p_agent text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.admin_event(p_action text, p_type text, p_id text, p_agent text) FROM PUBLIC;


--
-- Name: FUNCTION agent_open_work(p_agent text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.agent_open_work(p_agent text) FROM PUBLIC;


--
-- Name: FUNCTION agent_states_refresh(p_agent text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.agent_states_refresh(p_agent text) FROM PUBLIC;


--
-- Name: FUNCTION agents_event(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.agents_event() FROM PUBLIC;


--
-- Name: FUNCTION attribute_set_json(p_agent text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.attribute_set_json(p_agent text) FROM PUBLIC;


--
-- Name: FUNCTION attributes_event(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.attributes_event() FROM PUBLIC;


--
-- Name: FUNCTION capacity_event_json(p_agent text, p_change jsonb); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.capacity_event_json(p_agent text, p_change jsonb) FROM PUBLIC;


--
-- Name: FUNCTION channels_event(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.channels_event() FROM PUBLIC;


--
-- Name: FUNCTION event_append(p_topic text, p_kind text, p_body jsonb); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.event_append(p_topic text, p_kind text, p_body jsonb) FROM PUBLIC;


--
-- Name: FUNCTION event_epoch(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.event_epoch() FROM PUBLIC;


--
-- Name: FUNCTION presence_apply(p_agent text, p_status text, p_source text, p_reason_code text, p_message text, p_at timestamp with time zone); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.presence_apply(p_agent text, p_status text, p_source text, p_reason_code text, p_message text, p_at timestamp with time zone) FROM PUBLIC;


--
-- Name: FUNCTION presence_apply_set(p_agents text[], p_statuses text[], p_sources text[], p_reason_codes text[], p_messages text[], p_ats timestamp with time zone[]); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.presence_apply_set(p_agents text[], p_statuses text[], p_sources text[], p_reason_codes text[], p_messages text[], p_ats timestamp with time zone[]) FROM PUBLIC;


--
-- Name: FUNCTION presence_change(p_agent text, p_status text, p_source text, p_reason_code text, p_message text, p_at timestamp with time zone); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.presence_change(p_agent text, p_status text, p_source text, p_reason_code text, p_message text, p_at timestamp with time zone) FROM PUBLIC;


--
-- Name: FUNCTION presence_change_many(p_agents text[], p_statuses text[], p_sources text[], p_reason_codes text[], p_messages text[], p_ats timestamp with time zone[], p_tokens text[]); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.presence_change_many(p_agents text[], p_statuses text[], p_sources text[], p_reason_codes text[], p_messages text[], p_ats timestamp with time zone[], p_tokens text[]) FROM PUBLIC;


--
-- Name: FUNCTION presence_record_json(p_agent text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.presence_record_json(p_agent text) FROM PUBLIC;


--
-- Name: FUNCTION queue_memberships_event(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.queue_memberships_event() FROM PUBLIC;


--
-- Name: FUNCTION queues_event(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.queues_event() FROM PUBLIC;


--
-- Name: FUNCTION sessions_refresh(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.sessions_refresh() FROM PUBLIC;


--
-- Name: FUNCTION spell_capacity_figures(p_agent text, p_from timestamp with time zone, p_to timestamp with time zone, p_capacity integer, OUT at_capacity_ms bigint, OUT idle_ms bigint, OUT average_capacity double precision); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.spell_capacity_figures(p_agent text, p_from timestamp with time zone, p_to timestamp with time zone, p_capacity integer, OUT at_capacity_ms bigint, OUT idle_ms bigint, OUT average_capacity double precision) FROM PUBLIC;


--
-- Name: FUNCTION spell_rollup_day(p_day date); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.spell_rollup_day(p_day date) FROM PUBLIC;


--
-- Name: FUNCTION spell_rollup_interval_rows(p_day date); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.spell_rollup_interval_rows(p_day date) FROM PUBLIC;


--
-- Name: FUNCTION spell_rollup_pending(p_now timestamp with time zone); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.spell_rollup_pending(p_now timestamp with time zone) FROM PUBLIC;


--
-- Name: FUNCTION spell_rollup_rows(p_day date); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.spell_rollup_rows(p_day date) FROM PUBLIC;


--
-- Name: FUNCTION spell_rollup_totals_from(p_day date); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.spell_rollup_totals_from(p_day date) FROM PUBLIC;


--
-- Name: FUNCTION spells_capacity(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.spells_capacity() FROM PUBLIC;


--
-- Name: FUNCTION spells_current_forget(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.spells_current_forget() FROM PUBLIC;


--
-- Name: FUNCTION spells_event(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.spells_event() FROM PUBLIC;


--
-- Name: FUNCTION spells_history(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.spells_history() FROM PUBLIC;


--
-- Name: FUNCTION spells_lookback(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.spells_lookback() FROM PUBLIC;


--
-- Name: FUNCTION spells_month(t timestamp with time zone); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.spells_month(t timestamp with time zone) FROM PUBLIC;


--
-- Name: FUNCTION spells_no_overlap(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.spells_no_overlap() FROM PUBLIC;


--
-- Name: FUNCTION spells_partition_create(p_at timestamp with time zone); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.spells_partition_create(p_at timestamp with time zone) FROM PUBLIC;


--
-- Name: FUNCTION spells_partitions_ensure(p_from timestamp with time zone, p_to timestamp with time zone); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.spells_partitions_ensure(p_from timestamp with time zone, p_to timestamp with time zone) FROM PUBLIC;


--
-- Name: FUNCTION spells_window(p_from timestamp with time zone, p_to timestamp with time zone); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.spells_window(p_from timestamp with time zone, p_to timestamp with time zone) FROM PUBLIC;


--
-- Name: FUNCTION statuses_event(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.statuses_event() FROM PUBLIC;


--
-- Name: FUNCTION token_live(p_id text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.token_live(p_id text) FROM PUBLIC;


--
-- Name: FUNCTION tokens_event(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.tokens_event() FROM PUBLIC;


--
-- Name: FUNCTION work_items_publish(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.work_items_publish() FROM PUBLIC;


--
-- Name: FUNCTION work_items_usage(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.work_items_usage() FROM PUBLIC;


--
-- Name: FUNCTION capacity_figures(p_agent text, p_from timestamp with time zone, p_to timestamp with time zone, p_capacity integer, OUT at_capacity_ms bigint, OUT idle_ms bigint, OUT average_capacity double precision); Type: ACL; Schema: report; Owner: -
--

REVOKE ALL ON FUNCTION report.capacity_figures(p_agent text, p_from timestamp with time zone, p_to timestamp with time zone, p_capacity integer, OUT at_capacity_ms bigint, OUT idle_ms bigint, OUT average_capacity double precision) FROM PUBLIC;
GRANT ALL ON FUNCTION report.capacity_figures(p_agent text, p_from timestamp with time zone, p_to timestamp with time zone, p_capacity integer, OUT at_capacity_ms bigint, OUT idle_ms bigint, OUT average_capacity double precision) TO presence_reporting;


--
-- Name: FUNCTION status_time(p_from timestamp with time zone, p_to timestamp with time zone, p_tz text); Type: ACL; Schema: report; Owner: -
--

REVOKE ALL ON FUNCTION report.status_time(p_from timestamp with time zone, p_to timestamp with time zone, p_tz text) FROM PUBLIC;
GRANT ALL ON FUNCTION report.status_time(p_from timestamp with time zone, p_to timestamp with time zone, p_tz text) TO presence_reporting;


--
-- Name: FUNCTION status_totals(p_from date, p_to date); Type: ACL; Schema: report; Owner: -
--

REVOKE ALL ON FUNCTION report.status_totals(p_from date, p_to date) FROM PUBLIC;
GRANT ALL ON FUNCTION report.status_totals(p_from date, p_to date) TO presence_reporting;


--
-- Name: TABLE audit; Type: ACL; Schema: report; Owner: -
--

GRANT SELECT ON TABLE report.audit TO presence_reporting;


--
-- Name: TABLE current_presence; Type: ACL; Schema: report; Owner: -
--

GRANT SELECT ON TABLE report.current_presence TO presence_reporting;


--
-- Name: TABLE daily_status; Type: ACL; Schema: report; Owner: -
--

GRANT SELECT ON TABLE report.daily_status TO presence_reporting;


--
-- Name: TABLE daily_status_days; Type: ACL; Schema: report; Owner: -
--

GRANT SELECT ON TABLE report.daily_status_days TO presence_reporting;


--
-- Name: TABLE interval_status; Type: ACL; Schema: report; Owner: -
--

GRANT SELECT ON TABLE report.interval_status TO presence_reporting;


--
-- Name: TABLE queue_memberships; Type: ACL; Schema: report; Owner: -
--

GRANT SELECT ON TABLE report.queue_memberships TO presence_reporting;


--
-- Name: TABLE sessions; Type: ACL; Schema: report; Owner: -
--

GRANT SELECT ON TABLE report.sessions TO presence_reporting;


--
-- Name: TABLE spells; Type: ACL; Schema: report; Owner: -
--

GRANT SELECT ON TABLE report.spells TO presence_reporting;


--
-- Name: TABLE work_items; Type: ACL; Schema: report; Owner: -
--

GRANT SELECT ON TABLE report.work_items TO presence_reporting;


--
-- Name: DEFAULT PRIVILEGES FOR FUNCTIONS; Type: DEFAULT ACL; Schema: -; Owner: -
--

ALTER DEFAULT PRIVILEGES FOR ROLE postgres REVOKE ALL ON FUNCTIONS  FROM PUBLIC;
