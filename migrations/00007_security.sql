-- Security: API tokens (only a hash of each secret is stored) and the audit
-- log of admin actions.
--
-- The acting token reaches the database as the transaction-local setting
-- presenced.actor (set by the service at the start of every transaction
-- that has one), so triggers record who did what in the same transaction
-- as the change itself: an audited change cannot commit without its audit
-- row, nor the other way round.

-- +goose Up
CREATE TABLE tokens (
    id          text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    name        text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    -- SHA-256 of the secret. The secrets are 256-bit random strings (or an
    -- operator's bootstrap secret of 32+ characters), so a fast hash is
    -- right: there is no dictionary to try, and a slow hash would only tax
    -- every request.
    secret_hash bytea NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    scopes      text[] NOT NULL CHECK (cardinality(scopes) >= 1
        AND scopes <@ ARRAY['presence:read', 'presence:read:all', 'presence:write', 'admin']),
    -- Not a foreign key: a token may be made for an agent before the agent
    -- is, and outlives its soft delete.
    agent_id    text CHECK (agent_id ~ '^[A-Za-z0-9._@+-]{1,128}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text DEFAULT nullif(current_setting('presenced.actor', true), ''),
    revoked_at  timestamptz,
    revoked_by  text,
    CHECK (agent_id IS NULL OR NOT 'admin' = ANY(scopes))
);
CREATE INDEX tokens_created_idx ON tokens (created_at, id);

CREATE TABLE audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- The acting token's id; NULL when the action came from the command
    -- line (presenced token create, the first start).
    actor       text DEFAULT nullif(current_setting('presenced.actor', true), ''),
    action      text NOT NULL,
    target_type text NOT NULL,
    target_id   text NOT NULL,
    agent_id    text
);
CREATE INDEX audit_actor_idx ON audit (actor, id);

-- admin_event is what every admin action already calls from its trigger
-- (deletes and restores of agents and spells; later work releases). It now
-- also writes the audit row, so every admin action that is announced on the
-- admin topic is audited, the ones added later included.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION admin_event(p_action text, p_type text, p_id text, p_agent text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO audit (action, target_type, target_id, agent_id) VALUES (p_action, p_type, p_id, p_agent);
    SELECT event_append('admin', 'admin',
        jsonb_build_object('action', p_action, 'type', p_type, 'id', p_id, 'agent_id', p_agent));
$$;
-- +goose StatementEnd

-- Creating and revoking a token are admin actions; the revoke event on the
-- admin topic is also how every node learns to end the token's streams.
-- +goose StatementBegin
CREATE FUNCTION tokens_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM admin_event('create', 'token', NEW.id, NEW.agent_id);
    ELSIF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
        PERFORM admin_event('revoke', 'token', NEW.id, NEW.agent_id);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER tokens_event AFTER INSERT OR UPDATE ON tokens
    FOR EACH ROW EXECUTE FUNCTION tokens_event();

CREATE VIEW report.audit AS
SELECT id, at, actor AS actor_token_id, action, target_type, target_id, agent_id
FROM audit;
GRANT SELECT ON report.audit TO presence_reporting;

-- +goose Down
DROP VIEW report.audit;
DROP TRIGGER tokens_event ON tokens;
DROP FUNCTION tokens_event();
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION admin_event(p_action text, p_type text, p_id text, p_agent text) RETURNS void
LANGUAGE sql AS $$
    SELECT event_append('admin', 'admin',
        jsonb_build_object('action', p_action, 'type', p_type, 'id', p_id, 'agent_id', p_agent));
$$;
-- +goose StatementEnd
DROP TABLE audit;
DROP TABLE tokens;
