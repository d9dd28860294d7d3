-- Core presence: status definitions, agents, and one row per status spell.
-- The database itself guarantees the spell invariants; the service relies on
-- them rather than re-checking.

-- +goose Up
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE statuses (
    id              text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._@+-]{1,128}$'),
    label           text NOT NULL CHECK (length(label) BETWEEN 1 AND 200),
    system_presence text NOT NULL CHECK (system_presence IN
        ('AVAILABLE', 'BUSY', 'AWAY', 'BREAK', 'MEAL', 'MEETING', 'TRAINING', 'OFFLINE')),
    is_away         boolean NOT NULL,
    built_in        boolean NOT NULL DEFAULT false,
    -- Built-ins list first, in this order; custom statuses after, by id.
    sort_order      integer NOT NULL DEFAULT 1000,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    CHECK (NOT (built_in AND deleted_at IS NOT NULL))
);

INSERT INTO statuses (id, label, system_presence, is_away, built_in, sort_order) VALUES
    ('available', 'Available', 'AVAILABLE', false, true, 1),
    ('busy',      'Busy',      'BUSY',      false, true, 2),
    ('away',      'Away',      'AWAY',      true,  true, 3),
    ('break',     'Break',     'BREAK',     true,  true, 4),
    ('meal',      'Meal',      'MEAL',      true,  true, 5),
    ('meeting',   'Meeting',   'MEETING',   true,  true, 6),
    ('training',  'Training',  'TRAINING',  true,  true, 7),
    ('offline',   'Offline',   'OFFLINE',   true,  true, 8);

CREATE TABLE agents (
    id                 text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._@+-]{1,128}$'),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    default_status     text NOT NULL DEFAULT 'available' REFERENCES statuses (id),
    capacity           integer NOT NULL DEFAULT 1 CHECK (capacity BETWEEN 0 AND 1000),
    interrupt_capacity integer NOT NULL DEFAULT 0 CHECK (interrupt_capacity BETWEEN 0 AND 1000),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    deleted_at         timestamptz
);

-- getUpdated / getDeleted windows.
CREATE INDEX agents_updated_at_idx ON agents (updated_at, id);
CREATE INDEX agents_deleted_at_idx ON agents (deleted_at, id) WHERE deleted_at IS NOT NULL;

CREATE TABLE spells (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_id         text NOT NULL REFERENCES agents (id),
    status_id        text NOT NULL REFERENCES statuses (id),
    source           text NOT NULL CHECK (source IN ('manual', 'automatic', 'system')),
    reason_code      text CHECK (length(reason_code) <= 64),
    message          text CHECK (length(message) <= 500),
    started_at       timestamptz NOT NULL,
    ended_at         timestamptz,
    -- Generated, so they can never disagree with started_at / ended_at:
    -- "ended_at is null exactly when the spell is current" holds by construction.
    duration         interval GENERATED ALWAYS AS (ended_at - started_at) STORED,
    is_current       boolean NOT NULL GENERATED ALWAYS AS (ended_at IS NULL) STORED,
    at_capacity_ms   bigint NOT NULL DEFAULT 0 CHECK (at_capacity_ms >= 0),
    idle_ms          bigint NOT NULL DEFAULT 0 CHECK (idle_ms >= 0),
    average_capacity double precision NOT NULL DEFAULT 0 CHECK (average_capacity >= 0),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz,
    CHECK (ended_at IS NULL OR ended_at >= started_at),
    -- Live spells of one agent never overlap. Ranges are half-open, so a
    -- spell that ends at t and the next that starts at t touch without
    -- overlapping. A soft-deleted spell leaves the timeline; restoring it
    -- re-checks. The predicate also matters for speed: without it the
    -- planner may look up "the current spell of agent X" through this GiST
    -- index (an equal cost estimate) at 3–10 ms instead of the partial
    -- btree below at 0.03 ms; a query that does not say deleted_at IS NULL
    -- cannot use a partial index.
    CONSTRAINT spells_no_overlap EXCLUDE USING gist
        (agent_id WITH =, tstzrange(started_at, ended_at, '[)') WITH &&)
        WHERE (deleted_at IS NULL)
);

CREATE UNIQUE INDEX spells_current_idx ON spells (agent_id) WHERE ended_at IS NULL;
-- An agent's history in order, and windows over it.
CREATE INDEX spells_agent_started_idx ON spells (agent_id, started_at);
CREATE INDEX spells_updated_at_idx ON spells (updated_at, id);
CREATE INDEX spells_deleted_at_idx ON spells (deleted_at, id) WHERE deleted_at IS NOT NULL;

-- presence_records is the presence record of every agent, deleted or not:
-- the one definition shared by the API reads, the event triggers and the
-- report schema. Later migrations replace it (CREATE OR REPLACE keeps the
-- column list) as sessions, queues and work come in; until then an agent is
-- OFFLINE, OFF_QUEUE, with no capacity in use.
--
-- An agent with no spell shows the built-in offline status. It is joined
-- as a one-row CROSS JOIN and picked with coalesce() rather than by
-- joining statuses ON id = coalesce(spell status, 'offline'): the planner
-- cannot estimate that join (it guessed 400 of 10,000 rows) and then
-- joined and sorted every agent for each page of the bulk read (17 ms a
-- page of 1,000 instead of 2 ms).
CREATE VIEW presence_records AS
SELECT a.id                                       AS agent_id,
       coalesce(st.id, off.id)                    AS status_id,
       coalesce(st.label, off.label)              AS status_label,
       coalesce(st.system_presence, off.system_presence) AS system_presence,
       coalesce(st.is_away, off.is_away)          AS is_away,
       'OFFLINE'::text                            AS state,
       'OFF_QUEUE'::text                          AS routing_status,
       s.message                                  AS message,
       s.reason_code                              AS reason_code,
       s.source                                   AS source,
       s.started_at                               AS since,
       s.id                                       AS spell_id,
       a.capacity                                 AS capacity_configured,
       0::integer                                 AS capacity_in_use,
       '{}'::text[]                               AS queues,
       a.deleted_at                               AS agent_deleted_at
FROM agents a
CROSS JOIN statuses off
LEFT JOIN spells s ON s.agent_id = a.id AND s.ended_at IS NULL
LEFT JOIN statuses st ON st.id = s.status_id
WHERE off.id = 'offline';

-- +goose Down
DROP VIEW presence_records;
DROP TABLE spells;
DROP TABLE agents;
DROP TABLE statuses;
