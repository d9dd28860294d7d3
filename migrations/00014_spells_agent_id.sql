-- An agent's history in id order (GET /v1/spells?agent=X): each
-- partition's range of the agent in id order, merged, stops at the page's
-- limit. Without it every page read and sorted all of the agent's spells
-- (60 a day, 22,000 a year). One more index entry per spell opened.

-- +goose Up
CREATE INDEX spells_agent_id_idx ON spells (agent_id, id);

-- +goose Down
DROP INDEX spells_agent_id_idx;
