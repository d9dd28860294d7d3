-- Group commit applies a batch's changes as a set (issue 13, the write path).
--
-- presence_change_many (00015, 00018) applied a batch item by item, each
-- item a presence_apply call of seven statements: the agent's lock (taken
-- already), the status check (made already), the current spell's key and
-- row, the close, the insert and the read of the record. The close and
-- the insert, statements on the partitioned spells, set up their executor
-- state for each item: open the partition and its nine indexes, read the
-- CHECK constraints and generated columns from the catalog.
--
-- presence_apply_set applies the changes of distinct agents in seven
-- statements for the whole set: this transaction's last event, the
-- current spells' months, the current spells, the text-only updates, the
-- closes, the inserts and the records. The triggers still run per row (the
-- same rules for every writer: spells_current, the event, the history,
-- the capacity figures), so a change means what it means alone. A batch
-- of 8 took 6.7 ms, now 4.8 ms; a batch of 32 17.1 ms, now 14.7 ms
-- (pgbench, one client, 10,000 agents; docs/performance.md).
--
-- presence_apply keeps its one-change statements: through
-- presence_apply_set a single change costs a third more (the set
-- statements' joins and the wrapper), and a single change is what every
-- change is under low load. TestPresenceApplySetIsPresenceApply keeps the
-- two the same change.

-- +goose Up

-- presence_apply_set applies the presence changes p_agents[i],
-- p_statuses[i], … (as presence_apply does each) and returns each item's
-- record (ord i): the body of the event it wrote, or, for a change that
-- wrote none (the same status and text again), presence_record_json. The
-- caller has locked every agent, checked that each is live and each
-- status is not deleted, and passes each agent once: an agent's changes
-- one after the other are presence_apply's. Every change of the set has
-- the same time, taken as the set starts (an item's p_at stands for it).
-- +goose StatementBegin
CREATE FUNCTION presence_apply_set(p_agents text[], p_statuses text[], p_sources text[], p_reason_codes text[],
                                   p_messages text[], p_ats timestamptz[])
RETURNS TABLE(ord integer, record jsonb)
LANGUAGE plpgsql
-- Generic plans from the first call: custom plans of these statements
-- (planned again on every call, 0.1-0.4 ms each) estimate the arrays'
-- lengths, which is all they would gain. The generic plans prune the
-- spells partitions outside v_lo .. v_hi as each statement starts. The
-- setting holds for the statements of the triggers that the set's rows
-- fire too: they run their generic plans, as they do after their fifth
-- run anyway.
SET plan_cache_mode = force_generic_plan
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
-- +goose StatementEnd

-- presence_change_many: the first valid change of each agent through
-- presence_apply_set, then the later changes of the same agents, in
-- array order, through presence_apply.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION presence_change_many(p_agents text[], p_statuses text[], p_sources text[], p_reason_codes text[], p_messages text[], p_ats timestamp with time zone[])
RETURNS TABLE(ord integer, error_code text, record jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    v_live     text[];    -- the agents that exist and are not deleted
    v_statuses text[];    -- the statuses that do
    v_xid      xid8;
    v_first    integer[]; -- the valid items that are their agent's first
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
    -- The checks in bulk. A status deleted after this check is as one
    -- deleted after presence_apply's own check: the change goes in.
    SELECT coalesce(array_agg(st.id), '{}') INTO v_statuses
    FROM statuses st WHERE st.id = ANY (p_statuses) AND st.deleted_at IS NULL;
    SELECT coalesce(array_agg(f.i ORDER BY f.i), '{}') INTO v_first
    FROM (SELECT DISTINCT ON (u.agent_id) u.i::integer AS i
            FROM unnest(p_agents, p_statuses) WITH ORDINALITY u(agent_id, status, i)
           WHERE u.agent_id = ANY (v_live) AND u.status = ANY (v_statuses)
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
        IF NOT p_agents[i] = ANY (v_live) THEN
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
DROP FUNCTION presence_apply_set(text[], text[], text[], text[], text[], timestamptz[]);
