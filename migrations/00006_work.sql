-- Work items, capacity in use, automatic presence and the spell capacity
-- figures.
--
-- A work item is a unit of work assigned to an agent (a chat, a call, a
-- case): channel, capacity units, interruptible or not, assigned and closed
-- times. The open items of an agent are its capacity in use: primary units
-- against agents.capacity, interruptible units against
-- agents.interrupt_capacity. The history of items is what the spell figures
-- (at-capacity time, idle time, average capacity) are computed from.
--
-- What lives where:
--   * work_items is the truth. Every change of it is made by the work
--     service under the agent's row lock (AgentLockByID).
--   * agent_states.capacity_in_use / interrupt_in_use materialise the sums
--     of the open items, written by an immediate trigger in the statement
--     that changes an item, so that the bulk presence read joins one row
--     per agent instead of aggregating work, and so that every record read
--     later in the same transaction is already up to date.
--   * The automatic presence change (busy when full, back when freed) is
--     made by the service with the same spell change as a manual one, in
--     the same transaction.
--   * The routing refresh and the agents.{id}.capacity event run from a
--     DEFERRED constraint trigger, at commit: by then the automatic
--     presence change has been made, so every event of the transaction
--     (presence, routing, capacity) carries the final record — no event
--     body ever shows a full agent as available, or a freed one as busy.

-- +goose Up
CREATE TABLE work_items (
    -- Client-chosen (same characters as agent ids) or generated.
    id            text PRIMARY KEY DEFAULT gen_random_uuid()::text
                  CHECK (id ~ '^[A-Za-z0-9._@+-]{1,128}$'),
    agent_id      text NOT NULL REFERENCES agents (id),
    channel       text NOT NULL CHECK (channel ~ '^[A-Za-z0-9._@+-]{1,128}$'),
    units         integer NOT NULL CHECK (units BETWEEN 1 AND 1000),
    interruptible boolean NOT NULL DEFAULT false,
    assigned_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    closed_at     timestamptz,
    -- closed: by its agent or the router (DELETE /v1/work/{wid});
    -- released: force-closed by an admin (stuck work); agent_deleted.
    close_reason  text CHECK (close_reason IN ('closed', 'released', 'agent_deleted')),
    reason_code   text CHECK (length(reason_code) BETWEEN 1 AND 64),
    CHECK ((closed_at IS NULL) = (close_reason IS NULL)),
    CHECK (closed_at IS NULL OR closed_at >= assigned_at),
    CHECK (closed_at IS NOT NULL OR reason_code IS NULL)
);

-- One index serves both look-ups: an agent's open items (closed_at IS
-- NULL, the capacity check under the lock) and the items that overlap a
-- spell (closed after its start, or open), for the figures. Not
-- (agent_id, assigned_at): a window query on it would walk the agent's
-- whole history.
CREATE INDEX work_items_agent_closed_idx ON work_items (agent_id, closed_at);

ALTER TABLE agent_states
    ADD COLUMN capacity_in_use  integer NOT NULL DEFAULT 0 CHECK (capacity_in_use >= 0),
    ADD COLUMN interrupt_in_use integer NOT NULL DEFAULT 0 CHECK (interrupt_in_use >= 0);

-- The capacity a spell was measured against (Salesforce ConfiguredCapacity
-- and ConfiguredInterruptibleCapacity): the agent's, when the spell opened.
ALTER TABLE spells
    ADD COLUMN configured_capacity           integer CHECK (configured_capacity >= 0),
    ADD COLUMN configured_interrupt_capacity integer CHECK (configured_interrupt_capacity >= 0);
UPDATE spells s
   SET configured_capacity = a.capacity, configured_interrupt_capacity = a.interrupt_capacity
  FROM agents a
 WHERE a.id = s.agent_id;
ALTER TABLE spells
    ALTER COLUMN configured_capacity SET NOT NULL,
    ALTER COLUMN configured_interrupt_capacity SET NOT NULL;

