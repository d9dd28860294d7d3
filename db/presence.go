package db

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

var _ presence.PresenceService = (*DB)(nil)

func recordFromRow(r dbsqlc.PresenceRecord) *presence.Record {
	queues := r.Queues
	if queues == nil {
		queues = []string{}
	}
	return &presence.Record{
		AgentID: r.AgentID,
		Status: presence.StatusRef{ID: r.StatusID, Label: r.StatusLabel,
			SystemPresence: r.SystemPresence, IsAway: r.IsAway},
		State: r.State, RoutingStatus: r.RoutingStatus,
		Message: r.Message, ReasonCode: r.ReasonCode, Source: r.Source,
		Since: r.Since, SpellID: r.SpellID,
		Capacity: presence.Capacity{Configured: int(r.CapacityConfigured), InUse: int(r.CapacityInUse)},
		Queues:   queues,
	}
}

// SetPresence implements presence.PresenceService.
func (db *DB) SetPresence(ctx context.Context, agentID string, ch presence.PresenceChange) (*presence.Record, error) {
	if err := ch.Validate(); err != nil {
		return nil, err
	}
	if ch.Source == "" {
		ch.Source = presence.SourceManual
	}
	var rec *presence.Record
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := db.changePresence(ctx, tx, agentID, ch); err != nil {
			return err
		}
		var err error
		rec, err = db.presenceOf(ctx, tx, agentID)
		return err
	})
	return rec, err
}

// changePresence applies ch inside tx: it takes the agent's row lock (the
// same round trip checks the status), reads the current spell, then either
// updates its text (same status) or closes it and opens the next. Other
// rules (login, logout, capacity) call it too.
func (db *DB) changePresence(ctx context.Context, tx pgx.Tx, agentID string, ch presence.PresenceChange) error {
	lock, err := db.q.PresenceLock(ctx, tx, dbsqlc.PresenceLockParams{AgentID: agentID, StatusID: ch.Status})
	switch {
	case errors.Is(err, pgx.ErrNoRows) || (err == nil && lock.AgentDeletedAt != nil):
		return agentNotFound(agentID)
	case err != nil:
		return err
	case !lock.StatusUsable:
		return unknownStatus(ch.Status)
	}
	cur, err := db.q.SpellGetCurrent(ctx, tx, agentID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	case cur.StatusID == ch.Status:
		// Same status: idempotent. Only a changed text is written.
		msg, reason := cur.Message, cur.ReasonCode
		if ch.Message != nil {
			msg = ch.Message
		}
		if ch.ReasonCode != nil {
			reason = ch.ReasonCode
		}
		if equalPtr(msg, cur.Message) && equalPtr(reason, cur.ReasonCode) {
			return nil
		}
		_, err = db.q.SpellUpdateCurrentText(ctx, tx, dbsqlc.SpellUpdateCurrentTextParams{
			AgentID: agentID, Message: msg, ReasonCode: reason})
		return err
	}
	_, err = db.q.SpellChange(ctx, tx, dbsqlc.SpellChangeParams{
		AgentID: agentID, StatusID: ch.Status, Source: ch.Source,
		ReasonCode: ch.ReasonCode, Message: ch.Message, At: ch.At})
	return err
}

// FindPresence implements presence.PresenceService.
func (db *DB) FindPresence(ctx context.Context, agentID string) (*presence.Record, error) {
	return db.presenceOf(ctx, db.pool, agentID)
}

func (db *DB) presenceOf(ctx context.Context, q dbsqlc.DBTX, agentID string) (*presence.Record, error) {
	row, err := db.q.PresenceGetByAgent(ctx, q, agentID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, agentNotFound(agentID)
	} else if err != nil {
		return nil, interpretError(err)
	}
	return recordFromRow(row), nil
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
