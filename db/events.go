package db

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

var _ presence.EventLog = (*DB)(nil)

// ReadEvents implements presence.EventLog. A reader resuming after a
// position is told to reset (ERESET) when the log no longer holds the
// events after it (pruning), and when the event it names is not in the log
// with the same epoch: it was on a history this database does not have —
// written by a primary that died before shipping it, or by another
// database — so the events after it here are not the ones it would have
// seen next (docs/ha.md).
func (db *DB) ReadEvents(ctx context.Context, after presence.Position, limit int) ([]presence.Event, error) {
	if !after.IsZero() {
		check, err := db.q.EventResumeCheck(ctx, db.pool, dbsqlc.EventResumeCheckParams{
			AfterXid: int64(after.Xid), AfterID: after.ID, Epoch: int32(after.Epoch)})
		if err != nil {
			return nil, interpretError(err)
		}
		cut := presence.Position{Xid: uint64(check.PrunedXid), ID: check.PrunedID}
		if after.Less(cut) {
			return nil, presence.Errorf(presence.ERESET, "Event %s is older than the retention window.", after)
		}
		// The event at the cut itself was pruned; a reader there has every
		// event after it.
		atCut := after.Xid == cut.Xid && after.ID == cut.ID
		if !check.OnHistory && !atCut {
			return nil, presence.Errorf(presence.ERESET, "Event %s is not in this database's event log (lost in a failover, or from another database).", after)
		}
		if check.Fenced {
			return nil, presence.Errorf(presence.ERESET, "Events up to %s may include some lost in a failover.", after)
		}
	}
	rows, err := db.q.EventListAfter(ctx, db.pool, dbsqlc.EventListAfterParams{
		AfterXid: int64(after.Xid), AfterID: after.ID, MaxRows: int32(limit)})
	if err != nil {
		return nil, interpretError(err)
	}
	out := make([]presence.Event, len(rows))
	for i, r := range rows {
		out[i] = presence.Event{
			Position: presence.Position{Epoch: uint32(r.Epoch), Xid: uint64(r.Xid), ID: r.ID},
			Topic:    r.Topic, Kind: r.Kind, At: r.At, Body: json.RawMessage(r.Body),
		}
	}
	if len(out) > 0 && time.Since(out[len(out)-1].At) < servedWindow {
		ps := make([]presence.Position, len(out))
		for i, ev := range out {
			ps[i] = ev.Position
		}
		db.served.add(time.Now(), ps...)
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
		return presence.Position{Epoch: uint32(pruned.Epoch), Xid: uint64(pruned.Xid), ID: pruned.ID}, nil
	} else if err != nil {
		return presence.Position{}, interpretError(err)
	}
	return presence.Position{Epoch: uint32(row.Epoch), Xid: uint64(row.Xid), ID: row.ID}, nil
}
