-- The SECURITY DEFINER functions of 00003 and 00006 ran with
-- search_path = pg_catalog, public. PostgreSQL searches the caller's
-- temporary schema before those when pg_temp is not named in the path, so
-- a member of presence_reporting could CREATE TEMP VIEW spells AS SELECT
-- pg_temp.f() ... and have f run as the functions' owner (issue 11).
--
-- Each one is recreated here (same signature, same body) with
--   SET search_path = pg_catalog, pg_temp
-- and every name schema-qualified: pg_temp comes last, so a temporary
-- object can never shadow anything, and nothing the functions name is
-- looked up in a schema a caller can write to. They stay SECURITY
-- DEFINER: the reporting role reads the report views and may not read the
-- tables under them, and SECURITY INVOKER functions over those views would
-- either need grants on the base tables (work_items for the capacity
-- figures) or compute the live capacity figures of report.spells for every
-- current spell that status_time never uses.
--
-- spell_capacity_figures is not SECURITY DEFINER, but it runs as the owner
-- when report.capacity_figures calls it, with the caller's search_path as
-- pinned above: it gets a fixed path of its own (public before pg_temp).
--
-- Every function of ours in public loses EXECUTE for PUBLIC: the service runs as
-- their owner and needs no grant, triggers are not checked for it, and a
-- reporting user has no business calling presence_change or event_append
-- (they would fail on table rights anyway; now they fail at the call).
-- Functions the migrating role makes later get no EXECUTE for PUBLIC
-- either (ALTER DEFAULT PRIVILEGES, this database); a function in report
-- is granted to presence_reporting by its migration, as before.
-- TestReportRoleCannotCallPublicFunctions guards it.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION report.status_time(p_from timestamptz, p_to timestamptz, p_tz text)
RETURNS TABLE (agent_id text, day date, status_id text, status_label text,
               system_presence text, seconds numeric)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH clipped AS (
        SELECT s.agent_id, s.status_id,
               greatest(s.started_at, p_from) AS lo,
               least(coalesce(s.ended_at, pg_catalog.now()), p_to) AS hi
        FROM public.spells s
        WHERE s.deleted_at IS NULL
          AND s.started_at < p_to
          AND coalesce(s.ended_at, pg_catalog.now()) > p_from
    ), cut AS (
        SELECT c.agent_id, c.status_id, d::date AS day,
               greatest(c.lo, d AT TIME ZONE p_tz) AS lo,
               least(c.hi, (d + interval '1 day') AT TIME ZONE p_tz) AS hi
        FROM clipped c,
             pg_catalog.generate_series((c.lo AT TIME ZONE p_tz)::date::timestamp,
                                        (c.hi AT TIME ZONE p_tz)::date::timestamp,
                                        interval '1 day') AS d
        WHERE c.hi > c.lo
    )
    SELECT cut.agent_id, cut.day, cut.status_id, st.label, st.system_presence,
           pg_catalog.sum(extract(epoch FROM cut.hi - cut.lo))
    FROM cut
    JOIN public.statuses st ON st.id = cut.status_id
    WHERE cut.hi > cut.lo
    GROUP BY cut.agent_id, cut.day, cut.status_id, st.label, st.system_presence
    ORDER BY cut.agent_id, cut.day, cut.status_id
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION report.capacity_figures(p_agent text, p_from timestamptz, p_to timestamptz, p_capacity integer,
                                                   OUT at_capacity_ms bigint, OUT idle_ms bigint,
                                                   OUT average_capacity double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT f.at_capacity_ms, f.idle_ms, f.average_capacity
    FROM public.spell_capacity_figures(p_agent, p_from, p_to, p_capacity) f
$$;
-- +goose StatementEnd

ALTER FUNCTION public.spell_capacity_figures(text, timestamptz, timestamptz, integer)
    SET search_path = pg_catalog, public, pg_temp;

-- Not the functions of extensions (btree_gist's): they are not ours.
-- +goose StatementBegin
DO $$
DECLARE f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'public'::regnamespace
               AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;
-- +goose StatementEnd
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- +goose Down
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO PUBLIC;
-- +goose StatementBegin
DO $$
DECLARE f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'public'::regnamespace
               AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f);
    END LOOP;
END
$$;
-- +goose StatementEnd
ALTER FUNCTION public.spell_capacity_figures(text, timestamptz, timestamptz, integer) RESET search_path;
-- The functions of 00003 and 00006 as they were.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION report.capacity_figures(p_agent text, p_from timestamptz, p_to timestamptz, p_capacity integer,
                                                   OUT at_capacity_ms bigint, OUT idle_ms bigint,
                                                   OUT average_capacity double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT f.at_capacity_ms, f.idle_ms, f.average_capacity
    FROM spell_capacity_figures(p_agent, p_from, p_to, p_capacity) f
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION report.status_time(p_from timestamptz, p_to timestamptz, p_tz text)
RETURNS TABLE (agent_id text, day date, status_id text, status_label text,
               system_presence text, seconds numeric)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    WITH clipped AS (
        SELECT s.agent_id, s.status_id,
               greatest(s.started_at, p_from) AS lo,
               least(coalesce(s.ended_at, now()), p_to) AS hi
        FROM spells s
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
    JOIN statuses st ON st.id = cut.status_id
    WHERE cut.hi > cut.lo
    GROUP BY cut.agent_id, cut.day, cut.status_id, st.label, st.system_presence
    ORDER BY cut.agent_id, cut.day, cut.status_id
$$;
-- +goose StatementEnd
