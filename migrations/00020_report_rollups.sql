-- Day reports that cost what their window costs in rollups, not in spells
-- (issue 12). A day of a 10,000-agent centre is 600k spells: aggregating
-- them took 0.4–2.6 s a report however the SQL was written, so:
--
--   * report.status_time reads a whole local day from the daily rollups
--     when it can: the rollup of the UTC day nearest to it, corrected by
--     the spells of the hour(s) where the two differ (one hour each side
--     for Paris). It gives the same rows as reading the spells
--     (TestStatusTimeFromRollupsIsFromSpells), and reads the spells for
--     the days it cannot (today, a window's partial days, a day whose
--     rollup is stale or was made before the day ended).
--   * spell_rollup_intervals rolls each ended UTC day up into 15-minute
--     intervals per status over all agents (spells started, time in the
--     status, agents in it): interval reports, hourly in any time zone
--     (every zone's hours fall on UTC quarter hours), with no spell read.
--   * spell_rollup_totals keeps running totals of the daily rollups per
--     agent and status, so that report.status_totals(from, to) answers
--     the totals of any run of days from two days' rows, however long the
--     run (30 days of daily rows were 2.4M rows to sum: 1.2-1.9 s).
--   * The functions the report views call are PARALLEL SAFE, so that a
--     report that does scan spells can use parallel workers; they were
--     PARALLEL UNSAFE by default, which made every query on report.spells
--     serial.

-- +goose Up
CREATE TABLE spell_rollup_intervals (
    starts_at timestamptz NOT NULL,
    status_id text        NOT NULL,
    spells    integer     NOT NULL, -- spells of the status that started in the interval
    seconds   numeric     NOT NULL, -- time in the status within the interval, all agents
    agents    integer     NOT NULL, -- agents that spent time in the status within it
    PRIMARY KEY (starts_at, status_id)
);

-- The 15-minute intervals of UTC day p_day, computed as spell_rollup_rows
-- computes the day's rows (the same window, clipping and current spells),
-- cut at every quarter hour.
-- +goose StatementBegin
CREATE FUNCTION spell_rollup_interval_rows(p_day date) RETURNS SETOF spell_rollup_intervals
LANGUAGE sql STABLE AS $$
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
-- +goose StatementEnd
REVOKE ALL ON FUNCTION spell_rollup_interval_rows(date) FROM PUBLIC;

CREATE VIEW report.interval_status AS
SELECT i.starts_at, i.starts_at + interval '15 minutes' AS ends_at, i.status_id,
       st.label AS status_label, st.system_presence, st.is_away, i.spells, i.seconds, i.agents
  FROM public.spell_rollup_intervals i
  JOIN public.statuses st ON st.id = i.status_id;
GRANT SELECT ON report.interval_status TO presence_reporting;

-- Whether a rolled-up day has its intervals: the days rolled up before
-- this migration get theirs at the history duty's next round (their daily
-- rows stand: they are not stale).
ALTER TABLE spell_rollup_days ADD COLUMN intervals boolean NOT NULL DEFAULT false;


-- Running totals: the row of (day, agent, status) is the sum of that
-- agent's and status's daily rollups of every rolled-up day up to day.
-- A pair, once it has a row, has one on every later day.
CREATE TABLE spell_rollup_totals (
    day            date    NOT NULL,
    agent_id       text    NOT NULL,
    status_id      text    NOT NULL,
    seconds        numeric NOT NULL,
    spells         bigint  NOT NULL,
    at_capacity_ms bigint  NOT NULL,
    idle_ms        bigint  NOT NULL,
    PRIMARY KEY (day, agent_id, status_id)
);

-- The days whose rollups changed since the totals were computed: the
-- history duty (db/history.go) adds a day in the transaction that
-- replaces its rollups, and recomputes the totals once a round from the
-- earliest (a year of days edited at once costs one pass, not one per
-- day). Until then report.status_totals sums the daily rows of a window
-- that reaches a pending day.
CREATE TABLE spell_rollup_totals_pending (day date PRIMARY KEY);
-- The rolled-up days before this migration: the duty's first round.
INSERT INTO spell_rollup_totals_pending SELECT min(day) FROM spell_rollup_days HAVING min(day) IS NOT NULL;

