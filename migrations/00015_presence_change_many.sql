-- Group commit for presence changes: the changes that reach a node together
-- go to the database as one statement, so one transaction, one commit (one
-- WAL flush) and one NOTIFY. NOTIFY serialises the notifying commits of
-- the whole cluster (PostgreSQL 15 holds its lock through the WAL flush),
-- so commits, not changes, are what the write rate is counted in.

-- +goose Up

-- presence_change_many applies the changes p_agents[i], p_statuses[i], …
-- in array order and returns one row per item: ord (i), and either
-- error_code (PA404: unknown or deleted agent; PA422: unknown or deleted
-- status; that item writes nothing) or record, the JSON presence record as
-- that item left it (presence_record_json, the body its event carries).
-- An item is applied by presence_change (migrations/00008), so a change
-- means the same as one made alone.
--
-- Per-item errors are found by checking before the change, not by
-- catching them: an exception block is a subtransaction, and more than 64
-- of them in one transaction overflow the backend's subtransaction cache,
-- after which every snapshot in the cluster looks subtransactions up in
-- pg_subtrans. Anything else that goes wrong fails the statement and
-- writes nothing; the caller (db/presencebatch.go) then applies the items
-- one at a time.
--
-- Lock order: every agent of the batch is locked first, in one statement,
-- in id order, so two batches (of this node or another) wait for each
-- other instead of deadlocking, whatever order their items come in (and
-- see below for what the locks mean for the order of the log). The
-- caller sorts items by agent id, keeping arrival order among the changes
-- of one agent, so that they are applied as they arrived.
--
-- The array parameters must have the same length; a NULL element of
-- p_reason_codes, p_messages or p_ats means what NULL means to
-- presence_change.
-- +goose StatementBegin
CREATE FUNCTION presence_change_many(p_agents text[], p_statuses text[], p_sources text[],
                                     p_reason_codes text[], p_messages text[], p_ats timestamptz[])
RETURNS TABLE (ord integer, error_code text, record jsonb)
LANGUAGE plpgsql VOLATILE AS $$
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

-- +goose Down
DROP FUNCTION presence_change_many(text[], text[], text[], text[], text[], timestamptz[]);
