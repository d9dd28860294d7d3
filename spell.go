package presence

import (
	"context"
	"time"
)

// Spell is one stretch of time an agent spent in one status.
//
// The capacity figures come from the work history, exact to the
// millisecond: AtCapacityMS is the time the primary units in use were at
// ConfiguredCapacity (the agent's capacity when the spell opened), IdleMS
// the time with no open work, AverageCapacity the time-weighted primary
// units in use. They are stored when the spell closes and computed up to
// now for the current spell.
type Spell struct {
	ID              int64      `json:"id"`
	AgentID         string     `json:"agent_id"`
	StatusID        string     `json:"status_id"`
	SystemPresence  string     `json:"system_presence"`
	IsAway          bool       `json:"is_away"`
	Source          string     `json:"source"`
	ReasonCode      *string    `json:"reason_code"`
	Message         *string    `json:"message"`
	StartedAt       time.Time  `json:"started_at"`
	EndedAt         *time.Time `json:"ended_at"`
	DurationMS      *int64     `json:"duration_ms"` // null while current
	IsCurrent       bool       `json:"is_current"`
	AtCapacityMS    int64      `json:"at_capacity_ms"`
	IdleMS          int64      `json:"idle_ms"`
	AverageCapacity float64    `json:"average_capacity"`
	UpdatedAt       time.Time  `json:"updated_at"`
	DeletedAt       *time.Time `json:"deleted_at"`

	ConfiguredCapacity          int `json:"configured_capacity"`
	ConfiguredInterruptCapacity int `json:"configured_interrupt_capacity"`
}

// SpellFilter selects spells; zero fields match all. From/To select spells
// that overlap [From, To).
type SpellFilter struct {
	AgentID     string
	StatusID    string
	From, To    *time.Time
	CurrentOnly bool
	Cursor      string
	Limit       int
}

// SpellService reads and administers status history.
type SpellService interface {
	// FindSpells lists live spells in id order and returns the next cursor.
	FindSpells(ctx context.Context, filter SpellFilter) ([]*Spell, string, error)

	// FindSpellByID returns a live spell. ENOTFOUND.
	FindSpellByID(ctx context.Context, id int64) (*Spell, error)

	// DeleteSpell soft-deletes a closed spell. ENOTFOUND, ECONFLICT
	// ("spell_current") for the current one.
	DeleteSpell(ctx context.Context, id int64) error

	// RestoreSpell undeletes a spell. ENOTFOUND, ECONFLICT when not deleted.
	RestoreSpell(ctx context.Context, id int64) (*Spell, error)

	// SpellsUpdated and SpellsDeleted list spells changed or deleted in a
	// window.
	SpellsUpdated(ctx context.Context, w Window) ([]Change, string, error)
	SpellsDeleted(ctx context.Context, w Window) ([]Change, string, error)
}
