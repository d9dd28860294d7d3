package presence

import (
	"context"
	"time"
)

// Audit actions, and the types of thing they act on.
const (
	AuditDelete  = "delete"
	AuditRestore = "restore"
	AuditRelease = "release"
	AuditCreate  = "create"
	AuditRevoke  = "revoke"
)

// AuditEntry is one admin action: who (the acting token's id; nil when done
// from the command line) did what to which thing, when.
type AuditEntry struct {
	ID           int64     `json:"id"`
	At           time.Time `json:"at"`
	ActorTokenID *string   `json:"actor_token_id"`
	Action       string    `json:"action"`      // delete, restore, release, create, revoke
	TargetType   string    `json:"target_type"` // agent, spell, work, token
	TargetID     string    `json:"target_id"`
	AgentID      *string   `json:"agent_id"` // the agent the target belongs to, if any
}

// AuditFilter selects audit entries, newest first; empty fields match all.
type AuditFilter struct {
	Action       string
	TargetType   string
	ActorTokenID string
	Cursor       string
	Limit        int
}

// AuditLog reads the audit log. Entries are written by the storage layer
// in the transaction of the audited change.
type AuditLog interface {
	FindAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, string, error)
}
