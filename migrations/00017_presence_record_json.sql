-- The presence record is defined once in SQL: by the presence_records view.
-- Its JSON form was a second list of the same fields (00002, 00004), which
-- a new field had to be added to by hand; it is now derived from the view.

-- +goose Up

-- presence_record_json is the JSON presence record (http/openapi.json,
-- Record): the body of presence, state and routing events, and the answer
-- of each change of presence_change_many. Every column of presence_records
-- is a field of it under the column's name, except agent_deleted_at (the
-- reads select live agents only) and the status and capacity columns,
-- which the record nests as status.{id, label, system_presence, is_away}
-- and capacity.{configured, in_use}. A column added to the view is in the
-- events with no edit here. Same signature, language and output as in
-- 00004 (jsonb keeps no key order, so building the object from the row
-- and then nesting gives the same value). TestPresenceRecordJSONIsTheRecord
-- (db) checks that it is the record the API returns.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION presence_record_json(p_agent text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_row jsonb;
BEGIN
    SELECT to_jsonb(r) INTO v_row FROM presence_records r WHERE r.agent_id = p_agent;
    RETURN (v_row - ARRAY['status_id', 'status_label', 'system_presence', 'is_away',
                          'capacity_configured', 'capacity_in_use', 'agent_deleted_at'])
        || jsonb_build_object(
               'status', jsonb_build_object('id', v_row -> 'status_id', 'label', v_row -> 'status_label',
                                            'system_presence', v_row -> 'system_presence',
                                            'is_away', v_row -> 'is_away'),
               'capacity', jsonb_build_object('configured', v_row -> 'capacity_configured',
                                              'in_use', v_row -> 'capacity_in_use'));
END
$$;
-- +goose StatementEnd

COMMENT ON VIEW presence_records IS
    'The presence record of every agent, deleted or not: the one definition that the API reads, '
    'the events (presence_record_json: every column but agent_deleted_at is a field of the JSON record) '
    'and the report schema share.';

-- +goose Down
COMMENT ON VIEW presence_records IS NULL;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION presence_record_json(p_agent text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
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
        WHERE r.agent_id = p_agent);
END
$$;
-- +goose StatementEnd
