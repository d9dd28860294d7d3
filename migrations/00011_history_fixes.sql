-- Plain SQL fixes of the history reads (issue 12), before partitioning.
--
-- report.spells ran report.capacity_figures for every row: the lateral
-- subquery's "WHERE s.ended_at IS NULL" did not stop the function scan of
-- a closed spell (600k calls for a one-day report). Closed spells carry
-- their figures; only current spells compute them, so the view is now the
-- closed spells as stored UNION ALL the current ones with live figures.
-- Same columns, same order: a filter on the view reaches both branches.
--
-- The pruner's cut (EventPruneCut) looks for the newest event older than
-- the retention: events_at_idx reads just those (the minute's worth
-- since the last round) instead of the whole log.

-- +goose Up
CREATE INDEX events_at_idx ON events (at);

CREATE OR REPLACE VIEW report.spells AS
SELECT s.id, s.agent_id, s.status_id, st.label AS status_label, st.system_presence, st.is_away,
       s.source, s.reason_code, s.message, s.started_at, s.ended_at,
       (extract(epoch FROM s.duration) * 1000)::bigint AS duration_ms,
       s.is_current, s.at_capacity_ms, s.idle_ms, s.average_capacity,
       s.updated_at, s.deleted_at,
       s.configured_capacity, s.configured_interrupt_capacity
FROM spells s
JOIN statuses st ON st.id = s.status_id
WHERE s.deleted_at IS NULL AND s.ended_at IS NOT NULL
UNION ALL
SELECT s.id, s.agent_id, s.status_id, st.label, st.system_presence, st.is_away,
       s.source, s.reason_code, s.message, s.started_at, s.ended_at,
       (extract(epoch FROM s.duration) * 1000)::bigint,
       s.is_current, f.at_capacity_ms, f.idle_ms, f.average_capacity,
       s.updated_at, s.deleted_at,
       s.configured_capacity, s.configured_interrupt_capacity
FROM spells s
JOIN statuses st ON st.id = s.status_id
CROSS JOIN LATERAL report.capacity_figures(s.agent_id, s.started_at, greatest(now(), s.started_at),
                                           s.configured_capacity) f
WHERE s.deleted_at IS NULL AND s.ended_at IS NULL;

-- +goose Down
CREATE OR REPLACE VIEW report.spells AS
SELECT s.id, s.agent_id, s.status_id, st.label AS status_label, st.system_presence, st.is_away,
       s.source, s.reason_code, s.message, s.started_at, s.ended_at,
       (extract(epoch FROM s.duration) * 1000)::bigint AS duration_ms,
       s.is_current,
       coalesce(f.at_capacity_ms, s.at_capacity_ms)     AS at_capacity_ms,
       coalesce(f.idle_ms, s.idle_ms)                   AS idle_ms,
       coalesce(f.average_capacity, s.average_capacity) AS average_capacity,
       s.updated_at, s.deleted_at,
       s.configured_capacity, s.configured_interrupt_capacity
FROM spells s
JOIN statuses st ON st.id = s.status_id
LEFT JOIN LATERAL (
    SELECT c.at_capacity_ms, c.idle_ms, c.average_capacity
    FROM report.capacity_figures(s.agent_id, s.started_at, greatest(now(), s.started_at), s.configured_capacity) c
    WHERE s.ended_at IS NULL
) f ON true
WHERE s.deleted_at IS NULL;
DROP INDEX events_at_idx;