-- spell_capacity_figures computes, from the work history, the capacity
-- figures of the agent over [p_from, p_to) against p_capacity primary units:
--
--   at_capacity_ms    time during which the primary units in use were at
--                     least p_capacity (never when p_capacity is 0)
--   idle_ms           time with no open work item at all
--   average_capacity  ∫ primary units in use dt / (p_to - p_from);
--                     0 for an empty window
--
-- Items are clipped to the window; the open ones run to p_to. The levels
-- are step functions that change only where an item starts or ends, so the
-- sums are exact: timestamps are microseconds, extract(epoch ...) is
-- numeric, and only the final figures are cut to whole milliseconds
-- (truncated, as the API's duration_ms is, so neither figure can exceed
-- the spell's duration_ms). plpgsql, so that its plan is cached per
-- session: it runs in the trigger of every spell that closes.
-- +goose StatementBegin
CREATE FUNCTION spell_capacity_figures(p_agent text, p_from timestamptz, p_to timestamptz, p_capacity integer,
                                       OUT at_capacity_ms bigint, OUT idle_ms bigint,
                                       OUT average_capacity double precision)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_total    numeric := extract(epoch FROM p_to - p_from);
    v_full     numeric;
    v_busy     numeric;
    v_integral numeric;
BEGIN
    IF v_total IS NULL OR v_total <= 0 THEN
        at_capacity_ms := 0; idle_ms := 0; average_capacity := 0;
        RETURN;
    END IF;
    -- Most spells of most agents see no work at all (every presence change
    -- closes a spell and lands here): two index probes instead of the sums.
    IF NOT EXISTS (SELECT 1 FROM work_items i
                    WHERE i.agent_id = p_agent AND i.closed_at IS NULL AND i.assigned_at < p_to)
       AND NOT EXISTS (SELECT 1 FROM work_items i
                        WHERE i.agent_id = p_agent AND i.closed_at > p_from AND i.assigned_at < p_to) THEN
        at_capacity_ms := 0; idle_ms := trunc(v_total * 1000); average_capacity := 0;
        RETURN;
    END IF;
    WITH w AS (
        -- Two range scans of work_items_agent_closed_idx: the open items
        -- and those closed after the window opened. least() ignores NULL.
        SELECT greatest(i.assigned_at, p_from) AS lo, least(i.closed_at, p_to) AS hi, i.units, i.interruptible
          FROM work_items i
         WHERE i.agent_id = p_agent AND i.closed_at IS NULL AND i.assigned_at < p_to
        UNION ALL
        SELECT greatest(i.assigned_at, p_from), least(i.closed_at, p_to), i.units, i.interruptible
          FROM work_items i
         WHERE i.agent_id = p_agent AND i.closed_at > p_from AND i.assigned_at < p_to
    ), d AS (
        -- Every start adds its units (primary only) and one open item;
        -- every end takes them away.
        SELECT w.lo AS at, CASE WHEN w.interruptible THEN 0 ELSE w.units END AS du, 1 AS dn
          FROM w WHERE w.hi > w.lo
        UNION ALL
        SELECT w.hi, CASE WHEN w.interruptible THEN 0 ELSE -w.units END, -1
          FROM w WHERE w.hi > w.lo
    ), steps AS (
        -- The levels from each distinct instant to the next one.
        SELECT d.at,
               lead(d.at) OVER (ORDER BY d.at) AS next_at,
               sum(sum(d.du)) OVER (ORDER BY d.at) AS units,
               sum(sum(d.dn)) OVER (ORDER BY d.at) AS n
          FROM d
         GROUP BY d.at
    )
    SELECT coalesce(sum(extract(epoch FROM s.next_at - s.at)) FILTER (WHERE p_capacity > 0 AND s.units >= p_capacity), 0),
           coalesce(sum(extract(epoch FROM s.next_at - s.at)) FILTER (WHERE s.n > 0), 0),
           coalesce(sum(extract(epoch FROM s.next_at - s.at) * s.units), 0)
      INTO v_full, v_busy, v_integral
      FROM steps s
     WHERE s.next_at IS NOT NULL;
    at_capacity_ms := trunc(v_full * 1000);
    idle_ms := trunc((v_total - v_busy) * 1000);
    average_capacity := (v_integral / v_total)::double precision;
END
$$;
-- +goose StatementEnd

-- Spells take the agent's configured capacities when they open, and store
-- their figures when they close, in the statement that closes them
-- (SpellChange, SpellCloseCurrent, or any other). A spell inserted closed
-- (imports, tests with explicit timestamps) gets its figures at once.
-- +goose StatementBegin
CREATE FUNCTION spells_capacity() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND (NEW.configured_capacity IS NULL OR NEW.configured_interrupt_capacity IS NULL) THEN
        SELECT coalesce(NEW.configured_capacity, a.capacity, 0),
               coalesce(NEW.configured_interrupt_capacity, a.interrupt_capacity, 0)
          INTO NEW.configured_capacity, NEW.configured_interrupt_capacity
          FROM (SELECT 1) one
          LEFT JOIN agents a ON a.id = NEW.agent_id;
    END IF;
    IF NEW.ended_at IS NOT NULL AND (TG_OP = 'INSERT'
            OR (NEW.started_at, NEW.ended_at) IS DISTINCT FROM (OLD.started_at, OLD.ended_at)) THEN
        -- The common case inline (a spell without any work: every
        -- presence change of an agent that takes no work), the same two
        -- probes as the function's own short cut, without the call.
        IF EXISTS (SELECT 1 FROM work_items i
                    WHERE i.agent_id = NEW.agent_id AND i.closed_at IS NULL AND i.assigned_at < NEW.ended_at)
           OR EXISTS (SELECT 1 FROM work_items i
                       WHERE i.agent_id = NEW.agent_id AND i.closed_at > NEW.started_at AND i.assigned_at < NEW.ended_at) THEN
            SELECT f.at_capacity_ms, f.idle_ms, f.average_capacity
              INTO NEW.at_capacity_ms, NEW.idle_ms, NEW.average_capacity
              FROM spell_capacity_figures(NEW.agent_id, NEW.started_at, NEW.ended_at, NEW.configured_capacity) f;
        ELSE
            NEW.at_capacity_ms := 0;
            NEW.idle_ms := trunc(extract(epoch FROM NEW.ended_at - NEW.started_at) * 1000);
            NEW.average_capacity := 0;
        END IF;
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER spells_capacity BEFORE INSERT OR UPDATE OF started_at, ended_at ON spells
    FOR EACH ROW EXECUTE FUNCTION spells_capacity();

-- The hook of 00004, same signature: open work makes an agent on a queue
-- INTERACTING.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION agent_open_work(p_agent text) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT count(*)::integer FROM work_items WHERE agent_id = p_agent AND closed_at IS NULL
$$;
-- +goose StatementEnd

-- Immediate: store the agent's capacity in use, and audit a release.
-- +goose StatementBegin
CREATE FUNCTION work_items_usage() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO agent_states AS s (agent_id, capacity_in_use, interrupt_in_use)
    SELECT NEW.agent_id,
           coalesce(sum(i.units) FILTER (WHERE NOT i.interruptible), 0),
           coalesce(sum(i.units) FILTER (WHERE i.interruptible), 0)
      FROM work_items i
     WHERE i.agent_id = NEW.agent_id AND i.closed_at IS NULL
    ON CONFLICT (agent_id) DO UPDATE
       SET capacity_in_use = excluded.capacity_in_use, interrupt_in_use = excluded.interrupt_in_use;
    IF TG_OP = 'UPDATE' AND NEW.close_reason = 'released' THEN
        PERFORM admin_event('release', 'work', NEW.id, NEW.agent_id);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER work_items_usage_insert AFTER INSERT ON work_items
    FOR EACH ROW EXECUTE FUNCTION work_items_usage();
CREATE TRIGGER work_items_usage_close AFTER UPDATE OF closed_at ON work_items
    FOR EACH ROW WHEN (OLD.closed_at IS NULL AND NEW.closed_at IS NOT NULL)
    EXECUTE FUNCTION work_items_usage();

-- capacity_event_json is the body of an agents.{id}.capacity event: the
-- presence record (capacity.configured / in_use are the primary units),
-- plus the interrupt capacity, the open items, and the change that made
-- the event.
-- +goose StatementBegin
CREATE FUNCTION capacity_event_json(p_agent text, p_change jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN presence_record_json(p_agent) || jsonb_build_object(
        'interrupt_capacity', (
            SELECT jsonb_build_object('configured', a.interrupt_capacity,
                                      'in_use', coalesce(ls.interrupt_in_use, 0))
              FROM agents a LEFT JOIN agent_states ls ON ls.agent_id = a.id
             WHERE a.id = p_agent),
        'work', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'id', i.id, 'channel', i.channel, 'units', i.units,
                       'interruptible', i.interruptible, 'assigned_at', i.assigned_at)
                       ORDER BY i.assigned_at, i.id), '[]'::jsonb)
              FROM work_items i
             WHERE i.agent_id = p_agent AND i.closed_at IS NULL),
        'change', p_change);
