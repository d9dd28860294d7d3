package db

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

// Ensure the service implements the interface.
var _ presence.AgentService = (*DB)(nil)

func agentFromRow(r dbsqlc.Agent) *presence.Agent {
	return &presence.Agent{
		ID: r.ID, Name: r.Name, DefaultStatus: r.DefaultStatus,
		Capacity: int(r.Capacity), InterruptCapacity: int(r.InterruptCapacity),
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, DeletedAt: r.DeletedAt,
	}
}

// CreateAgent implements presence.AgentService.
func (db *DB) CreateAgent(ctx context.Context, in presence.AgentInput) (*presence.Agent, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var a *presence.Agent
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := db.checkStatusUsable(ctx, tx, in.DefaultStatus); err != nil {
			return err
		}
		row, err := db.q.AgentCreate(ctx, tx, dbsqlc.AgentCreateParams{
			ID:                in.ID,
			Name:              deref(in.Name, in.ID),
			DefaultStatus:     deref(in.DefaultStatus, presence.StatusAvailable),
			Capacity:          int32(deref(in.Capacity, 1)),
			InterruptCapacity: int32(deref(in.InterruptCapacity, 0)),
		})
		if pg := asPgError(err); pg != nil && pg.Code == "23505" {
			return presence.ReasonErrorf(presence.ECONFLICT, "agent_exists", "Agent %q exists already (deleted agents included; restore it instead).", in.ID)
		} else if err != nil {
			return err
		}
		a = agentFromRow(row)
		rec, err := db.presenceOf(ctx, tx, a.ID)
		a.Presence = rec
		return err
	})
	return a, err
}

// FindAgentByID implements presence.AgentService.
func (db *DB) FindAgentByID(ctx context.Context, id string) (*presence.Agent, error) {
	row, err := db.q.AgentGetByID(ctx, db.pool, id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.DeletedAt != nil) {
		return nil, agentNotFound(id)
	} else if err != nil {
		return nil, interpretError(err)
	}
	a := agentFromRow(row)
	if a.Presence, err = db.presenceOf(ctx, db.pool, id); err != nil {
		return nil, err
	}
	return a, nil
}

// FindAgents implements presence.AgentService.
func (db *DB) FindAgents(ctx context.Context, f presence.AgentFilter) ([]*presence.Agent, string, error) {
	c, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(f.Limit)
	rows, err := db.q.AgentList(ctx, db.pool, dbsqlc.AgentListParams{Deleted: f.Deleted, After: c.ID, MaxRows: int32(limit)})
	if err != nil {
		return nil, "", interpretError(err)
	}
	out := make([]*presence.Agent, len(rows))
	for i, r := range rows {
		out[i] = agentFromRow(r)
	}
	return out, nextCursor(len(rows), limit, func() cursor { return cursor{ID: rows[len(rows)-1].ID} }), nil
}

// UpdateAgent implements presence.AgentService.
func (db *DB) UpdateAgent(ctx context.Context, in presence.AgentInput) (*presence.Agent, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var a *presence.Agent
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := db.lockAgent(ctx, tx, in.ID)
		if err != nil {
			return err
		}
		if err := db.checkStatusUsable(ctx, tx, in.DefaultStatus); err != nil {
			return err
		}
		row, err := db.q.AgentUpdate(ctx, tx, mergeAgent(cur, in))
		if err != nil {
			return err
		}
		a = agentFromRow(row)
		a.Presence, err = db.presenceOf(ctx, tx, a.ID)
		return err
	})
	return a, err
}

func mergeAgent(cur dbsqlc.Agent, in presence.AgentInput) dbsqlc.AgentUpdateParams {
	return dbsqlc.AgentUpdateParams{
		ID:                cur.ID,
		Name:              deref(in.Name, cur.Name),
		DefaultStatus:     deref(in.DefaultStatus, cur.DefaultStatus),
		Capacity:          int32(deref(in.Capacity, int(cur.Capacity))),
		InterruptCapacity: int32(deref(in.InterruptCapacity, int(cur.InterruptCapacity))),
	}
}

