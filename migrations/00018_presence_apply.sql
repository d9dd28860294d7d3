-- A presence change computes its record once (issue 13, the write path).
--
-- A change read the presence_records view for its record up to three times:
-- presence_change's RETURN QUERY, the spells_event trigger's event body
-- (presence_record_json) and, in a batch, presence_change_many's answer
-- (presence_record_json again, the first one discarded). Each read joins
-- the agent, its current spell (a probe of every month's partition), its
-- statuses and agent_states: ~0.04 ms with 4 partitions, ~0.09 ms with 28.
--
-- presence_apply is the change without the view: it applies the change as
-- presence_change did and answers the record in its JSON form, the body
-- of the event the change just wrote (read back by its primary key), or
-- presence_record_json when the change wrote no event (the same status
-- and text again). The service calls presence_apply, alone (db.SetPresence
-- at low load, and the rules that change presence inside a larger
-- transaction) and per item of presence_change_many; the answer is the
-- event body, which TestPresenceRecordJSONIsTheRecord checks against the
-- record the API reads. presence_change keeps its signature and row answer
-- for SQL callers (the load program's bulk change, psql).

-- +goose Up

-- presence_apply applies one presence change (see presence_change in
-- migrations/00008 for what it means) and returns the record it left as
-- JSON (presence_record_json). PA404: unknown or deleted agent; PA422:
-- unknown or deleted status.
-- +goose StatementBegin
CREATE FUNCTION presence_apply(p_agent text, p_status text, p_source text, p_reason_code text,
                               p_message text, p_at timestamptz) RETURNS jsonb
LANGUAGE plpgsql AS $$
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

    SELECT * INTO v_cur FROM spells WHERE agent_id = p_agent AND ended_at IS NULL;
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
-- +goose StatementEnd

-- presence_change: the same change, answered as a presence_records row.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION presence_change(p_agent text, p_status text, p_source text, p_reason_code text,
                                           p_message text, p_at timestamptz)
RETURNS SETOF presence_records
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM presence_apply(p_agent, p_status, p_source, p_reason_code, p_message, p_at);
    RETURN QUERY SELECT * FROM presence_records r WHERE r.agent_id = p_agent;
END
$$;
-- +goose StatementEnd

-- presence_change_many: each item's record is presence_apply's answer.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION presence_change_many(p_agents text[], p_statuses text[], p_sources text[], p_reason_codes text[], p_messages text[], p_ats timestamp with time zone[])
RETURNS TABLE(ord integer, error_code text, record jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    v_live     text[]; -- the agents that exist and are not deleted
    v_statuses text[]; -- the statuses that do
    v_xid      xid8;
BEGIN
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
    -- The checks in bulk; presence_apply checks again (a status deleted
    -- since then fails the statement: the caller applies the items alone).
    SELECT coalesce(array_agg(st.id), '{}') INTO v_statuses
    FROM statuses st WHERE st.id = ANY (p_statuses) AND st.deleted_at IS NULL;
    FOR i IN 1 .. coalesce(array_length(p_agents, 1), 0) LOOP
        ord := i;
        error_code := NULL;
        record := NULL;
        IF NOT p_agents[i] = ANY (v_live) THEN
            error_code := 'PA404';
        ELSIF NOT p_statuses[i] = ANY (v_statuses) THEN
            error_code := 'PA422';
        ELSE
            record := presence_apply(p_agents[i], p_statuses[i], p_sources[i],
                                     p_reason_codes[i], p_messages[i], p_ats[i]);
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION presence_change_many(p_agents text[], p_statuses text[], p_sources text[], p_reason_codes text[], p_messages text[], p_ats timestamp with time zone[])
RETURNS TABLE(ord integer, error_code text, record jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    v_live     text[]; -- the agents that exist and are not deleted
    v_statuses text[]; -- the statuses that do
    v_xid      xid8;
BEGIN
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
    -- The checks in bulk; presence_change checks again (a status deleted
    -- since then fails the statement: the caller applies the items alone).
    SELECT coalesce(array_agg(st.id), '{}') INTO v_statuses
    FROM statuses st WHERE st.id = ANY (p_statuses) AND st.deleted_at IS NULL;
    FOR i IN 1 .. coalesce(array_length(p_agents, 1), 0) LOOP
        ord := i;
        error_code := NULL;
        record := NULL;
        IF NOT p_agents[i] = ANY (v_live) THEN
            error_code := 'PA404';
        ELSIF NOT p_statuses[i] = ANY (v_statuses) THEN
            error_code := 'PA422';
        ELSE
            PERFORM 1 FROM presence_change(p_agents[i], p_statuses[i], p_sources[i],
                                           p_reason_codes[i], p_messages[i], p_ats[i]);
            record := presence_record_json(p_agents[i]);
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION presence_change(p_agent text, p_status text, p_source text, p_reason_code text, p_message text, p_at timestamp with time zone)
RETURNS SETOF presence_records
LANGUAGE plpgsql AS $$
DECLARE
    v_deleted_at timestamptz;
    v_cur        spells%ROWTYPE;
    v_at         timestamptz;
    v_ended      timestamptz;
BEGIN
    SELECT a.deleted_at INTO v_deleted_at FROM agents a WHERE a.id = p_agent FOR UPDATE;
    IF NOT FOUND OR v_deleted_at IS NOT NULL THEN
        RAISE EXCEPTION 'agent % does not exist', p_agent USING ERRCODE = 'PA404';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM statuses st WHERE st.id = p_status AND st.deleted_at IS NULL) THEN
        RAISE EXCEPTION 'status % does not exist', p_status USING ERRCODE = 'PA422';
    END IF;

    SELECT * INTO v_cur FROM spells WHERE agent_id = p_agent AND ended_at IS NULL;
    IF FOUND AND v_cur.status_id = p_status THEN
        IF (coalesce(p_message, v_cur.message), coalesce(p_reason_code, v_cur.reason_code))
           IS DISTINCT FROM (v_cur.message, v_cur.reason_code) THEN
            UPDATE spells
            SET message = coalesce(p_message, v_cur.message),
                reason_code = coalesce(p_reason_code, v_cur.reason_code),
                updated_at = clock_timestamp()
            WHERE id = v_cur.id AND started_at = v_cur.started_at;
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
    END IF;

    RETURN QUERY SELECT * FROM presence_records r WHERE r.agent_id = p_agent;
END
$$;
-- +goose StatementEnd
DROP FUNCTION presence_apply(text, text, text, text, text, timestamptz);
