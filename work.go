package presence

import (
	"context"
	"time"
)

// Work close reasons, kept on the item.
const (
	WorkClosed       = "closed"        // closed by its agent or the router
	WorkReleased     = "released"      // force-closed by an admin (stuck work)
	WorkAgentDeleted = "agent_deleted" // its agent was deleted
)

// Reason codes of the spells that capacity rules open (source automatic).
const (
	ReasonCapacityFull  = "capacity_full"  // primary capacity filled up: busy
	ReasonCapacityFreed = "capacity_freed" // capacity freed: back to the status before
)

// MaxOpenWork bounds the open items of one agent. Every item takes at least
// one unit, so capacities (at most MaxCapacity each) bound it already; the
// list endpoint relies on it to answer in one page.
const MaxOpenWork = 2 * MaxCapacity

// Work is a unit of work assigned to an agent: a chat, a call, a case. Its
// units count against the agent's capacity while it is open: primary
// capacity, or interrupt capacity when it is interruptible.
type Work struct {
	ID            string     `json:"id"`
	AgentID       string     `json:"agent_id"`
	Channel       string     `json:"channel"`
	Units         int        `json:"units"`
	Interruptible bool       `json:"interruptible"`
	AssignedAt    time.Time  `json:"assigned_at"`
	ClosedAt      *time.Time `json:"closed_at"`
	CloseReason   *string    `json:"close_reason"` // closed, released, agent_deleted; null while open
	ReasonCode    *string    `json:"reason_code"`  // the release's reason code

	// Presence is the agent's record after the change (assign, close and
	// release only).
	Presence *Record `json:"presence,omitempty"`
}

// WorkInput assigns work. ID is optional: the service generates one when
// it is nil.
type WorkInput struct {
	ID            *string `json:"id,omitempty"`
	Channel       string  `json:"channel"`
	Units         int     `json:"units"`
	Interruptible bool    `json:"interruptible,omitempty"`
}

// Validate checks a work assignment's values.
func (in WorkInput) Validate() error {
	if in.ID != nil {
		if err := checkID("Work id", *in.ID); err != nil {
			return err
		}
	}
	if in.Channel == "" {
		return Errorf(EINVALID, "channel is required (e.g. \"chat\", \"voice\", \"email\").")
	}
	if !ValidID(in.Channel) {
		return Errorf(EINVALID, "channel %q must be 1 to 128 letters, digits or ._@+-", truncate(in.Channel, 140))
	}
	if in.Units < 1 || in.Units > MaxCapacity {
		return ReasonErrorf(EINVALID, "invalid_units", "units must be from 1 to %d; got %d.", MaxCapacity, in.Units)
	}
	return nil
}

// WorkRelease is the body of an admin's release of stuck work.
type WorkRelease struct {
	ReasonCode *string `json:"reason_code,omitempty"`
}

// Validate checks a release's values.
func (in WorkRelease) Validate() error {
	if in.ReasonCode != nil {
		return checkText("reason_code", *in.ReasonCode, 1, MaxReasonCodeLength)
	}
	return nil
}

// WorkService assigns and closes work, and applies the capacity rules in
// the same transaction:
//
//   - Work that does not fit is refused: primary units against the
//     agent's capacity, interruptible units against its interrupt
//     capacity.
//   - Automatic presence: when the primary units in use reach the
//     capacity (> 0) and the agent is in an available-class status
//     (system presence AVAILABLE), it goes to busy with source automatic
//     and reason ReasonCapacityFull. When they fall below the capacity
//     again and the agent is still in that automatic busy spell, it goes
//     back to the status it had before (source automatic, reason
//     ReasonCapacityFreed). Any other status — a manual busy, meeting,
//     break, a custom away status, offline, or a status set while
//     automatically busy — is never overridden: manual wins.
//   - The routing status is INTERACTING while work is open (on a queue).
//
// Every change publishes agents.{id}.capacity, and the presence and
// routing events of the changes it causes.
type WorkService interface {
	// AssignWork assigns work to an agent and returns it with the agent's
	// record. Errors: ENOTFOUND ("agent_not_found"), EINVALID
	// ("invalid_id", "invalid_units"), ECONFLICT ("over_capacity": it
	// does not fit; "work_exists": the id is taken).
	AssignWork(ctx context.Context, agentID string, in WorkInput) (*Work, error)

	// CloseWork closes an open item and returns it with the agent's
	// record. Errors: ENOTFOUND ("work_not_found"), ECONFLICT
	// ("work_closed": closed already).
	CloseWork(ctx context.Context, workID string) (*Work, error)

	// ReleaseWork force-closes stuck work (an admin action, audited with
	// the acting token). Errors as CloseWork, and EINVALID.
	ReleaseWork(ctx context.Context, workID string, in WorkRelease) (*Work, error)

	// FindWorkByID returns an item, open or closed. ENOTFOUND
	// ("work_not_found").
	FindWorkByID(ctx context.Context, workID string) (*Work, error)

	// FindOpenWork returns the agent's open items, oldest first (at most
	// MaxOpenWork). ENOTFOUND ("agent_not_found").
	FindOpenWork(ctx context.Context, agentID string) ([]*Work, error)
}

// WorkAgentFinder finds the agent a work item is assigned to. The work
// service implements it. ENOTFOUND for an unknown work item.
type WorkAgentFinder interface {
	WorkAgent(ctx context.Context, workID string) (agentID string, err error)
}