END
$$;
-- +goose StatementEnd

-- Deferred to commit (see the top of this file): refresh the routing
-- status, then publish the capacity event, both from the final state. The
-- refresh (sessions, queues, work) runs only when the stored routing
-- status is not what the record already shows, i.e. when the agent is on
-- a queue and its first item opened or its last one closed.
-- +goose StatementBegin
CREATE FUNCTION work_items_publish() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM agent_states ls
                WHERE ls.agent_id = NEW.agent_id
                  AND ls.routing_status <> CASE WHEN cardinality(ls.queues) = 0 THEN 'OFF_QUEUE'
                                                WHEN ls.capacity_in_use + ls.interrupt_in_use > 0 THEN 'INTERACTING'
                                                ELSE 'IDLE' END) THEN
        PERFORM agent_states_refresh(NEW.agent_id);
    END IF;
    PERFORM event_append('agents.' || NEW.agent_id || '.capacity', 'capacity',
        capacity_event_json(NEW.agent_id, jsonb_build_object(
            'action', CASE WHEN TG_OP = 'INSERT' THEN 'assign'
                           WHEN NEW.close_reason = 'closed' THEN 'close'
                           WHEN NEW.close_reason = 'released' THEN 'release'
                           ELSE NEW.close_reason END,
            'work_id', NEW.id, 'channel', NEW.channel, 'units', NEW.units,
            'interruptible', NEW.interruptible, 'reason_code', NEW.reason_code)));
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE CONSTRAINT TRIGGER work_items_publish_insert AFTER INSERT ON work_items
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION work_items_publish();
CREATE CONSTRAINT TRIGGER work_items_publish_close AFTER UPDATE OF closed_at ON work_items
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.closed_at IS NULL AND NEW.closed_at IS NOT NULL)
    EXECUTE FUNCTION work_items_publish();

