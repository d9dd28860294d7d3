package db

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

var _ presence.QueueService = (*DB)(nil)

func queueFromRow(r dbsqlc.Queue, members int32) *presence.Queue {
	return &presence.Queue{ID: r.ID, Name: r.Name, MemberCount: int(members), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// PutQueue implements presence.QueueService.
func (db *DB) PutQueue(ctx context.Context, in presence.QueueInput) (*presence.Queue, bool, error) {
	if err := in.Validate(); err != nil {
		return nil, false, err
	}
	var (
		q       *presence.Queue
		created bool
	)
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		_, err := db.q.QueueCreate(ctx, tx, dbsqlc.QueueCreateParams{ID: in.ID, Name: deref(in.Name, in.ID)})
		switch {
		case err == nil:
			created = true
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		default: // it exists: rename it when asked to
			cur, err := db.q.QueueLockByID(ctx, tx, in.ID)
			if err != nil {
				return err
			}
			if in.Name != nil && *in.Name != cur.Name {
				if _, err := db.q.QueueRename(ctx, tx, dbsqlc.QueueRenameParams{ID: in.ID, Name: *in.Name}); err != nil {
					return err
				}
			}
		}
		q, err = db.queueByID(ctx, tx, in.ID)
		return err
	})
	return q, created, err
}

// FindQueueByID implements presence.QueueService.
func (db *DB) FindQueueByID(ctx context.Context, id string) (*presence.Queue, error) {
	return db.queueByID(ctx, db.pool, id)
}

func (db *DB) queueByID(ctx context.Context, q dbsqlc.DBTX, id string) (*presence.Queue, error) {
	row, err := db.q.QueueGetByID(ctx, q, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, queueNotFound(id)
	} else if err != nil {
		return nil, interpretError(err)
	}
	return queueFromRow(row.Queue, row.MemberCount), nil
}

// FindQueues implements presence.QueueService.
func (db *DB) FindQueues(ctx context.Context, f presence.QueueFilter) ([]*presence.Queue, string, error) {
	c, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(f.Limit)
	rows, err := db.q.QueueList(ctx, db.pool, dbsqlc.QueueListParams{After: c.ID, MaxRows: int32(limit)})
	if err != nil {
		return nil, "", interpretError(err)
	}
	out := make([]*presence.Queue, len(rows))
	for i, r := range rows {
		out[i] = queueFromRow(r.Queue, r.MemberCount)
	}
	return out, nextCursor(len(rows), limit, func() cursor { return cursor{ID: rows[len(rows)-1].Queue.ID} }), nil
}

// LoginQueue implements presence.QueueService.
func (db *DB) LoginQueue(ctx context.Context, agentID, queueID string) (*presence.Record, error) {
	var rec *presence.Record
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := db.lockAgent(ctx, tx, agentID); err != nil {
			return err
		}
		if err := db.checkQueue(ctx, tx, queueID); err != nil {
			return err
		}
		// A logged-out agent cannot go on a queue (OpenCTI: "logged out
		// agent cannot change state"); a DISCONNECTED one still can.
		open, err := db.q.SessionCountOpen(ctx, tx, agentID)
		if err != nil {
			return err
		}
		if open == 0 {
			return presence.ReasonErrorf(presence.ECONFLICT, "agent_logged_out",
				"Agent %q is logged out; open a session before logging in to a queue.", agentID)
		}
		if _, err := db.q.QueueMembershipJoin(ctx, tx, dbsqlc.QueueMembershipJoinParams{AgentID: agentID, QueueID: queueID}); err != nil {
			return err
		}
		rec, err = db.presenceOf(ctx, tx, agentID)
		return err
	})
	return rec, err
}

// LogoutQueues implements presence.QueueService.
func (db *DB) LogoutQueues(ctx context.Context, agentID string, in presence.QueueLogout) (*presence.Record, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var rec *presence.Record
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := db.lockAgent(ctx, tx, agentID); err != nil {
			return err
		}
		if in.Queue != nil {
			if err := db.checkQueue(ctx, tx, *in.Queue); err != nil {
				return err
			}
		}
		left, err := db.q.QueueMembershipLeave(ctx, tx, dbsqlc.QueueMembershipLeaveParams{
			AgentID: agentID, QueueID: in.Queue, ReasonCode: in.ReasonCode})
		if err != nil {
			return err
		}
		if len(left) == 0 {
			if in.Queue != nil {
				return presence.ReasonErrorf(presence.ECONFLICT, "not_in_queue",
					"Agent %q is not logged in to queue %q.", agentID, *in.Queue)
			}
			return presence.ReasonErrorf(presence.ECONFLICT, "not_in_queue",
				"Agent %q is not logged in to any queue.", agentID)
		}
		rec, err = db.presenceOf(ctx, tx, agentID)
		return err
	})
	return rec, err
}

// checkQueue returns ENOTFOUND unless the queue exists.
func (db *DB) checkQueue(ctx context.Context, q dbsqlc.DBTX, id string) error {
	if !presence.ValidID(id) {
		return queueNotFound(id)
	}
	ok, err := db.q.QueueExists(ctx, q, id)
	if err != nil {
		return err
	}
	if !ok {
		return queueNotFound(id)
	}
	return nil
}

func queueNotFound(id string) error {
	return presence.ReasonErrorf(presence.ENOTFOUND, "queue_not_found", "Queue %q does not exist.", truncate(id, 140))
}
