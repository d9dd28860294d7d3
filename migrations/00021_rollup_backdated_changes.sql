-- A backdated presence change marks the rolled-up days it rewrites.
--
-- A day is rolled up once it has ended, with the then current spells
-- counted to its end (00013). A change with an "at" before today (UTC)
-- closes the current spell there and opens the next one there: every
-- rolled-up day from that moment on counted the old spell where the new
-- one now runs. spells_history() marked the days of a closed spell's
-- edits and of a closed spell inserted into the past, but not the close
-- of a current spell nor the insert of a current one, so those days kept
-- their rollups and report.status_time, report.daily_status and
-- report.status_totals went on reading them.
--
-- Both now mark the days from that moment through the last one rolled
-- up. The common case, a change made now, is ruled out by comparing the
-- time with today's start: no query on the write path.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spells_history() RETURNS trigger
LANGUAGE plpgsql AS $$
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
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spells_history() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.deleted_at IS NULL AND OLD.ended_at - OLD.started_at > spells_lookback() THEN
        DELETE FROM spells_long WHERE id = OLD.id;
    END IF;
    IF NEW.deleted_at IS NULL AND NEW.ended_at - NEW.started_at > spells_lookback() THEN
        INSERT INTO spells_long (id, agent_id, started_at, ended_at)
        VALUES (NEW.id, NEW.agent_id, NEW.started_at, NEW.ended_at);
    END IF;
    -- Not the closing of the current spell (every presence change): a
    -- day is rolled up only once it has ended, with the then current
    -- spells counted to its end.
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
    RETURN NULL;
END
$$;
-- +goose StatementEnd
