-- The event log: every committed change writes one row here from a trigger,
-- in the same transaction, and rings a doorbell with pg_notify. The log is
-- the mail; the notification only says "read the log" (it is lost while a
-- listener is disconnected and merged within a transaction).

-- +goose Up
CREATE TABLE events (
    -- Position (xid, id): xid is the writing transaction, id a sequence value
    -- taken at insert. Readers read only below their snapshot's xmin, where
    -- every transaction has ended, so no row can later appear behind a
    -- position a reader has passed, whatever the commit order.
    xid   xid8        NOT NULL DEFAULT pg_current_xact_id(),
    id    bigint      GENERATED ALWAYS AS IDENTITY,
    topic text        NOT NULL,
    kind  text        NOT NULL,
    at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    body  jsonb       NOT NULL,
    PRIMARY KEY (xid, id)
);

-- Where pruning has cut the log: a reader behind it may have missed events
-- and is told to reset.
CREATE TABLE event_log_state (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    pruned_xid xid8   NOT NULL DEFAULT '0',
    pruned_id  bigint NOT NULL DEFAULT 0
);
INSERT INTO event_log_state DEFAULT VALUES;

-- +goose StatementBegin
CREATE FUNCTION event_append(p_topic text, p_kind text, p_body jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (topic, kind, body) VALUES (p_topic, p_kind, p_body);
    -- One doorbell per transaction. PostgreSQL would fold identical
    -- notifications itself, but every pg_notify call still searches the
    -- pending list; a transaction-local flag skips the later calls.
    IF current_setting('presenced.notified', true) IS DISTINCT FROM 'on' THEN
        PERFORM pg_notify('presenced_events', '');
        PERFORM set_config('presenced.notified', 'on', true);
    END IF;
END
$$;
-- +goose StatementEnd

-- presence_record_json is the JSON presence record of API.md, built from
-- the same view the API reads, so events and reads never disagree.
-- +goose StatementBegin
CREATE FUNCTION presence_record_json(p_agent text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'agent_id', r.agent_id,
        'status', jsonb_build_object('id', r.status_id, 'label', r.status_label,
                                     'system_presence', r.system_presence, 'is_away', r.is_away),
        'state', r.state,
        'routing_status', r.routing_status,
        'message', r.message,
        'reason_code', r.reason_code,
        'source', r.source,
        'since', r.since,
        'spell_id', r.spell_id,
        'capacity', jsonb_build_object('configured', r.capacity_configured, 'in_use', r.capacity_in_use),
        'queues', to_jsonb(r.queues))
    FROM presence_records r
    WHERE r.agent_id = p_agent
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION admin_event(p_action text, p_type text, p_id text, p_agent text) RETURNS void
LANGUAGE sql AS $$
    SELECT event_append('admin', 'admin',
        jsonb_build_object('action', p_action, 'type', p_type, 'id', p_id, 'agent_id', p_agent));
$$;
-- +goose StatementEnd

-- Spells: opening a spell, or changing the text of the current one, is a
-- presence event; closing one is not (the next one's opening says it all,
-- and one change must make one event); soft delete and restore are admin
-- events.
-- +goose StatementBegin
CREATE FUNCTION spells_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.deleted_at IS DISTINCT FROM OLD.deleted_at THEN
        PERFORM admin_event(CASE WHEN NEW.deleted_at IS NULL THEN 'restore' ELSE 'delete' END,
                            'spell', NEW.id::text, NEW.agent_id);
    ELSIF NEW.ended_at IS NULL AND (TG_OP = 'INSERT'
            OR (NEW.status_id, NEW.message, NEW.reason_code)
               IS DISTINCT FROM (OLD.status_id, OLD.message, OLD.reason_code)) THEN
        PERFORM event_append('agents.' || NEW.agent_id || '.presence', 'presence',
                             presence_record_json(NEW.agent_id));
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER spells_event AFTER INSERT OR UPDATE ON spells
    FOR EACH ROW EXECUTE FUNCTION spells_event();

-- +goose StatementBegin
CREATE FUNCTION agents_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.deleted_at IS DISTINCT FROM OLD.deleted_at THEN
        PERFORM admin_event(CASE WHEN NEW.deleted_at IS NULL THEN 'restore' ELSE 'delete' END,
                            'agent', NEW.id, NEW.id);
    ELSIF TG_OP = 'INSERT'
       OR (NEW.capacity, NEW.interrupt_capacity) IS DISTINCT FROM (OLD.capacity, OLD.interrupt_capacity) THEN
        -- A new agent's first record, or a record whose capacity changed.
        PERFORM event_append('agents.' || NEW.id || '.presence', 'presence', presence_record_json(NEW.id));
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER agents_event AFTER INSERT OR UPDATE ON agents
    FOR EACH ROW EXECUTE FUNCTION agents_event();

-- +goose StatementBegin
CREATE FUNCTION statuses_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM event_append('statuses', 'status', jsonb_build_object(
        'action', CASE WHEN TG_OP = 'INSERT' THEN 'create'
                       WHEN NEW.deleted_at IS NOT NULL THEN 'delete' ELSE 'update' END,
        'id', NEW.id, 'label', NEW.label, 'system_presence', NEW.system_presence,
        'is_away', NEW.is_away, 'built_in', NEW.built_in));
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER statuses_event AFTER INSERT OR UPDATE ON statuses
    FOR EACH ROW EXECUTE FUNCTION statuses_event();

-- Channels: server-side topic lists, so a stream can be served by any node.
-- Changing the list is published on channels.{id} for the node serving it.
CREATE TABLE channels (
    id         text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    topics     text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose StatementBegin
CREATE FUNCTION channels_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM event_append('channels.' || NEW.id, 'channel',
                         jsonb_build_object('id', NEW.id, 'topics', to_jsonb(NEW.topics)));
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER channels_event AFTER UPDATE ON channels
    FOR EACH ROW EXECUTE FUNCTION channels_event();

-- +goose Down
DROP TABLE channels;
DROP FUNCTION channels_event();
DROP TRIGGER statuses_event ON statuses;
DROP FUNCTION statuses_event();
DROP TRIGGER agents_event ON agents;
DROP FUNCTION agents_event();
DROP TRIGGER spells_event ON spells;
DROP FUNCTION spells_event();
DROP FUNCTION admin_event(text, text, text, text);
DROP FUNCTION presence_record_json(text);
DROP FUNCTION event_append(text, text, jsonb);
DROP TABLE event_log_state;
DROP TABLE events;
