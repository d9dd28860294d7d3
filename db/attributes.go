package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

var _ presence.AttributeService = (*DB)(nil)

// SetAttributes implements presence.AttributeService. It takes the agent's
// row lock first, like every change of an agent, so two setAttributes of
// one agent serialise and the per-agent limit cannot be raced past.
func (db *DB) SetAttributes(ctx context.Context, agentID string, ch presence.AttributeChange) (*presence.AttributeSet, error) {
	if err := ch.Validate(); err != nil {
		return nil, err
	}
	if !presence.ValidID(agentID) { // no such agent can exist (agents.id has the same rule)
		return nil, agentNotFound(agentID)
	}
	var set *presence.AttributeSet
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := db.lockAgent(ctx, tx, agentID); err != nil {
			return err
		}
		if ch.Message != nil {
			if err := db.setMessage(ctx, tx, agentID, *ch.Message); err != nil {
				return err
			}
		}
		switch {
		case ch.RemoveGeolocation:
			if err := db.q.GeolocationDelete(ctx, tx, agentID); err != nil {
				return err
			}
		case ch.Geolocation != nil:
			if err := db.q.GeolocationUpsert(ctx, tx, dbsqlc.GeolocationUpsertParams{
				AgentID: agentID, Lat: ch.Geolocation.Lat, Lon: ch.Geolocation.Lon}); err != nil {
				return err
			}
		}
		if len(ch.Custom) > 0 {
			if err := db.setCustom(ctx, tx, agentID, ch.Custom); err != nil {
				return err
			}
		}
		var err error
		set, err = db.attributeSet(ctx, tx, agentID)
		return err
	})
	return set, err
}

// setMessage sets the message of the current spell in place, keeping its
// status and reason code; the spell trigger publishes the presence event.
// An agent without a current spell has no presence message to set: that is
// a conflict with its state (set a presence first), not something to keep
// elsewhere, or the message would live in two places.
func (db *DB) setMessage(ctx context.Context, tx pgx.Tx, agentID, msg string) error {
	cur, err := db.q.SpellGetCurrent(ctx, tx, agentID)
	if errors.Is(err, pgx.ErrNoRows) {
		return presence.ReasonErrorf(presence.ECONFLICT, "no_current_spell",
			"Agent %q has no presence yet, so there is no presence message to set; set a presence (PUT /v1/agents/%s/presence) first.", agentID, agentID)
	} else if err != nil {
		return err
	}
	if cur.Message != nil && *cur.Message == msg {
		return nil
	}
	_, err = db.q.SpellUpdateCurrentText(ctx, tx, dbsqlc.SpellUpdateCurrentTextParams{
		AgentID: agentID, Message: &msg, ReasonCode: cur.ReasonCode})
	return err
}

// setCustom applies the custom part: removals and upserts, each one
// statement, then the per-agent limit on the result.
func (db *DB) setCustom(ctx context.Context, tx pgx.Tx, agentID string, custom map[string]map[string]*string) error {
	up := dbsqlc.AttributeUpsertManyParams{AgentID: agentID}
	del := dbsqlc.AttributeDeleteManyParams{AgentID: agentID}
	for _, cat := range sortedKeys(custom) {
		for _, name := range sortedKeys(custom[cat]) {
			if v := custom[cat][name]; v != nil {
				up.Categories, up.Names, up.AttrValues = append(up.Categories, cat), append(up.Names, name), append(up.AttrValues, *v)
			} else {
				del.Categories, del.Names = append(del.Categories, cat), append(del.Names, name)
			}
		}
	}
	if len(del.Categories) > 0 {
		if _, err := db.q.AttributeDeleteMany(ctx, tx, del); err != nil {
			return err
		}
	}
	if len(up.Categories) == 0 {
		return nil
	}
	if _, err := db.q.AttributeUpsertMany(ctx, tx, up); err != nil {
		return err
	}
	n, err := db.q.AttributeCountByAgent(ctx, tx, agentID)
	if err != nil {
		return err
	}
	if n > presence.MaxAttributesPerAgent {
		return presence.ReasonErrorf(presence.EINVALID, "too_many_attributes",
			"Agent %q would have %d custom attributes; at most %d are allowed. Remove some (null values) first.", agentID, n, presence.MaxAttributesPerAgent)
	}
	return nil
}

// FindAttributes implements presence.AttributeService.
func (db *DB) FindAttributes(ctx context.Context, agentID string) (*presence.AttributeSet, error) {
	if !presence.ValidID(agentID) {
		return nil, agentNotFound(agentID)
	}
	if err := db.checkAgentLive(ctx, db.pool, agentID); err != nil {
		return nil, err
	}
	return db.attributeSet(ctx, db.pool, agentID)
}

// DeleteAttribute implements presence.AttributeService.
func (db *DB) DeleteAttribute(ctx context.Context, agentID, category, name string) error {
	if !presence.ValidID(agentID) {
		return agentNotFound(agentID)
	}
	notFound := presence.ReasonErrorf(presence.ENOTFOUND, "attribute_not_found",
		"Agent %q has no attribute %q in category %q.", agentID, name, category)
	// Keys SetAttributes would refuse cannot be stored; they are simply
	// not there (and a NUL would not even reach the database).
	if presence.ValidateAttributeKey("category", category, presence.MaxAttributeCategoryLength) != nil ||
		presence.ValidateAttributeKey("name", name, presence.MaxAttributeNameLength) != nil {
		if err := db.checkAgentLive(ctx, db.pool, agentID); err != nil {
			return err
		}
		return notFound
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := db.lockAgent(ctx, tx, agentID); err != nil {
			return err
		}
		n, err := db.q.AttributeDelete(ctx, tx, dbsqlc.AttributeDeleteParams{AgentID: agentID, Category: category, Name: name})
		if err != nil {
			return err
		}
		if n == 0 {
			return notFound
		}
		return nil
	})
}

func (db *DB) checkAgentLive(ctx context.Context, q dbsqlc.DBTX, agentID string) error {
	row, err := db.q.AgentGetByID(ctx, q, agentID)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.DeletedAt != nil) {
		return agentNotFound(agentID)
	}
	return interpretError(err)
}

// attributeSet reads the set as attribute_set_json builds it, so reads and
// event bodies share one definition.
func (db *DB) attributeSet(ctx context.Context, q dbsqlc.DBTX, agentID string) (*presence.AttributeSet, error) {
	raw, err := db.q.AttributeSetGet(ctx, q, agentID)
	if err != nil {
		return nil, interpretError(err)
	}
	var set presence.AttributeSet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("db: decode attribute set of %q: %w", agentID, err)
	}
	return &set, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