-- The record now takes capacity in use from agent_states, and the routing
-- status from the queues and the capacity in use as they are at this
-- moment of the transaction (agent_states.routing_status catches up at
-- commit, when the deferred refresh runs; both follow the same rule:
-- OFF_QUEUE in no queue, INTERACTING with open work, IDLE otherwise).
-- Same columns in the same order as 00001 and 00004.
--
-- The offline status of an agent with no spell is a one-row CROSS JOIN
-- picked with coalesce(), as in 00001 (00004 had gone back to joining
-- statuses ON id = coalesce(...), which the planner estimates at 400 of
-- 10,000 rows: it then sorted every agent for each page and probed
-- agent_states 10,000 times in a nested loop). Measured on 10,000 agents,
-- EXPLAIN ANALYZE of GET /v1/presence?limit=10000 (PresenceList): see
-- docs/work.md.
CREATE OR REPLACE VIEW presence_records AS
SELECT a.id                                              AS agent_id,
       coalesce(st.id, off.id)                           AS status_id,
       coalesce(st.label, off.label)                     AS status_label,
       coalesce(st.system_presence, off.system_presence) AS system_presence,
       coalesce(st.is_away, off.is_away)                 AS is_away,
       ls.state                                          AS state,
       (CASE WHEN cardinality(ls.queues) = 0 THEN 'OFF_QUEUE'
             WHEN ls.capacity_in_use + ls.interrupt_in_use > 0 THEN 'INTERACTING'
             ELSE 'IDLE' END)::text                      AS routing_status,
       s.message                                         AS message,
       s.reason_code                                     AS reason_code,
       s.source                                          AS source,
       s.started_at                                      AS since,
       s.id                                              AS spell_id,
       a.capacity                                        AS capacity_configured,
       ls.capacity_in_use                                AS capacity_in_use,
       ls.queues                                         AS queues,
       a.deleted_at                                      AS agent_deleted_at
FROM agents a
CROSS JOIN statuses off
LEFT JOIN spells s ON s.agent_id = a.id AND s.ended_at IS NULL
LEFT JOIN statuses st ON st.id = s.status_id
-- Every agent has its agent_states row (00004), so a plain join: a
-- filter on state reaches agent_states_state_idx.
JOIN agent_states ls ON ls.agent_id = a.id
WHERE off.id = 'offline';

