package presence

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on custom attributes. The byte size of the longest category, name
// and value together stays below what one btree index entry may hold, so
// the search index can never refuse a valid row.
const (
	MaxAttributeCategoryLength = 64  // characters
	MaxAttributeNameLength     = 128 // characters
	MaxAttributeValueLength    = 256 // characters
	MaxAttributesPerAgent      = 100 // custom attributes one agent may hold, and one request may name
)

// AttributeSet is every attribute of one agent: its geolocation and its
// custom attributes by category and name. It is what GET
// /v1/agents/{id}/attributes returns and what agents.{id}.attributes events
// carry. The presence message is not part of it: it belongs to the presence
// record, and its changes publish on agents.{id}.presence.
type AttributeSet struct {
	AgentID     string                       `json:"agent_id"`
	Geolocation *Geolocation                 `json:"geolocation"`
	Custom      map[string]map[string]string `json:"custom"`
}

// Geolocation is a position in decimal degrees (WGS 84).
type Geolocation struct {
	Lat       float64    `json:"lat"`
	Lon       float64    `json:"lon"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// AttributeChange is one setAttributes call: every part is optional, and the
// parts given are applied together in one transaction.
type AttributeChange struct {
	// Message sets the message of the agent's current presence (its current
	// spell), like PUT .../presence with the same status would.
	Message *string
	// Geolocation, when set, replaces the agent's position.
	Geolocation *Geolocation
	// RemoveGeolocation removes the position (JSON "geolocation": null).
	RemoveGeolocation bool
	// Custom upserts custom attributes by category and name; a nil value
	// removes that attribute (JSON null).
	Custom map[string]map[string]*string
}

// AttributeService stores custom attributes and geolocations (Pega's
// setAttributes).
type AttributeService interface {
	// SetAttributes applies ch in one transaction and returns the agent's
	// attributes afterwards. Values equal to the stored ones write nothing
	// and publish nothing; any change publishes one agents.{id}.attributes
	// event with the whole set. Errors: ENOTFOUND (agent_not_found),
	// EINVALID (bad names, values or coordinates; "too_many_attributes"
	// past MaxAttributesPerAgent), ECONFLICT ("no_current_spell": a message
	// for an agent that has no presence yet).
	SetAttributes(ctx context.Context, agentID string, ch AttributeChange) (*AttributeSet, error)

	// FindAttributes returns the agent's attributes. ENOTFOUND.
	FindAttributes(ctx context.Context, agentID string) (*AttributeSet, error)

	// DeleteAttribute removes one custom attribute. ENOTFOUND
	// (agent_not_found, attribute_not_found).
	DeleteAttribute(ctx context.Context, agentID, category, name string) error
}

// Validate checks every part of ch; it does not know what is stored (the
// per-agent limit is checked by the service, after the upsert).
func (ch AttributeChange) Validate() error {
	if ch.Message != nil {
		if err := checkText("message", *ch.Message, 0, MaxMessageLength); err != nil {
			return err
		}
	}
	if ch.Geolocation != nil && ch.RemoveGeolocation {
		return Errorf(EINVALID, "geolocation cannot be set and removed at once.")
	}
	if g := ch.Geolocation; g != nil {
		if err := g.Validate(); err != nil {
			return err
		}
	}
	n := 0
	// Sorted, so the same bad request always names the same culprit.
	for _, cat := range sortedKeys(ch.Custom) {
		if err := checkAttributeKey("category", cat, MaxAttributeCategoryLength); err != nil {
			return err
		}
		names := ch.Custom[cat]
		if len(names) == 0 {
			return Errorf(EINVALID, "custom.%s names no attribute.", cat)
		}
		for _, name := range sortedKeys(names) {
			if err := checkAttributeKey(fmt.Sprintf("custom.%s: attribute name", cat), name, MaxAttributeNameLength); err != nil {
				return err
			}
			if v := names[name]; v != nil {
				if err := checkText(fmt.Sprintf("custom.%s.%s", cat, name), *v, 0, MaxAttributeValueLength); err != nil {
					return err
				}
			}
			n++
		}
	}
	if n > MaxAttributesPerAgent {
		return ReasonErrorf(EINVALID, "too_many_attributes", "At most %d custom attributes per request; this one names %d.", MaxAttributesPerAgent, n)
	}
	return nil
}

// Validate checks that a position is finite and on the globe.
func (g Geolocation) Validate() error {
	if math.IsNaN(g.Lat) || math.IsInf(g.Lat, 0) || g.Lat < -90 || g.Lat > 90 {
		return ReasonErrorf(EINVALID, "invalid_geolocation", "geolocation.lat must be a number from -90 to 90.")
	}
	if math.IsNaN(g.Lon) || math.IsInf(g.Lon, 0) || g.Lon < -180 || g.Lon > 180 {
		return ReasonErrorf(EINVALID, "invalid_geolocation", "geolocation.lon must be a number from -180 to 180.")
	}
	return nil
}

// ValidateAttributeKey checks a category or attribute name as it appears in
// a path or a query clause.
func ValidateAttributeKey(field, s string, max int) error { return checkAttributeKey(field, s, max) }

// checkAttributeKey: 1 to max characters of valid UTF-8 without control
// characters, so keys print cleanly in messages and paths.
func checkAttributeKey(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return Errorf(EINVALID, "%s is not valid UTF-8.", field)
	}
	if n := utf8.RuneCountInString(s); n < 1 || n > max {
		return Errorf(EINVALID, "%s %q must be 1 to %d characters.", field, truncate(s, 80), max)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return Errorf(EINVALID, "%s %q must not contain control characters.", field, truncate(s, 80))
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
