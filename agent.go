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

// Validate checks the values of an agent create or update; it does not know
// whether the default status exists (the service checks that).
func (in AgentInput) Validate() error {
	if err := checkID("Agent id", in.ID); err != nil {
		return err
	}
	if in.Name != nil {
		if err := checkText("name", *in.Name, 1, MaxNameLength); err != nil {
			return err
		}
	}
	if in.DefaultStatus != nil && !ValidID(*in.DefaultStatus) {
		return Errorf(EINVALID, "default_status %q is not a status id.", truncate(*in.DefaultStatus, 140))
	}
	if err := checkRange("capacity", in.Capacity, 0, MaxCapacity); err != nil {
		return err
	}
	return checkRange("interrupt_capacity", in.InterruptCapacity, 0, MaxCapacity)
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
