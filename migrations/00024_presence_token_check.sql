-- A presence change checks its token in the statement that writes it
-- (issue 13, the write path).
--
-- Every request looked its token up before its handler ran, so that a
-- revocation holds on the next request (SECURITY.md). For a presence
-- change that lookup was a round trip ahead of the batch's and a fifth of
-- the CPU a change cost under load. A token's scopes, agent and expiry
-- never change, only its revocation; so a node now answers PUT
-- .../presence from what it knows of the token (db/tokens.go), and the
-- write itself checks that the token is still not revoked:
-- presence_change_many refuses the items whose token is revoked or gone
-- (PA401, the same 401 as the lookup's), before anything else and without
-- failing their neighbours; dbsqlc.PresenceApply (a change alone) writes
-- nothing for such a token. The check begins after the request arrived,
-- as the lookup did, so the promise is the same.
--
-- token_live is the one place that says what a live token is here.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION token_live(p_id text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM tokens k WHERE k.id = p_id AND k.revoked_at IS NULL)
$$;
-- +goose StatementEnd

DROP FUNCTION presence_change_many(text[], text[], text[], text[], text[], timestamptz[]);

-- +goose StatementBegin
CREATE FUNCTION presence_change_many(p_agents text[], p_statuses text[], p_sources text[], p_reason_codes text[], p_messages text[], p_ats timestamp with time zone[], p_tokens text[] DEFAULT NULL) RETURNS TABLE(ord integer, error_code text, record jsonb)
LANGUAGE plpgsql AS $$
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
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION presence_change_many(text[], text[], text[], text[], text[], timestamptz[], text[]);

-- +goose StatementBegin
CREATE FUNCTION presence_change_many(p_agents text[], p_statuses text[], p_sources text[], p_reason_codes text[], p_messages text[], p_ats timestamp with time zone[]) RETURNS TABLE(ord integer, error_code text, record jsonb)
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

DROP FUNCTION token_live(text);
