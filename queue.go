package presence

import (
	"context"
	"time"
)

// Queue is a routing queue that agents log in to (a skill, a line, a team).
type Queue struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	MemberCount int       `json:"member_count"` // agents logged in now
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// QueueInput creates or renames a queue; a nil Name keeps the name (or
// takes the id on create).
type QueueInput struct {
	ID   string  `json:"-"` // from the path
	Name *string `json:"name,omitempty"`
}

// Validate checks a queue create or rename.
func (in QueueInput) Validate() error {
	if err := checkID("Queue id", in.ID); err != nil {
		return err
	}
	if in.Name != nil {
		return checkText("name", *in.Name, 1, MaxNameLength)
	}
	return nil
}

// QueueLogout leaves one queue (Queue set) or every queue, after OpenCTI's
// LogoutAgent. The reason code is kept in the membership history.
type QueueLogout struct {
	Queue      *string `json:"queue,omitempty"`
	ReasonCode *string `json:"reason_code,omitempty"`
}

// Validate checks a queue logout's values.
func (in QueueLogout) Validate() error {
	if in.ReasonCode != nil {
		return checkText("reason_code", *in.ReasonCode, 1, MaxReasonCodeLength)
	}
	return nil
}

// QueueFilter pages the queue list.
type QueueFilter struct {
	Cursor string
	Limit  int
}

// QueueService manages queues and the agents logged in to them. The
// agent's routing status follows: OFF_QUEUE (in no queue), IDLE (in a
// queue, no open work), INTERACTING (in a queue, with open work).
type QueueService interface {
	// PutQueue creates a queue or renames it and reports whether it was
	// created. EINVALID.
	PutQueue(ctx context.Context, in QueueInput) (q *Queue, created bool, err error)

	// FindQueueByID returns a queue with its member count. ENOTFOUND
	// ("queue_not_found").
	FindQueueByID(ctx context.Context, id string) (*Queue, error)

	// FindQueues lists queues in id order and returns the next cursor.
	FindQueues(ctx context.Context, f QueueFilter) ([]*Queue, string, error)

	// LoginQueue logs the agent in to a queue and returns its record;
	// logging in again changes nothing. Errors: ENOTFOUND
	// ("agent_not_found", "queue_not_found"), ECONFLICT
	// ("agent_logged_out": the agent has no open session).
	LoginQueue(ctx context.Context, agentID, queueID string) (*Record, error)

	// LogoutQueues logs the agent out of one queue or of all, and returns
	// its record. Errors: ENOTFOUND ("agent_not_found", "queue_not_found"),
	// ECONFLICT ("not_in_queue": not in that queue, or in none), EINVALID.
	LogoutQueues(ctx context.Context, agentID string, in QueueLogout) (*Record, error)
}
