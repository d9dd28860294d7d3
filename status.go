package presence

import (
	"context"
	"time"
)

// System presences: the fixed classes every status, built-in or custom,
// belongs to.
var SystemPresences = []string{"AVAILABLE", "BUSY", "AWAY", "BREAK", "MEAL", "MEETING", "TRAINING", "OFFLINE"}

// Built-in status ids.
const (
	StatusAvailable = "available"
	StatusBusy      = "busy"
	StatusOffline   = "offline"
)

// Status defines a presence status.
type Status struct {
	ID             string     `json:"id"`
	Label          string     `json:"label"`
	SystemPresence string     `json:"system_presence"`
	IsAway         bool       `json:"is_away"`
	BuiltIn        bool       `json:"built_in"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	DeletedAt      *time.Time `json:"deleted_at,omitempty"`
}

// StatusInput creates or changes a custom status. On create IsAway defaults
// from the system presence (only AVAILABLE and BUSY are not away).
type StatusInput struct {
	ID             string  `json:"id"`
	Label          *string `json:"label,omitempty"`
	SystemPresence *string `json:"system_presence,omitempty"`
	IsAway         *bool   `json:"is_away,omitempty"`
}

// Validate checks a custom status create (create=true) or update.
func (in StatusInput) Validate(create bool) error {
	if err := checkID("Status id", in.ID); err != nil {
		return err
	}
	if create && in.Label == nil {
		return Errorf(EINVALID, "label is required.")
	}
	if in.Label != nil {
		if err := checkText("label", *in.Label, 1, MaxNameLength); err != nil {
			return err
		}
	}
	if create {
		if in.SystemPresence == nil || !IsSystemPresence(*in.SystemPresence) {
			return Errorf(EINVALID, "system_presence must be one of %v.", SystemPresences)
		}
	} else if in.SystemPresence != nil {
		return ReasonErrorf(EINVALID, "system_presence_fixed", "system_presence cannot be changed; create another status.")
	}
	return nil
}

// StatusService manages status definitions.
type StatusService interface {
	// FindStatuses returns every live definition, built-in first.
	FindStatuses(ctx context.Context) ([]*Status, error)

	// CreateStatus creates a custom status. EINVALID, ECONFLICT
	// ("status_exists").
	CreateStatus(ctx context.Context, in StatusInput) (*Status, error)

	// UpdateStatus changes label and is_away of a custom status. ENOTFOUND,
	// EINVALID, ECONFLICT ("built_in_status"; system_presence is fixed).
	UpdateStatus(ctx context.Context, in StatusInput) (*Status, error)

	// DeleteStatus soft-deletes a custom status. ENOTFOUND, ECONFLICT
	// ("built_in_status", "status_in_use" while an agent is in it or has it
	// as default).
	DeleteStatus(ctx context.Context, id string) error
}

// IsSystemPresence reports whether s is one of SystemPresences.
func IsSystemPresence(s string) bool {
	for _, v := range SystemPresences {
		if v == s {
			return true
		}
	}
	return false
}

// DefaultIsAway is the away flag a status of system presence sp gets when
// none is given.
func DefaultIsAway(sp string) bool { return sp != "AVAILABLE" && sp != "BUSY" }
