package db

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

var (
	_ presence.WorkService     = (*DB)(nil)
	_ presence.WorkAgentFinder = (*DB)(nil)
)

func workFromRow(r dbsqlc.WorkItem) *presence.Work {
	return &presence.Work{
		ID: r.ID, AgentID: r.AgentID, Channel: r.Channel, Units: int(r.Units),
		Interruptible: r.Interruptible, AssignedAt: r.AssignedAt,
		ClosedAt: r.ClosedAt, CloseReason: r.CloseReason, ReasonCode: r.ReasonCode,
	}
}

// AssignWork implements presence.WorkService. Under the agent's row lock
// it reads the units in use, refuses work that does not fit, inserts the
// item and applies the capacity rule, so two assignments racing for the
// last unit serialise and exactly one wins.
func (db *DB) AssignWork(ctx context.Context, agentID string, in presence.WorkInput) (*presence.Work, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var w *presence.Work
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		agent, err := db.lockAgent(ctx, tx, agentID)
		if err != nil {
			return err
		}
		st, err := db.q.WorkAgentState(ctx, tx, agentID)
		if err != nil {
			return err
		}
		if err := fits(agent, st, in); err != nil {
			return err
		}
		row, err := db.q.WorkAssign(ctx, tx, dbsqlc.WorkAssignParams{
			ID: in.ID, AgentID: agentID, Channel: in.Channel,
			Units: int32(in.Units), Interruptible: in.Interruptible})
		if pg := asPgError(err); pg != nil && pg.Code == "23505" {
			return presence.ReasonErrorf(presence.ECONFLICT, "work_exists",
				"Work item %q exists already (closed ones included); choose another id or omit it.", deref(in.ID, ""))
		} else if err != nil {
			return err
		}
		if !in.Interruptible {
			if err := db.applyCapacityRule(ctx, tx, agent, st, int(st.PrimaryInUse)+in.Units, row.AssignedAt); err != nil {
				return err
			}
		}
		w = workFromRow(row)
		w.Presence, err = db.presenceOf(ctx, tx, agentID)
		return err
	})
	return w, err
}

// fits returns ECONFLICT "over_capacity" unless the work fits the agent's
// free capacity: primary units, or interrupt units for interruptible work.
func fits(agent dbsqlc.Agent, st dbsqlc.WorkAgentStateRow, in presence.WorkInput) error {
	kind, configured, inUse := "capacity", int(agent.Capacity), int(st.PrimaryInUse)
	if in.Interruptible {
		kind, configured, inUse = "interrupt capacity", int(agent.InterruptCapacity), int(st.InterruptInUse)
	}
	if inUse+in.Units <= configured {
		return nil
	}
	return presence.ReasonErrorf(presence.ECONFLICT, "over_capacity",
		"Agent %q has %d of %d %s units in use; %d more would exceed it.", agent.ID, inUse, configured, kind, in.Units)
}

// applyCapacityRule is automatic presence, given the agent's primary units
// in use after a work change at instant at, and its state before it (the
// current spell is the same: the caller holds the agent's row lock and
// changed no spell):
//
//   - full (capacity > 0 and in use ≥ capacity) in an available-class
//     status: busy, source automatic;
//   - not full, in the automatic busy spell: back to the status that spell
//     replaced, source automatic.
//
// Anything else is left alone: a person's own choice is never overridden.
// The presence change takes the instant of the work change, so the spell
// boundary and the item's assigned_at (or closed_at) are one instant and
// the spells' capacity figures show it exactly: the automatic busy spell
// is at capacity for all its duration.
func (db *DB) applyCapacityRule(ctx context.Context, tx pgx.Tx, agent dbsqlc.Agent, st dbsqlc.WorkAgentStateRow, primaryInUse int, at time.Time) error {
	full := agent.Capacity > 0 && primaryInUse >= int(agent.Capacity)
	switch {
	case full && st.SystemPresence != nil && *st.SystemPresence == "AVAILABLE":
		reason := presence.ReasonCapacityFull
		return db.changePresence(ctx, tx, agent.ID, presence.PresenceChange{
			Status: presence.StatusBusy, Source: presence.SourceAutomatic, ReasonCode: &reason, At: &at})
	case !full && st.StatusID != nil && *st.StatusID == presence.StatusBusy &&
		st.Source != nil && *st.Source == presence.SourceAutomatic:
		status, message, err := db.statusBefore(ctx, tx, agent.ID, *st.StartedAt)
		if err != nil {
			return err
		}
		reason := presence.ReasonCapacityFreed
		return db.changePresence(ctx, tx, agent.ID, presence.PresenceChange{
			Status: status, Message: message, Source: presence.SourceAutomatic, ReasonCode: &reason, At: &at})
	}
	return nil
}

// statusBefore returns the status and message of the spell that the spell
// starting at t replaced. The automatic busy spell always replaced an
// available-class one; should that status have been deleted since, or
// the spell be missing, the agent goes back to the built-in available.
func (db *DB) statusBefore(ctx context.Context, tx pgx.Tx, agentID string, t time.Time) (string, *string, error) {
	prev, err := db.q.SpellBefore(ctx, tx, dbsqlc.SpellBeforeParams{AgentID: agentID, At: t})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return presence.StatusAvailable, nil, nil
	case err != nil:
		return "", nil, err
	case prev.StatusDeletedAt != nil:
		return presence.StatusAvailable, nil, nil
	}
	return prev.StatusID, prev.Message, nil
}

// CloseWork implements presence.WorkService.
func (db *DB) CloseWork(ctx context.Context, workID string) (*presence.Work, error) {
	return db.closeWork(ctx, workID, presence.WorkClosed, nil)
}

