-- Windows over the spells that read only the window (bounded look-back),
-- and daily rollups (issue 12).
--
-- spells_window(from, to) is every spell, deleted or not, that overlaps
-- [from, to): those that started in [from - spells_lookback(), to) (the
-- months of the window, on spells_agent_started_idx or spells_started_brin),
-- the long ones that started earlier (spells_long, a small table) and the
-- current ones that started earlier (spells_current_idx). A plain SQL
-- function, so the planner inlines it: filters on its rows reach every
-- branch, and the partitions outside the window are pruned.
--
-- spell_rollups holds, per UTC day, agent and status: the seconds in the
-- status, the spells in it (that overlap the day), and the at-capacity and
-- idle time (a spell's stored figures, prorated to its part of the day).
-- db.HistoryKeeper rolls up each day once it has ended, and again when a
-- spell of it is edited afterwards (soft delete, restore, a changed range:
-- spells_history() marks the days in spell_rollup_dirty). Month and year
-- reports read report.daily_status and never scan spells.

-- +goose Up
-- The long spells (> 1 day) are rare, so spells_lookback() could shrink to
-- cut what a window reads; 2 hours keeps spells_long to the overnight and
-- weekend spells of a contact centre.
CREATE OR REPLACE FUNCTION spells_lookback() RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT interval '2 hours' $$;
TRUNCATE spells_long;
INSERT INTO spells_long
SELECT id, agent_id, started_at, ended_at FROM spells
 WHERE deleted_at IS NULL AND ended_at - started_at > spells_lookback();
CREATE INDEX spells_long_range_idx ON spells_long USING gist (tstzrange(started_at, ended_at, '[)'));
DROP INDEX spells_long_ended_idx;

-- +goose StatementBegin
CREATE FUNCTION spells_window(p_from timestamptz, p_to timestamptz) RETURNS SETOF spells
LANGUAGE sql STABLE AS $$
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
-- +goose StatementEnd

CREATE TABLE spell_rollups (
    day            date    NOT NULL,
    agent_id       text    NOT NULL,
    status_id      text    NOT NULL,
    seconds        numeric NOT NULL,
    spells         integer NOT NULL,
    at_capacity_ms bigint  NOT NULL,
    idle_ms        bigint  NOT NULL,
    PRIMARY KEY (day, agent_id, status_id)
);
CREATE TABLE spell_rollup_days (
    day       date PRIMARY KEY,
    rolled_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE spell_rollup_dirty (
    day date PRIMARY KEY
);

-- spell_rollup_rows computes the rollup rows of one UTC day from its
-- spells, read-only: db.HistoryKeeper reads them (no transaction id, so no
-- event reader waits on the seconds this takes for 600k spells), then
-- writes them in one short transaction.
-- +goose StatementBegin
CREATE FUNCTION spell_rollup_rows(p_day date) RETURNS SETOF spell_rollups
LANGUAGE sql STABLE AS $$
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
-- +goose StatementEnd

-- spell_rollup_day (re)computes one UTC day in one statement (tests,
-- psql); the keeper does the same in two steps.
-- +goose StatementBegin
CREATE FUNCTION spell_rollup_day(p_day date) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    DELETE FROM spell_rollups WHERE day = p_day;
    INSERT INTO spell_rollups SELECT * FROM spell_rollup_rows(p_day);
    INSERT INTO spell_rollup_days (day, rolled_at) VALUES (p_day, now())
        ON CONFLICT (day) DO UPDATE SET rolled_at = excluded.rolled_at;
    DELETE FROM spell_rollup_dirty WHERE day = p_day;
END
$$;
-- +goose StatementEnd

-- spell_rollup_pending returns the ended UTC days that need a rollup: not
-- rolled up yet (from the first spell on) or marked dirty.
-- +goose StatementBegin
CREATE FUNCTION spell_rollup_pending(p_now timestamptz) RETURNS SETOF date
LANGUAGE sql STABLE AS $$
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
-- +goose StatementEnd

-- spells_history() (00012) also marks the rolled-up days an edit changes.
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

-- report.status_time with the bounded look-back of spells_window: it reads
-- the window's spells, not all history. Same signature, same rows.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION report.status_time(p_from timestamptz, p_to timestamptz, p_tz text)
RETURNS TABLE (agent_id text, day date, status_id text, status_label text,
               system_presence text, seconds numeric)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH clipped AS (
        SELECT s.agent_id, s.status_id,
               greatest(s.started_at, p_from) AS lo,
               least(coalesce(s.ended_at, now()), p_to) AS hi
        FROM public.spells_window(p_from, p_to) s
        WHERE s.deleted_at IS NULL
    ), cut AS (
        SELECT c.agent_id, c.status_id, d::date AS day,
               greatest(c.lo, d AT TIME ZONE p_tz) AS lo,
               least(c.hi, (d + interval '1 day') AT TIME ZONE p_tz) AS hi
        FROM clipped c,
             generate_series((c.lo AT TIME ZONE p_tz)::date::timestamp,
                             (c.hi AT TIME ZONE p_tz)::date::timestamp,
                             interval '1 day') AS d
        WHERE c.hi > c.lo
    )
    SELECT cut.agent_id, cut.day, cut.status_id, st.label, st.system_presence,
           sum(extract(epoch FROM cut.hi - cut.lo))
    FROM cut
    JOIN public.statuses st ON st.id = cut.status_id
    WHERE cut.hi > cut.lo
    GROUP BY cut.agent_id, cut.day, cut.status_id, st.label, st.system_presence
    ORDER BY cut.agent_id, cut.day, cut.status_id
$$;
-- +goose StatementEnd

-- Per agent, UTC day and status, from the rollups (days not rolled up yet,
-- today included, have no rows: see report.daily_status_days).
CREATE VIEW report.daily_status AS
SELECT r.day, r.agent_id, r.status_id, st.label AS status_label, st.system_presence, st.is_away,
       r.seconds, r.spells, r.at_capacity_ms, r.idle_ms
FROM spell_rollups r
JOIN statuses st ON st.id = r.status_id;

CREATE VIEW report.daily_status_days AS
SELECT d.day, d.rolled_at, (x.day IS NOT NULL) AS stale
FROM spell_rollup_days d
LEFT JOIN spell_rollup_dirty x ON x.day = d.day;

GRANT SELECT ON report.daily_status, report.daily_status_days TO presence_reporting;

-- +goose Down
DROP VIEW report.daily_status_days;
DROP VIEW report.daily_status;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION report.status_time(p_from timestamptz, p_to timestamptz, p_tz text)
RETURNS TABLE (agent_id text, day date, status_id text, status_label text,
               system_presence text, seconds numeric)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH clipped AS (
        SELECT s.agent_id, s.status_id,
               greatest(s.started_at, p_from) AS lo,
               least(coalesce(s.ended_at, now()), p_to) AS hi
        FROM public.spells s
        WHERE s.deleted_at IS NULL
          AND s.started_at < p_to
          AND coalesce(s.ended_at, now()) > p_from
    ), cut AS (
        SELECT c.agent_id, c.status_id, d::date AS day,
               greatest(c.lo, d AT TIME ZONE p_tz) AS lo,
               least(c.hi, (d + interval '1 day') AT TIME ZONE p_tz) AS hi
        FROM clipped c,
             generate_series((c.lo AT TIME ZONE p_tz)::date::timestamp,
                             (c.hi AT TIME ZONE p_tz)::date::timestamp,
                             interval '1 day') AS d
        WHERE c.hi > c.lo
    )
    SELECT cut.agent_id, cut.day, cut.status_id, st.label, st.system_presence,
           sum(extract(epoch FROM cut.hi - cut.lo))
    FROM cut
    JOIN public.statuses st ON st.id = cut.status_id
    WHERE cut.hi > cut.lo
    GROUP BY cut.agent_id, cut.day, cut.status_id, st.label, st.system_presence
    ORDER BY cut.agent_id, cut.day, cut.status_id
$$;
-- +goose StatementEnd
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
    RETURN NULL;
END
$$;
-- +goose StatementEnd
DROP FUNCTION spell_rollup_pending(timestamptz);
DROP FUNCTION spell_rollup_day(date);
DROP FUNCTION spell_rollup_rows(date);
DROP TABLE spell_rollup_dirty;
DROP TABLE spell_rollup_days;
DROP TABLE spell_rollups;
DROP FUNCTION spells_window(timestamptz, timestamptz);
CREATE INDEX spells_long_ended_idx ON spells_long (ended_at);
DROP INDEX spells_long_range_idx;
CREATE OR REPLACE FUNCTION spells_lookback() RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT interval '1 day' $$;
TRUNCATE spells_long;
INSERT INTO spells_long
SELECT id, agent_id, started_at, ended_at FROM spells
 WHERE deleted_at IS NULL AND ended_at - started_at > spells_lookback();
