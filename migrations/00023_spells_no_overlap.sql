-- Spells of one agent never overlap: checked by the trigger for every
-- month, no longer also by a GiST exclusion constraint on each month
-- (issue 13, the write path).
--
-- Each month's partition had EXCLUDE USING gist (agent_id WITH =,
-- tstzrange(started_at, ended_at) WITH &&); spells_no_overlap_across()
-- checked the other months, serialised per agent by the agent's row lock.
-- The GiST index took two entries a presence change (the closed spell's
-- new version and the new spell), each found by comparing text keys down
-- the tree and each searched for conflicts: a fifth of PostgreSQL's CPU
-- for a change in a batch (pgbench of 8-change batches: 4.0 against
-- 3.2 ms of backend CPU; the load program's group commit: 736 against
-- 929-1,000 µs of PostgreSQL CPU a change, 13-26 % more changes a second).
--
-- spells_no_overlap() now checks every month as the trigger checked the
-- other months, with the btree index (agent_id, started_at) that every
-- month has, after taking the agent's row lock:
--   * a live spell that starts inside the new range;
--   * the last live spell to start in the look-back before it (one day:
--     spells never overlap, so no earlier one reaches further) unless it
--     ended by then;
--   * a long spell (spells_long: closed, longer than the look-back);
--   * for a closed spell, a live current spell that started before it
--     ends (a current spell has spells_current's primary key already).
-- An empty spell ([t, t): a change backdated to its spell's start)
-- overlaps nothing, as for the constraint.
--
-- The row lock serialises the writers of one agent; at READ COMMITTED
-- each statement of the trigger then sees what the writer before it
-- committed, and at SERIALIZABLE the index reads conflict with a
-- concurrent insert into the same range. At REPEATABLE READ neither holds
-- (the snapshot predates the lock), so a spell that needs the check is
-- refused there (0A000); presenced's own sessions are READ COMMITTED
-- whatever the database's default (db.go). A spell that only shrinks
-- (closing the current spell) or is deleted needs no check at any level.
--
-- Writers that turn the triggers off (session_replication_role = replica:
-- seeding) are trusted to write spells that do not overlap, as they are
-- for spells_current and agent_states.

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.conrelid::regclass AS part, c.conname
               FROM pg_constraint c JOIN pg_inherits i ON i.inhrelid = c.conrelid
              WHERE i.inhparent = 'public.spells'::regclass AND c.contype = 'x' LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.part, r.conname);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spells_partition_create(p_at timestamptz) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
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
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION spells_no_overlap() RETURNS trigger
LANGUAGE plpgsql AS $$
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
-- +goose StatementEnd

DROP TRIGGER spells_no_overlap_across ON spells;
DROP FUNCTION spells_no_overlap_across();
CREATE TRIGGER spells_no_overlap BEFORE INSERT OR UPDATE OF agent_id, started_at, ended_at, deleted_at ON spells
    FOR EACH ROW EXECUTE FUNCTION spells_no_overlap();

-- +goose Down
-- +goose StatementBegin
CREATE FUNCTION spells_no_overlap_across() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_lo    timestamptz := spells_month(NEW.started_at);
    v_hi    timestamptz := spells_month(NEW.started_at) + interval '1 month';
    v_end   timestamptz := coalesce(NEW.ended_at, 'infinity');
    v_point boolean := NEW.ended_at IS NULL
        AND (TG_OP = 'INSERT' OR OLD.ended_at IS NOT NULL
             OR (NEW.agent_id, NEW.started_at) IS DISTINCT FROM (OLD.agent_id, OLD.started_at));
    v_check boolean := NEW.deleted_at IS NULL
        AND NOT (TG_OP = 'UPDATE' AND OLD.deleted_at IS NULL AND NEW.started_at >= OLD.started_at
                 AND v_end <= coalesce(OLD.ended_at, 'infinity'));
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.ended_at IS NULL
       AND (NEW.ended_at IS NOT NULL OR NEW.agent_id IS DISTINCT FROM OLD.agent_id) THEN
        DELETE FROM spells_current c WHERE c.agent_id = OLD.agent_id AND c.spell_id = OLD.id;
    END IF;
    IF NOT v_point AND NOT v_check THEN
        RETURN NEW;
    END IF;
    PERFORM 1 FROM agents a WHERE a.id = NEW.agent_id FOR NO KEY UPDATE;
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

DROP TRIGGER spells_no_overlap ON spells;
DROP FUNCTION spells_no_overlap();
CREATE TRIGGER spells_no_overlap_across BEFORE INSERT OR UPDATE OF agent_id, started_at, ended_at, deleted_at ON spells
    FOR EACH ROW EXECUTE FUNCTION spells_no_overlap_across();

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spells_partition_create(p_at timestamptz) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    v_lo   timestamptz := spells_month(p_at);
    v_name text := 'spells_p' || to_char(v_lo AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
    IF to_regclass(v_name) IS NOT NULL THEN
        RETURN v_name;
    END IF;
    EXECUTE format('CREATE TABLE public.%I PARTITION OF public.spells FOR VALUES FROM (%L) TO (%L)',
                   v_name, v_lo, v_lo + interval '1 month');
    EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I EXCLUDE USING gist
                        (agent_id WITH =, tstzrange(started_at, ended_at, ''[)'') WITH &&) WHERE (deleted_at IS NULL)',
                   v_name, v_name || '_no_overlap');
    RETURN v_name;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT i.inhrelid::regclass AS part, c.relname
               FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = 'public.spells'::regclass LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I EXCLUDE USING gist
                            (agent_id WITH =, tstzrange(started_at, ended_at, ''[)'') WITH &&) WHERE (deleted_at IS NULL)',
                       r.part, r.relname || '_no_overlap');
    END LOOP;
END
$$;
-- +goose StatementEnd
