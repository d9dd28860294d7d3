package db

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

var _ presence.StatusService = (*DB)(nil)

func statusFromRow(r dbsqlc.Status) *presence.Status {
	return &presence.Status{
		ID: r.ID, Label: r.Label, SystemPresence: r.SystemPresence, IsAway: r.IsAway,
		BuiltIn: r.BuiltIn, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, DeletedAt: r.DeletedAt,
	}
}

// FindStatuses implements presence.StatusService.
func (db *DB) FindStatuses(ctx context.Context) ([]*presence.Status, error) {
	rows, err := db.q.StatusList(ctx, db.pool)
	if err != nil {
		return nil, interpretError(err)
	}
	out := make([]*presence.Status, len(rows))
	for i, r := range rows {
		out[i] = statusFromRow(r)
	}
	return out, nil
}

// CreateStatus implements presence.StatusService.
func (db *DB) CreateStatus(ctx context.Context, in presence.StatusInput) (*presence.Status, error) {
	if err := in.Validate(true); err != nil {
		return nil, err
	}
	isAway := deref(in.IsAway, presence.DefaultIsAway(*in.SystemPresence))
	row, err := db.q.StatusCreate(ctx, db.pool, dbsqlc.StatusCreateParams{
		ID: in.ID, Label: *in.Label, SystemPresence: *in.SystemPresence, IsAway: isAway})
	if pg := asPgError(err); pg != nil && pg.Code == "23505" {
		return nil, presence.ReasonErrorf(presence.ECONFLICT, "status_exists", "Status %q exists already (deleted statuses included).", in.ID)
	} else if err != nil {
		return nil, interpretError(err)
	}
	return statusFromRow(row), nil
}

// UpdateStatus implements presence.StatusService.
func (db *DB) UpdateStatus(ctx context.Context, in presence.StatusInput) (*presence.Status, error) {
	if err := in.Validate(false); err != nil {
		return nil, err
	}
	var out *presence.Status
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := db.liveCustomStatus(ctx, tx, in.ID)
		if err != nil {
			return err
		}
		row, err := db.q.StatusUpdate(ctx, tx, dbsqlc.StatusUpdateParams{
			ID: in.ID, Label: deref(in.Label, cur.Label), IsAway: deref(in.IsAway, cur.IsAway)})
		out = statusFromRow(row)
		return err
	})
	return out, err
}

// DeleteStatus implements presence.StatusService.
func (db *DB) DeleteStatus(ctx context.Context, id string) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := db.liveCustomStatus(ctx, tx, id); err != nil {
			return err
		}
		inUse, err := db.q.StatusInUse(ctx, tx, id)
		if err != nil {
			return err
		}
		if inUse {
			return presence.ReasonErrorf(presence.ECONFLICT, "status_in_use", "Status %q is in use: an agent is in it or has it as default status.", id)
		}
		return db.q.StatusSoftDelete(ctx, tx, id)
	})
}

func (db *DB) liveCustomStatus(ctx context.Context, tx pgx.Tx, id string) (dbsqlc.Status, error) {
	row, err := db.q.StatusGetByID(ctx, tx, id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.DeletedAt != nil) {
		return row, presence.ReasonErrorf(presence.ENOTFOUND, "status_not_found", "Status %q does not exist.", id)
	} else if err != nil {
		return row, err
	}
	if row.BuiltIn {
		return row, presence.ReasonErrorf(presence.ECONFLICT, "built_in_status", "Status %q is built in and cannot be changed or deleted.", id)
	}
	return row, nil
}

// checkStatusUsable returns EINVALID unless id (when given) names a live
// status.
func (db *DB) checkStatusUsable(ctx context.Context, q dbsqlc.DBTX, id *string) error {
	if id == nil {
		return nil
	}
	_, err := db.usableStatus(ctx, q, *id)
	return err
}

func (db *DB) usableStatus(ctx context.Context, q dbsqlc.DBTX, id string) (dbsqlc.Status, error) {
	row, err := db.q.StatusGetByID(ctx, q, id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.DeletedAt != nil) {
		return row, unknownStatus(id)
	}
	return row, err
}

func (db *DB) usableStatusIDs(ctx context.Context, q dbsqlc.DBTX) (map[string]bool, error) {
	rows, err := db.q.StatusList(ctx, q)
	if err != nil {
		return nil, err
	}
	m := make(map[string]bool, len(rows))
	for _, r := range rows {
		m[r.ID] = true
	}
	return m, nil
}

func unknownStatus(id string) error {
	return presence.ReasonErrorf(presence.EINVALID, "unknown_status", "Status %q does not exist.", id)
}
