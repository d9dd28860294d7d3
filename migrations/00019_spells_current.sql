-- The current spells are found without touching every month (issue 13,
-- the write path; issue 12: a presence change no slower than on an empty
-- database).
--
-- Spells are partitioned by month (00012); nothing in a partitioned table
-- says which month holds an agent's current spell, so presence_change
-- probed every partition's spells_current_idx for it, and
-- spells_no_overlap_across() probed every earlier month for a current
-- spell on each insert. Each month of history made every presence change
-- slower: 10,000 changes in one statement took 5.4-6.4 s with 4 partitions
-- and 10.0-10.3 s with 28 (empty ones).
--
-- spells_current holds the key (id, started_at) of each agent's current
-- spell (ended_at IS NULL), kept by the spells trigger
-- spells_no_overlap_across() on insert and on update of agent_id,
-- started_at, ended_at or deleted_at, and by spells_current_forget() on
-- delete, so every writer keeps it right: presence_apply, the login,
-- logout and work rules, the API's spell edits, SQL by hand. Its primary
-- key is "at most one current spell per agent" across the partitions,
-- enforced like any unique index (concurrency-safe at every isolation
-- level); the per-month exclusion constraints and the checks of
-- spells_no_overlap_across stay as they were for every other overlap.
--
-- Writers that turn the triggers off (session_replication_role = replica:
-- the load program's history seeding, benchmark seeding) must fill it for
-- the current spells they write, as they do agent_states; closed spells
-- (history) need nothing. Dropping a month's partition forgets its rows
-- (db.dropSpellMonth); TRUNCATE spells empties it.
--
-- Then presence_apply finds the current spell by the agent's key and reads
-- it from one partition, and an insert checks "a current spell in an
-- earlier month" with one probe of spells_current. A current spell being
-- inserted needs no such check at all: the primary key already refused a
-- second one. Deleted current spells (SQL only: the API deletes closed
-- spells) count as current here as they do in presence_records, so a
-- second current spell beside a deleted one is refused, where only the
-- per-month constraint (live spells) looked before.

-- +goose Up
CREATE TABLE spells_current (
    agent_id   text PRIMARY KEY,
    spell_id   bigint NOT NULL,
    started_at timestamptz NOT NULL
);
COMMENT ON TABLE spells_current IS
    'The key of each agent''s current spell (ended_at IS NULL), kept by the spells triggers; '
    'its primary key keeps one current spell per agent across the monthly partitions (migrations/00019).';
-- Fails if an agent has two current spells already (one of them deleted:
-- only SQL by hand makes that); keep one of them first.
INSERT INTO spells_current (agent_id, spell_id, started_at)
SELECT agent_id, id, started_at FROM spells WHERE ended_at IS NULL;
ANALYZE spells_current;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spells_no_overlap_across() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_lo    timestamptz := spells_month(NEW.started_at);
    v_hi    timestamptz := spells_month(NEW.started_at) + interval '1 month';
    v_end   timestamptz := coalesce(NEW.ended_at, 'infinity');
    -- Whether the row becomes current, or current under a new key.
    v_point boolean := NEW.ended_at IS NULL
        AND (TG_OP = 'INSERT' OR OLD.ended_at IS NOT NULL
             OR (NEW.agent_id, NEW.started_at) IS DISTINCT FROM (OLD.agent_id, OLD.started_at));
    -- Whether the row may overlap something new: live, and not a live
    -- spell that only shrank (closing the current spell: every presence
    -- change).
    v_check boolean := NEW.deleted_at IS NULL
        AND NOT (TG_OP = 'UPDATE' AND OLD.deleted_at IS NULL AND NEW.started_at >= OLD.started_at
                 AND v_end <= coalesce(OLD.ended_at, 'infinity'));
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
    -- The other months (the month's own exclusion constraint checks it):
    -- the later months, the month before within the look-back, the long
    -- spells, and, for a closed spell, a current spell of an earlier
    -- month (one probe of spells_current; a current spell was checked
    -- above).
    IF (v_end > v_hi AND EXISTS (
            SELECT 1 FROM spells t
             WHERE t.agent_id = NEW.agent_id AND t.started_at >= v_hi AND t.started_at < v_end
               AND t.deleted_at IS NULL))
       OR (NEW.started_at - spells_lookback() < v_lo AND EXISTS (
            SELECT 1 FROM spells t
             WHERE t.agent_id = NEW.agent_id
               AND t.started_at >= NEW.started_at - spells_lookback() AND t.started_at < v_lo
               AND (t.ended_at IS NULL OR t.ended_at > NEW.started_at) AND t.deleted_at IS NULL))
       OR EXISTS (
            SELECT 1 FROM spells_long l
             WHERE l.agent_id = NEW.agent_id AND l.ended_at > NEW.started_at
               AND l.started_at < v_lo AND l.started_at < v_end)
       OR (NEW.ended_at IS NOT NULL AND EXISTS (
            SELECT 1 FROM spells_current c
             WHERE c.agent_id = NEW.agent_id AND c.started_at < v_lo AND c.spell_id <> NEW.id)) THEN
        RAISE EXCEPTION 'spell % of agent % overlaps a spell of another month', NEW.id, NEW.agent_id
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'spells_no_overlap';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

-- The trigger also follows a spell moved to another agent (a key of
-- spells_current); before, only started_at, ended_at and deleted_at
-- fired it.
DROP TRIGGER spells_no_overlap_across ON spells;
CREATE TRIGGER spells_no_overlap_across BEFORE INSERT OR UPDATE OF agent_id, started_at, ended_at, deleted_at ON spells
    FOR EACH ROW EXECUTE FUNCTION spells_no_overlap_across();

-- A spell deleted for good (SQL by hand; the API only marks spells
-- deleted) or moved to another partition (an UPDATE of started_at across
-- months is a delete and an insert) leaves spells_current.
-- +goose StatementBegin
CREATE FUNCTION spells_current_forget() RETURNS trigger
LANGUAGE plpgsql AS $$
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
-- +goose StatementEnd
CREATE TRIGGER spells_current_forget BEFORE DELETE ON spells
    FOR EACH ROW EXECUTE FUNCTION spells_current_forget();
CREATE TRIGGER spells_current_truncate BEFORE TRUNCATE ON spells
    FOR EACH STATEMENT EXECUTE FUNCTION spells_current_forget();

-- presence_apply (00018) finds the current spell through spells_current.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION presence_apply(p_agent text, p_status text, p_source text, p_reason_code text,
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
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION presence_apply(p_agent text, p_status text, p_source text, p_reason_code text,
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
DROP TRIGGER spells_current_truncate ON spells;
DROP TRIGGER spells_current_forget ON spells;
DROP FUNCTION spells_current_forget();
DROP TRIGGER spells_no_overlap_across ON spells;
CREATE TRIGGER spells_no_overlap_across BEFORE INSERT OR UPDATE OF started_at, ended_at, deleted_at ON spells
    FOR EACH ROW EXECUTE FUNCTION spells_no_overlap_across();
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spells_no_overlap_across() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_lo  timestamptz := spells_month(NEW.started_at);
    v_hi  timestamptz := spells_month(NEW.started_at) + interval '1 month';
    v_end timestamptz := coalesce(NEW.ended_at, 'infinity');
BEGIN
    IF NEW.deleted_at IS NOT NULL THEN
        RETURN NEW;
    END IF;
    -- A live spell that only shrank cannot overlap anything new (closing
    -- the current spell: every presence change).
    IF TG_OP = 'UPDATE' AND OLD.deleted_at IS NULL AND NEW.started_at >= OLD.started_at
       AND v_end <= coalesce(OLD.ended_at, 'infinity') THEN
        RETURN NEW;
    END IF;
    -- Serialise with every other writer of this agent's spells (a no-op
    -- inside presence_change(), which holds the row lock).
    PERFORM 1 FROM agents a WHERE a.id = NEW.agent_id FOR NO KEY UPDATE;
    IF (v_end > v_hi AND EXISTS (
            SELECT 1 FROM spells t
             WHERE t.agent_id = NEW.agent_id AND t.started_at >= v_hi AND t.started_at < v_end
               AND t.deleted_at IS NULL))
       OR (NEW.started_at - spells_lookback() < v_lo AND EXISTS (
            SELECT 1 FROM spells t
             WHERE t.agent_id = NEW.agent_id
               AND t.started_at >= NEW.started_at - spells_lookback() AND t.started_at < v_lo
               AND (t.ended_at IS NULL OR t.ended_at > NEW.started_at) AND t.deleted_at IS NULL))
       OR EXISTS (
            SELECT 1 FROM spells_long l
             WHERE l.agent_id = NEW.agent_id AND l.ended_at > NEW.started_at
               AND l.started_at < v_lo AND l.started_at < v_end)
       OR EXISTS (
            SELECT 1 FROM spells t
             WHERE t.agent_id = NEW.agent_id AND t.ended_at IS NULL AND t.started_at < v_lo
               AND t.deleted_at IS NULL) THEN
        RAISE EXCEPTION 'spell % of agent % overlaps a spell of another month', NEW.id, NEW.agent_id
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'spells_no_overlap';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
DROP TABLE spells_current;
