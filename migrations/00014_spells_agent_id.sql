-- Two indexes for the lists of GET /v1/spells (issue 12).
--
-- spells_agent_id_idx: an agent's history in id order (?agent=X): each
-- partition's range of the agent in id order, merged, stops at the page's
-- limit. Without it every page read and sorted all of the agent's spells
-- (60 a day, 22,000 a year).
--
-- spells_current_id_idx: the current spells in id order (?current=true,
-- with or without a status): at most one entry per agent, so a page never
-- walks history. Without it, when few current spells matched (no agent in
-- meal), the plan walked spells_pkey through every spell ever (74 ms at
-- 600k spells).
--
-- Each is one more index entry per spell opened.

-- +goose Up
CREATE INDEX spells_agent_id_idx ON spells (agent_id, id);
CREATE INDEX spells_current_id_idx ON spells (id) WHERE ended_at IS NULL;

-- +goose Down
DROP INDEX spells_current_id_idx;
DROP INDEX spells_agent_id_idx;