-- spell_rollup_totals_from recomputes the totals of p_day and of every
-- rolled-up day after it, day by day from the day before's (one day's
-- rows each).
-- +goose StatementBegin
CREATE FUNCTION spell_rollup_totals_from(p_day date) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
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
-- +goose StatementEnd
REVOKE ALL ON FUNCTION spell_rollup_totals_from(date) FROM PUBLIC;

-- report.status_totals: per agent and status, the sums of
-- report.daily_status over the UTC days [p_from, p_to] (the same rows as
-- summing them), as the difference of two days' running totals; while
-- totals are pending for a day of the window or before it, the sums of
-- the daily rows.
-- +goose StatementBegin
CREATE FUNCTION report.status_totals(p_from date, p_to date)
RETURNS TABLE (agent_id text, status_id text, status_label text, system_presence text, is_away boolean,
               seconds numeric, spells bigint, at_capacity_ms bigint, idle_ms bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET work_mem = '64MB'
SET jit = off
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
-- +goose StatementEnd
REVOKE ALL ON FUNCTION report.status_totals(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION report.status_totals(date, date) TO presence_reporting;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spell_rollup_day(p_day date) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
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
-- +goose StatementEnd

ALTER FUNCTION spell_capacity_figures(text, timestamptz, timestamptz, integer) PARALLEL SAFE;
ALTER FUNCTION report.capacity_figures(text, timestamptz, timestamptz, integer) PARALLEL SAFE;

-- status_time: each local day of the window is a segment [lo, hi) (the
-- window's edges cut the first and the last). A whole day whose nearest
-- UTC day U is rolled up (after U ended, and not stale since) is U's rollup
-- plus the spells of the part of the local day outside U, minus those of
-- the part of U outside the local day; every other segment is read from
-- spells. A piece of spell is counted in the one segment it falls in, the
-- current spell up to now, as before. Grouping on status_id alone and
-- joining the labels after is what keeps the sort off the label text.
-- work_mem: 80,000 groups a day (10,000 agents × 8 statuses) spilled to
-- disk at the default 4 MB; jit: compiling the plan cost more than it
-- saved (1 s of a 5 s report).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION report.status_time(p_from timestamptz, p_to timestamptz, p_tz text)
RETURNS TABLE (agent_id text, day date, status_id text, status_label text, system_presence text, seconds numeric)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET work_mem = '64MB'
SET jit = off
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
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION report.status_time(p_from timestamptz, p_to timestamptz, p_tz text)
RETURNS TABLE (agent_id text, day date, status_id text, status_label text, system_presence text, seconds numeric)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
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
ALTER FUNCTION report.capacity_figures(text, timestamptz, timestamptz, integer) PARALLEL UNSAFE;
ALTER FUNCTION spell_capacity_figures(text, timestamptz, timestamptz, integer) PARALLEL UNSAFE;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spell_rollup_day(p_day date) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    DELETE FROM spell_rollups WHERE day = p_day;
    INSERT INTO spell_rollups SELECT * FROM spell_rollup_rows(p_day);
    INSERT INTO spell_rollup_days (day, rolled_at) VALUES (p_day, now())
        ON CONFLICT (day) DO UPDATE SET rolled_at = excluded.rolled_at;
    DELETE FROM spell_rollup_dirty WHERE day = p_day;
END
$$;
-- +goose StatementEnd
ALTER TABLE spell_rollup_days DROP COLUMN intervals;
DROP FUNCTION report.status_totals(date, date);
DROP FUNCTION spell_rollup_totals_from(date);
DROP TABLE spell_rollup_totals_pending;
DROP TABLE spell_rollup_totals;
DROP VIEW report.interval_status;
DROP FUNCTION spell_rollup_interval_rows(date);
DROP TABLE spell_rollup_intervals;
