-- The reporting schema: a stable face over the live tables, so base tables
-- may change without breaking anyone's SQL. The role presence_reporting
-- (NOLOGIN; grant it to a login role) may read this schema and nothing else:
-- views run with their owner's rights, and status_time is SECURITY DEFINER.

-- +goose Up
CREATE SCHEMA report;

CREATE VIEW report.current_presence AS
SELECT r.agent_id, a.name AS agent_name, r.status_id, r.status_label, r.system_presence,
       r.is_away, r.state, r.routing_status, r.since
FROM presence_records r
JOIN agents a ON a.id = r.agent_id
WHERE a.deleted_at IS NULL;

CREATE VIEW report.spells AS
SELECT s.id, s.agent_id, s.status_id, st.label AS status_label, st.system_presence, st.is_away,
       s.source, s.reason_code, s.message, s.started_at, s.ended_at,
       (extract(epoch FROM s.duration) * 1000)::bigint AS duration_ms,
       s.is_current, s.at_capacity_ms, s.idle_ms, s.average_capacity, s.updated_at, s.deleted_at
FROM spells s
JOIN statuses st ON st.id = s.status_id
WHERE s.deleted_at IS NULL;

-- status_time: seconds per agent, local day and status in [p_from, p_to).
-- Spells are cut at the window's edges and at local midnights of p_tz (DST
-- aware: midnights are computed as local timestamps, then converted); the
-- current spell counts up to now.
-- +goose StatementBegin
CREATE FUNCTION report.status_time(p_from timestamptz, p_to timestamptz, p_tz text)
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

-- Roles are cluster-wide: create it once, grant in every database.
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'presence_reporting') THEN
        CREATE ROLE presence_reporting NOLOGIN;
    END IF;
END
$$;
-- +goose StatementEnd
REVOKE ALL ON SCHEMA report FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION report.status_time(timestamptz, timestamptz, text) FROM PUBLIC;
GRANT USAGE ON SCHEMA report TO presence_reporting;
GRANT SELECT ON ALL TABLES IN SCHEMA report TO presence_reporting;
GRANT EXECUTE ON FUNCTION report.status_time(timestamptz, timestamptz, text) TO presence_reporting;

-- +goose Down
REVOKE ALL ON SCHEMA report FROM presence_reporting;
DROP SCHEMA report CASCADE;