// UpsertAgents implements presence.AgentService. It validates every item,
// locks the existing agents in id order, merges, and writes all rows with
// one statement.
func (db *DB) UpsertAgents(ctx context.Context, items []presence.AgentInput) ([]*presence.Agent, error) {
	if len(items) == 0 {
		return nil, presence.Errorf(presence.EINVALID, "items must hold at least one agent.")
	}
	if len(items) > presence.MaxBatchSize {
		return nil, presence.Errorf(presence.ETOOLARGE, "A batch holds at most %d agents; got %d.", presence.MaxBatchSize, len(items))
	}
	seen := make(map[string]int, len(items))
	ids := make([]string, len(items))
	for i, in := range items {
		if err := in.Validate(); err != nil {
			return nil, presence.IndexedError(i, err)
		}
		if j, dup := seen[in.ID]; dup {
			return nil, presence.IndexedError(i, presence.Errorf(presence.EINVALID, "agent %q is also items[%d].", in.ID, j))
		}
		seen[in.ID] = i
		ids[i] = in.ID
	}
	var out []*presence.Agent
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		statuses, err := db.usableStatusIDs(ctx, tx)
		if err != nil {
			return err
		}
		existing, err := db.q.AgentLockByIDs(ctx, tx, ids)
		if err != nil {
			return err
		}
		byID := make(map[string]dbsqlc.Agent, len(existing))
		for _, r := range existing {
			byID[r.ID] = r
		}
		p := dbsqlc.AgentUpsertManyParams{}
		for i, in := range items {
			if in.DefaultStatus != nil && !statuses[*in.DefaultStatus] {
				return presence.IndexedError(i, unknownStatus(*in.DefaultStatus))
			}
			cur, ok := byID[in.ID]
			if ok && cur.DeletedAt != nil {
				return presence.IndexedError(i, presence.ReasonErrorf(presence.ECONFLICT, "agent_deleted", "agent %q is deleted; restore it first.", in.ID))
			}
			if !ok {
				cur = dbsqlc.Agent{ID: in.ID, Name: in.ID, DefaultStatus: presence.StatusAvailable, Capacity: 1}
			}
			m := mergeAgent(cur, in)
			p.Ids = append(p.Ids, m.ID)
			p.Names = append(p.Names, m.Name)
			p.DefaultStatuses = append(p.DefaultStatuses, m.DefaultStatus)
			p.Capacities = append(p.Capacities, m.Capacity)
			p.InterruptCapacities = append(p.InterruptCapacities, m.InterruptCapacity)
		}
		rows, err := db.q.AgentUpsertMany(ctx, tx, p)
		if err != nil {
			return err
		}
		// Answer in the order of the request.
		byID = make(map[string]dbsqlc.Agent, len(rows))
		for _, r := range rows {
			byID[r.ID] = r
		}
		out = make([]*presence.Agent, len(items))
		for i, in := range items {
			out[i] = agentFromRow(byID[in.ID])
		}
		return nil
	})
	return out, err
}

// DeleteAgent implements presence.AgentService.
func (db *DB) DeleteAgent(ctx context.Context, id string) error {
	return db.inAuditedTx(ctx, func(tx pgx.Tx) error {
		if _, err := db.lockAgent(ctx, tx, id); err != nil {
			return err
		}
		// A deleted agent has no session and is on no queue.
		if err := db.logOutAgent(ctx, tx, id, presence.SessionEndAgentDeleted); err != nil {
			return err
		}
		// Nor does it hold work: its open items close (before the spell,
		// whose figures then see them end).
		if err := db.closeAgentWork(ctx, tx, id); err != nil {
			return err
		}
		// A deleted agent is in no status any more: end the spell so that
		// reports do not count its time for ever.
		if err := db.q.SpellCloseCurrent(ctx, tx, id); err != nil {
			return err
		}
		return db.q.AgentSoftDelete(ctx, tx, id)
	})
}

// RestoreAgent implements presence.AgentService.
func (db *DB) RestoreAgent(ctx context.Context, id string) (*presence.Agent, error) {
	var a *presence.Agent
	err := db.inAuditedTx(ctx, func(tx pgx.Tx) error {
		cur, err := db.q.AgentLockByID(ctx, tx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return agentNotFound(id)
		} else if err != nil {
			return err
		}
		if cur.DeletedAt == nil {
			return presence.ReasonErrorf(presence.ECONFLICT, "not_deleted", "Agent %q is not deleted.", id)
		}
		row, err := db.q.AgentRestore(ctx, tx, id)
		if err != nil {
			return err
		}
		a = agentFromRow(row)
		a.Presence, err = db.presenceOf(ctx, tx, id)
		return err
	})
	return a, err
}

// AgentsUpdated implements presence.AgentService.
func (db *DB) AgentsUpdated(ctx context.Context, w presence.Window) ([]presence.Change, string, error) {
	c, err := decodeCursor(w.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(w.Limit)
	rows, err := db.q.AgentListUpdated(ctx, db.pool, dbsqlc.AgentListUpdatedParams{
		StartAt: w.Start, EndAt: w.End, AfterAt: c.At, AfterID: c.ID, MaxRows: int32(limit)})
	if err != nil {
		return nil, "", interpretError(err)
	}
	out := make([]presence.Change, len(rows))
	for i, r := range rows {
		out[i] = presence.Change{ID: r.ID, At: r.UpdatedAt}
	}
	return out, nextCursor(len(rows), limit, func() cursor { return lastChangeCursor(out) }), nil
}

// AgentsDeleted implements presence.AgentService.
func (db *DB) AgentsDeleted(ctx context.Context, w presence.Window) ([]presence.Change, string, error) {
	c, err := decodeCursor(w.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(w.Limit)
	rows, err := db.q.AgentListDeleted(ctx, db.pool, dbsqlc.AgentListDeletedParams{
		StartAt: &w.Start, EndAt: &w.End, AfterAt: c.At, AfterID: c.ID, MaxRows: int32(limit)})
	if err != nil {
		return nil, "", interpretError(err)
	}
	out := make([]presence.Change, len(rows))
	for i, r := range rows {
		out[i] = presence.Change{ID: r.ID, At: r.DeletedAt}
	}
	return out, nextCursor(len(rows), limit, func() cursor { return lastChangeCursor(out) }), nil
}

// lockAgent takes the row lock of a live agent. ENOTFOUND when unknown or
// deleted.
func (db *DB) lockAgent(ctx context.Context, tx pgx.Tx, id string) (dbsqlc.Agent, error) {
	row, err := db.q.AgentLockByID(ctx, tx, id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.DeletedAt != nil) {
		return row, agentNotFound(id)
	}
	return row, err
}

func agentNotFound(id string) error {
	return presence.ReasonErrorf(presence.ENOTFOUND, "agent_not_found", "Agent %q does not exist.", id)
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
