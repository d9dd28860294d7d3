package db

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

var _ presence.EventLog = (*DB)(nil)

// ReadEvents implements presence.EventLog.
func (db *DB) ReadEvents(ctx context.Context, after presence.Position, limit int) ([]presence.Event, error) {
	pruned, err := db.q.EventPrunedThrough(ctx, db.pool)
	if err != nil {
		return nil, interpretError(err)
	}
	if !after.IsZero() && after.Less(presence.Position{Xid: uint64(pruned.Xid), ID: pruned.ID}) {
		return nil, presence.Errorf(presence.ERESET, "Event %s is older than the retention window; reload the state.", after)
	}
	rows, err := db.q.EventListAfter(ctx, db.pool, dbsqlc.EventListAfterParams{
		AfterXid: int64(after.Xid), AfterID: after.ID, MaxRows: int32(limit)})
	if err != nil {
		return nil, interpretError(err)
	}
	out := make([]presence.Event, len(rows))
	for i, r := range rows {
		out[i] = presence.Event{
			Position: presence.Position{Xid: uint64(r.Xid), ID: r.ID},
			Topic:    r.Topic, Kind: r.Kind, At: r.At, Body: json.RawMessage(r.Body),
		}
	}
	return out, nil
}

// HeadPosition implements presence.EventLog.
func (db *DB) HeadPosition(ctx context.Context) (presence.Position, error) {
	row, err := db.q.EventHead(ctx, db.pool)
	if errors.Is(err, pgx.ErrNoRows) {
		// Empty: pruned through its newest event, or never written.
		pruned, err := db.q.EventPrunedThrough(ctx, db.pool)
		if err != nil {
			return presence.Position{}, interpretError(err)
		}
		return presence.Position{Xid: uint64(pruned.Xid), ID: pruned.ID}, nil
	} else if err != nil {
		return presence.Position{}, interpretError(err)
	}
	return presence.Position{Xid: uint64(row.Xid), ID: row.ID}, nil
}
