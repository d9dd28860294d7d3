-- A presence change in one statement. It was six round trips (begin, agent
-- lock and status check, current spell, close and open, record, commit),
-- each holding a pooled connection and, from the row lock on, an xid that
-- holds back every later event (readers read below xmin). As one statement
-- outside an explicit transaction it is a single round trip that commits
-- as it answers; inside a larger transaction (login, logout, automatic
-- presence from work) it saves those callers three round trips.

-- +goose Up

-- presence_change applies a change to an agent and returns its record as
-- the change left it (presence_records, the definition the events use).
--   - unknown or deleted agent: SQLSTATE PA404, nothing written;
--   - unknown or deleted status: SQLSTATE PA422, nothing written;
--   - the same status again: no new spell; a given message or reason
--     (not null) replaces the current one in place, and only a change of
--     text is written (and makes an event);
--   - otherwise the current spell closes and the next opens at one
--     instant: p_at when given (an automatic change takes the instant of
--     the work change that caused it), else clock_timestamp() once the
--     lock is held, never before the current spell's start.
-- It must stay VOLATILE: each statement then takes a fresh snapshot, so
-- after waiting for the agent's row lock it reads the current spell that
-- the other transaction committed. Reading the spell in the locking
-- statement would not do that (READ COMMITTED re-checks only the locked
-- row, EvalPlanQual, and would return the spell from before the wait).
-- +goose StatementBegin
CREATE FUNCTION presence_change(p_agent text, p_status text, p_source text,
                                p_reason_code text, p_message text, p_at timestamptz)
RETURNS SETOF presence_records
LANGUAGE plpgsql VOLATILE AS $$
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
            WHERE id = v_cur.id;
        END IF;
    ELSE
        v_at := coalesce(p_at, clock_timestamp());
        IF FOUND THEN
            UPDATE spells
            SET ended_at = greatest(v_at, started_at), updated_at = greatest(v_at, started_at)
            WHERE id = v_cur.id
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

-- +goose Down
DROP FUNCTION presence_change(text, text, text, text, text, timestamptz);