// ReleaseWork implements presence.WorkService. The work_items trigger
// writes the audit row (admin_event) with the acting token of ctx.
func (db *DB) ReleaseWork(ctx context.Context, workID string, in presence.WorkRelease) (*presence.Work, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	return db.closeWork(ctx, workID, presence.WorkReleased, in.ReasonCode)
}

// closeWork closes an open item for a reason, then applies the capacity
// rule when primary units were freed.
func (db *DB) closeWork(ctx context.Context, workID, reason string, reasonCode *string) (*presence.Work, error) {
	var w *presence.Work
	run := db.inTx
	if reason == presence.WorkReleased { // a release is audited
		run = db.inAuditedTx
	}
	err := run(ctx, func(tx pgx.Tx) error {
		agent, err := db.q.AgentLockByWork(ctx, tx, workID)
		if errors.Is(err, pgx.ErrNoRows) {
			return workNotFound(workID)
		} else if err != nil {
			return err
		}
		row, err := db.q.WorkClose(ctx, tx, dbsqlc.WorkCloseParams{ID: workID, CloseReason: &reason, ReasonCode: reasonCode})
		if errors.Is(err, pgx.ErrNoRows) { // closed already, perhaps while we waited for the lock
			_, err = db.openWork(ctx, tx, workID)
			return err
		} else if err != nil {
			return err
		}
		if !row.Interruptible {
			st, err := db.q.WorkAgentState(ctx, tx, agent.ID)
			if err != nil {
				return err
			}
			if err := db.applyCapacityRule(ctx, tx, agent, st, int(st.PrimaryInUse), *row.ClosedAt); err != nil {
				return err
			}
		}
		w = workFromRow(row)
		w.Presence, err = db.presenceOf(ctx, tx, agent.ID)
		if presence.ErrorCode(err) == presence.ENOTFOUND {
			err = nil // a deleted agent's work is closed already; kept for safety
		}
		return err
	})
	return w, err
}

// openWork returns an open item, or the error that says why not:
// ENOTFOUND "work_not_found", ECONFLICT "work_closed".
func (db *DB) openWork(ctx context.Context, q dbsqlc.DBTX, id string) (dbsqlc.WorkItem, error) {
	row, err := db.q.WorkGetByID(ctx, q, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return row, workNotFound(id)
	} else if err != nil {
		return row, err
	}
	if row.ClosedAt != nil {
		return row, presence.ReasonErrorf(presence.ECONFLICT, "work_closed",
			"Work item %q was %s at %s.", truncate(id, 140), closedHow(*row.CloseReason), row.ClosedAt.UTC().Format(time.RFC3339Nano))
	}
	return row, nil
}

func closedHow(reason string) string {
	switch reason {
	case presence.WorkReleased:
		return "released"
	case presence.WorkAgentDeleted:
		return "closed when its agent was deleted"
	}
	return "closed"
}

// FindWorkByID implements presence.WorkService.
func (db *DB) FindWorkByID(ctx context.Context, workID string) (*presence.Work, error) {
	row, err := db.q.WorkGetByID(ctx, db.pool, workID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, workNotFound(workID)
	} else if err != nil {
		return nil, interpretError(err)
	}
	return workFromRow(row), nil
}

// FindOpenWork implements presence.WorkService.
func (db *DB) FindOpenWork(ctx context.Context, agentID string) ([]*presence.Work, error) {
	var out []*presence.Work
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		a, err := db.q.AgentGetByID(ctx, tx, agentID)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && a.DeletedAt != nil) {
			return agentNotFound(agentID)
		} else if err != nil {
			return err
		}
		rows, err := db.q.WorkListOpen(ctx, tx, dbsqlc.WorkListOpenParams{AgentID: agentID, MaxRows: presence.MaxOpenWork})
		if err != nil {
			return err
		}
		out = make([]*presence.Work, len(rows))
		for i, r := range rows {
			out[i] = workFromRow(r)
		}
		return nil
	})
	return out, err
}

// WorkAgent implements presence.WorkAgentFinder: the auth layer asks whose
// work item a {wid} route acts on. ENOTFOUND for an unknown item.
func (db *DB) WorkAgent(ctx context.Context, workID string) (string, error) {
	w, err := db.FindWorkByID(ctx, workID)
	if err != nil {
		return "", err
	}
	return w.AgentID, nil
}

// closeAgentWork closes every open item of an agent that is being deleted.
// The caller holds the agent's row lock.
func (db *DB) closeAgentWork(ctx context.Context, tx pgx.Tx, agentID string) error {
	_, err := db.q.WorkCloseAllOfAgent(ctx, tx, agentID)
	return err
}

// withLiveFigures fills in the capacity figures of the current spells
// among spells, computed up to now; closed spells carry stored ones.
func (db *DB) withLiveFigures(ctx context.Context, q dbsqlc.DBTX, spells []*presence.Spell) error {
	var ids []int64
	for _, s := range spells {
		if s.IsCurrent {
			ids = append(ids, s.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := db.q.SpellFiguresLive(ctx, q, ids)
	if err != nil {
		return interpretError(err)
	}
	byID := make(map[int64]dbsqlc.SpellFiguresLiveRow, len(rows))
	for _, r := range rows {
		byID[r.ID] = r
	}
	for _, s := range spells {
		if r, ok := byID[s.ID]; ok && s.IsCurrent {
			s.AtCapacityMS, s.IdleMS, s.AverageCapacity = r.AtCapacityMs, r.IdleMs, r.AverageCapacity
		}
	}
	return nil
}

func workNotFound(id string) error {
	return presence.ReasonErrorf(presence.ENOTFOUND, "work_not_found", "Work item %q does not exist.", truncate(id, 140))
}