-- Views run with their owner's rights on tables, but a function they call
-- runs with the caller's: the reporting role, which may not read
-- work_items. report.capacity_figures runs as its owner (and is also
-- there for reports of their own: the figures of any agent over any
-- window). It needs no grant on spell_capacity_figures.
-- +goose StatementBegin
CREATE FUNCTION report.capacity_figures(p_agent text, p_from timestamptz, p_to timestamptz, p_capacity integer,
                                        OUT at_capacity_ms bigint, OUT idle_ms bigint,
                                        OUT average_capacity double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT f.at_capacity_ms, f.idle_ms, f.average_capacity
    FROM spell_capacity_figures(p_agent, p_from, p_to, p_capacity) f
$$;
-- +goose StatementEnd
REVOKE EXECUTE ON FUNCTION report.capacity_figures(text, timestamptz, timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION report.capacity_figures(text, timestamptz, timestamptz, integer) TO presence_reporting;

-- Reports: the spell figures are stored on closed spells and computed live
-- for the current one (up to now()). The lateral subquery's WHERE refers
-- only to the outer row, so it is a one-time filter: closed spells never
-- run the function. Same columns as 00003, two added at the end.
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

-- Work history for reports (handling time per channel, releases).
CREATE VIEW report.work_items AS
SELECT w.id, w.agent_id, w.channel, w.units, w.interruptible, w.assigned_at, w.closed_at,
       (extract(epoch FROM w.closed_at - w.assigned_at) * 1000)::bigint AS duration_ms,
       (w.closed_at IS NULL)::boolean AS is_open, w.close_reason, w.reason_code
FROM work_items w;

GRANT SELECT ON report.work_items TO presence_reporting;

-- +goose Down
DROP VIEW report.work_items;
-- CREATE OR REPLACE cannot drop the two added columns.
DROP VIEW report.spells;
CREATE VIEW report.spells AS
SELECT s.id, s.agent_id, s.status_id, st.label AS status_label, st.system_presence, st.is_away,
       s.source, s.reason_code, s.message, s.started_at, s.ended_at,
       (extract(epoch FROM s.duration) * 1000)::bigint AS duration_ms,
       s.is_current, s.at_capacity_ms, s.idle_ms, s.average_capacity, s.updated_at, s.deleted_at
FROM spells s
JOIN statuses st ON st.id = s.status_id
WHERE s.deleted_at IS NULL;
GRANT SELECT ON report.spells TO presence_reporting;
DROP FUNCTION report.capacity_figures(text, timestamptz, timestamptz, integer);
CREATE OR REPLACE VIEW presence_records AS
SELECT a.id                                      AS agent_id,
       coalesce(st.id, off.id)                   AS status_id,
       coalesce(st.label, off.label)             AS status_label,
       coalesce(st.system_presence, off.system_presence) AS system_presence,
       coalesce(st.is_away, off.is_away)         AS is_away,
       ls.state                                  AS state,
       ls.routing_status                         AS routing_status,
       s.message                                 AS message,
       s.reason_code                             AS reason_code,
       s.source                                  AS source,
       s.started_at                              AS since,
       s.id                                      AS spell_id,
       a.capacity                                AS capacity_configured,
       0::integer                                AS capacity_in_use,
       ls.queues                                 AS queues,
       a.deleted_at                              AS agent_deleted_at
FROM agents a
-- The offline status as a one-row cross join: see 00001 for why statuses
-- are not joined on coalesce(spell status, 'offline').
CROSS JOIN statuses off
LEFT JOIN spells s ON s.agent_id = a.id AND s.ended_at IS NULL
LEFT JOIN statuses st ON st.id = s.status_id
JOIN agent_states ls ON ls.agent_id = a.id
WHERE off.id = 'offline';
DROP TRIGGER work_items_publish_close ON work_items;
DROP TRIGGER work_items_publish_insert ON work_items;
DROP FUNCTION work_items_publish();
DROP FUNCTION capacity_event_json(text, jsonb);
DROP TRIGGER work_items_usage_close ON work_items;
DROP TRIGGER work_items_usage_insert ON work_items;
DROP FUNCTION work_items_usage();
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION agent_open_work(p_agent text) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT 0
$$;
-- +goose StatementEnd
DROP TRIGGER spells_capacity ON spells;
DROP FUNCTION spells_capacity();
DROP FUNCTION spell_capacity_figures(text, timestamptz, timestamptz, integer);
ALTER TABLE spells DROP COLUMN configured_interrupt_capacity, DROP COLUMN configured_capacity;
ALTER TABLE agent_states DROP COLUMN interrupt_in_use, DROP COLUMN capacity_in_use;
DROP TABLE work_items;
