package presence

import (
	"context"
	"time"
)

// Agent is a person whose presence is tracked. The id is chosen by the client
// (an operator id: an e-mail, an employee number).
type Agent struct {
	ID                string     `json:"id"`
	Name              string     `json:"name"`
	DefaultStatus     string     `json:"default_status"`
	Capacity          int        `json:"capacity"`
	InterruptCapacity int        `json:"interrupt_capacity"`
	CreatedAt         time.Time  `json:"created_at"`
	UpdatedAt         time.Time  `json:"updated_at"`
	DeletedAt         *time.Time `json:"deleted_at,omitempty"`
	Presence          *Record    `json:"presence,omitempty"`
}

// AgentInput creates or changes an agent; nil fields keep their value (or
// take the default on create: name = id, default status "available",
// capacity 1, interrupt capacity 0).
type AgentInput struct {
	ID                string  `json:"id"`
	Name              *string `json:"name,omitempty"`
	DefaultStatus     *string `json:"default_status,omitempty"`
	Capacity          *int    `json:"capacity,omitempty"`
	InterruptCapacity *int    `json:"interrupt_capacity,omitempty"`
}

// AgentFilter selects agents for a list.
type AgentFilter struct {
	Deleted bool // list deleted agents instead of live ones
	Cursor  string
	Limit   int
}

// AgentService manages agents.
type AgentService interface {
	// CreateAgent creates an agent. EINVALID for bad values, ECONFLICT
	// (reason "agent_exists") when the id exists, deleted ones included.
	CreateAgent(ctx context.Context, in AgentInput) (*Agent, error)

	// FindAgentByID returns a live agent with its presence. ENOTFOUND.
	FindAgentByID(ctx context.Context, id string) (*Agent, error)

	// FindAgents lists agents in id order and returns the next cursor.
	FindAgents(ctx context.Context, filter AgentFilter) ([]*Agent, string, error)

	// UpdateAgent changes the given fields. ENOTFOUND, EINVALID.
	UpdateAgent(ctx context.Context, in AgentInput) (*Agent, error)

	// UpsertAgents creates or updates up to MaxBatchSize agents in one
	// transaction. Any invalid item rejects the whole batch: EINVALID (or
	// ECONFLICT for a deleted agent) with a message naming its index.
	UpsertAgents(ctx context.Context, items []AgentInput) ([]*Agent, error)

	// DeleteAgent soft-deletes an agent and ends its current spell.
	// ENOTFOUND.
	DeleteAgent(ctx context.Context, id string) error

	// RestoreAgent undeletes an agent. ENOTFOUND when it never existed,
	// ECONFLICT when it is not deleted.
	RestoreAgent(ctx context.Context, id string) (*Agent, error)

	// AgentsUpdated and AgentsDeleted list the agents changed or deleted in
	// a window (Salesforce getUpdated / getDeleted).
	AgentsUpdated(ctx context.Context, w Window) ([]Change, string, error)
	AgentsDeleted(ctx context.Context, w Window) ([]Change, string, error)
}
