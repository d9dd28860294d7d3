// Package presence holds the domain of presenced: agents, presence status
// definitions, status spells, presence records, change events and the
// service interfaces that the storage layer (package db) implements and the
// transports (packages http and sse) call. It imports nothing but the
// standard library, so the dependency direction stays
// cmd → http, sse, db → presence.
package presence

import (
	"context"
	"time"
)

// Connection states, derived from an agent's sessions.
const (
	StateActive       = "ACTIVE"
	StateAway         = "AWAY"
	StateDisconnected = "DISCONNECTED"
	StateOffline      = "OFFLINE"
)

// Routing statuses, derived from queue memberships and open work.
const (
	RoutingOffQueue    = "OFF_QUEUE"
	RoutingIdle        = "IDLE"
	RoutingInteracting = "INTERACTING"
)

// Sources of a spell: who decided the status.
const (
	SourceManual    = "manual"    // a person or client set it
	SourceAutomatic = "automatic" // capacity rules set it
	SourceSystem    = "system"    // login, logout and other lifecycle rules
)

// Limits on free text.
const (
	MaxMessageLength    = 500
	MaxReasonCodeLength = 64
	MaxNameLength       = 200
	MaxCapacity         = 1000
	MaxBatchSize        = 1000
	DefaultPageSize     = 100
	MaxPageSize         = 1000
	// MaxBulkPresence is the page limit of the bulk presence read, higher
	// than other lists' so that a wallboard reads a whole floor at once.
	MaxBulkPresence = 10_000
)

// Record is an agent's current presence: the JSON form clients read and
// events carry.
type Record struct {
	AgentID       string     `json:"agent_id"`
	Status        StatusRef  `json:"status"`
	State         string     `json:"state"`
	RoutingStatus string     `json:"routing_status"`
	Message       *string    `json:"message"`
	ReasonCode    *string    `json:"reason_code"`
	Source        *string    `json:"source"`
	Since         *time.Time `json:"since"`
	SpellID       *int64     `json:"spell_id"`
	Capacity      Capacity   `json:"capacity"`
	Queues        []string   `json:"queues"`
}

// StatusRef is the part of a status definition embedded in a record.
type StatusRef struct {
	ID             string `json:"id"`
	Label          string `json:"label"`
	SystemPresence string `json:"system_presence"`
	IsAway         bool   `json:"is_away"`
}

// Capacity is configured versus in-use work units.
type Capacity struct {
	Configured int `json:"configured"`
	InUse      int `json:"in_use"`
}

// PresenceChange asks for a new status. Message and ReasonCode are kept on
// the spell.
type PresenceChange struct {
	Status     string  `json:"status"`
	Message    *string `json:"message,omitempty"`
	ReasonCode *string `json:"reason_code,omitempty"`
	Source     string  `json:"-"` // SourceManual unless a rule sets another
	// At is the instant of the change; nil means now. A rule sets it to
	// the instant of the change that caused it (the work item that filled
	// or freed the capacity), so that both are one instant in history.
	At *time.Time `json:"-"`
}

// Validate checks a presence change's values. A status id that is well
// formed but names no status is the service's to refuse (unknown_status).
func (c PresenceChange) Validate() error {
	if c.Status == "" {
		return Errorf(EINVALID, "status is required.")
	}
	if err := checkID("status", c.Status); err != nil {
		return err
	}
	if c.Message != nil {
		if err := checkText("message", *c.Message, 0, MaxMessageLength); err != nil {
			return err
		}
	}
	if c.ReasonCode != nil {
		if err := checkText("reason_code", *c.ReasonCode, 1, MaxReasonCodeLength); err != nil {
			return err
		}
	}
	return nil
}

// PresenceFilter selects records for the bulk read. Empty fields match all.
type PresenceFilter struct {
	AgentIDs []string
	Status   string
	State    string
	Cursor   string
	Limit    int
}

// PresenceService reads and changes presence.
type PresenceService interface {
	// SetPresence closes the agent's current spell and opens one in the new
	// status, in one transaction. The same status again opens no new spell;
	// a different message or reason code is then updated in place.
	// Errors: ENOTFOUND (agent unknown or deleted), EINVALID (unknown status,
	// text too long).
	SetPresence(ctx context.Context, agentID string, change PresenceChange) (*Record, error)

	// FindPresence returns the agent's record. ENOTFOUND.
	FindPresence(ctx context.Context, agentID string) (*Record, error)

	// FindPresences returns records in agent id order and the cursor of the
	// next page ("" on the last). EBADREQUEST for a bad cursor.
	FindPresences(ctx context.Context, filter PresenceFilter) ([]*Record, string, error)

	// EachPresence is FindPresences handing each record to fn as it is
	// read, for callers that only encode them (the bulk read of a whole
	// floor): fn must not keep the record or its pointers past its return,
	// since their storage is reused for the next one (so that reading a
	// floor leaves no garbage). An error from fn stops the read and is
	// returned. EBADREQUEST for a bad cursor.
	EachPresence(ctx context.Context, filter PresenceFilter, fn func(*Record) error) (next string, err error)
}

// Change names one changed row in a getUpdated / getDeleted window.
type Change struct {
	ID      any       `json:"id"` // an agent id (string) or a spell id (number)
	AgentID string    `json:"agent_id,omitempty"`
	At      time.Time `json:"-"` // rendered as updated_at or deleted_at
}

// Window is a getUpdated / getDeleted request: [Start, End), paged.
type Window struct {
	Start, End time.Time
	Cursor     string
	Limit      int
}
