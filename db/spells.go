package db

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

var _ presence.SpellService = (*DB)(nil)

func spellFromRow(r dbsqlc.Spell, systemPresence string, isAway bool) *presence.Spell {
	s := &presence.Spell{
		ID: r.ID, AgentID: r.AgentID, StatusID: r.StatusID,
		SystemPresence: systemPresence, IsAway: isAway,
		Source: r.Source, ReasonCode: r.ReasonCode, Message: r.Message,
		StartedAt: r.StartedAt, EndedAt: r.EndedAt, IsCurrent: r.IsCurrent,
		AtCapacityMS: r.AtCapacityMs, IdleMS: r.IdleMs, AverageCapacity: r.AverageCapacity,
		UpdatedAt: r.UpdatedAt, DeletedAt: r.DeletedAt,
		ConfiguredCapacity: int(r.ConfiguredCapacity), ConfiguredInterruptCapacity: int(r.ConfiguredInterruptCapacity),
	}
	if r.Duration != nil {
		ms := r.Duration.Milliseconds()
		s.DurationMS = &ms
	}
	return s
}

// FindSpells implements presence.SpellService.
func (db *DB) FindSpells(ctx context.Context, f presence.SpellFilter) ([]*presence.Spell, string, error) {
	c, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(f.Limit)
	p := dbsqlc.SpellListParams{FromAt: f.From, ToAt: f.To, CurrentOnly: f.CurrentOnly, AfterID: c.N, MaxRows: int32(limit)}
	if f.AgentID != "" {
		p.AgentID = &f.AgentID
	}
	if f.StatusID != "" {
		p.StatusID = &f.StatusID
	}
	rows, err := db.spellList(ctx, p)
	if err != nil {
		return nil, "", interpretError(err)
	}
	out := make([]*presence.Spell, len(rows))
	for i, r := range rows {
		out[i] = spellFromRow(r.Spell, r.SystemPresence, r.IsAway)
	}
	if err := db.withLiveFigures(ctx, db.pool, out); err != nil {
		return nil, "", err
	}
	return out, nextCursor(len(rows), limit, func() cursor { return cursor{N: rows[len(rows)-1].Spell.ID} }), nil
}

// spellList runs SpellList planned for its own parameters (customPlanMode,
// as the bulk presence read): the one statement serves every filter
// ("$1 IS NULL OR ..."), and under a cached prepared statement PostgreSQL
// switches to a generic plan from its sixth run on that connection, which
// cannot know which filters are set: it walked spells_pkey discarding
// every other agent's spells (800 ms at 2.4M spells) where the custom plan
// reads one agent's index range.
func (db *DB) spellList(ctx context.Context, p dbsqlc.SpellListParams) ([]dbsqlc.SpellListRow, error) {
	sql := dbsqlc.SpellList
	if p.FromAt == nil && p.ToAt == nil {
		sql = dbsqlc.SpellListAll
	}
	rows, err := db.pool.Query(ctx, sql, customPlanMode,
		p.FromAt, p.ToAt, p.AgentID, p.StatusID, p.CurrentOnly, p.AfterID, p.MaxRows)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (dbsqlc.SpellListRow, error) {
		var i dbsqlc.SpellListRow
		s := &i.Spell
		err := row.Scan(&s.ID, &s.AgentID, &s.StatusID, &s.Source, &s.ReasonCode, &s.Message,
			&s.StartedAt, &s.EndedAt, &s.Duration, &s.IsCurrent, &s.AtCapacityMs, &s.IdleMs,
			&s.AverageCapacity, &s.UpdatedAt, &s.DeletedAt, &s.ConfiguredCapacity,
			&s.ConfiguredInterruptCapacity, &i.SystemPresence, &i.IsAway)
		return i, err
	})
}

// windowStart is the keyset position a window's first page starts after:
// the window's start itself, before every id. The zero time (no cursor)
// made the row comparison start the index walk at 0001-01-01, reading the
// whole index up to the window.
func windowStart(c cursor, start time.Time) (time.Time, int64) {
	if c.At.IsZero() {
		return start, math.MinInt64
	}
	return c.At, c.N
}

// FindSpellByID implements presence.SpellService.
func (db *DB) FindSpellByID(ctx context.Context, id int64) (*presence.Spell, error) {
	s, err := db.spellByID(ctx, db.pool, id)
	if err == nil && s.DeletedAt != nil {
		return nil, spellNotFound(id)
	} else if err != nil {
		return nil, err
	}
	return s, db.withLiveFigures(ctx, db.pool, []*presence.Spell{s})
}

// spellByID returns a spell, deleted or not. ENOTFOUND when unknown.
func (db *DB) spellByID(ctx context.Context, q dbsqlc.DBTX, id int64) (*presence.Spell, error) {
	r, err := db.q.SpellGetByID(ctx, q, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, spellNotFound(id)
	} else if err != nil {
		return nil, interpretError(err)
	}
	return spellFromRow(r.Spell, r.SystemPresence, r.IsAway), nil
}

// DeleteSpell implements presence.SpellService.
func (db *DB) DeleteSpell(ctx context.Context, id int64) error {
	return db.inAuditedTx(ctx, func(tx pgx.Tx) error {
		s, err := db.spellByID(ctx, tx, id)
		if err != nil {
			return err
		}
		// Lock the agent so the spell cannot become current-or-not under us.
		if _, err := db.q.AgentLockByID(ctx, tx, s.AgentID); err != nil {
			return err
		}
		if s, err = db.spellByID(ctx, tx, id); err != nil {
			return err
		}
		if s.DeletedAt != nil {
			return spellNotFound(id)
		}
		if s.IsCurrent {
			return presence.ReasonErrorf(presence.ECONFLICT, "spell_current", "Spell %d is the agent's current spell; change the presence first.", id)
		}
		return db.q.SpellSoftDelete(ctx, tx, id)
	})
}

// RestoreSpell implements presence.SpellService.
func (db *DB) RestoreSpell(ctx context.Context, id int64) (*presence.Spell, error) {
	var out *presence.Spell
	err := db.inAuditedTx(ctx, func(tx pgx.Tx) error {
		s, err := db.spellByID(ctx, tx, id)
		if err != nil {
			return err
		}
		if s.DeletedAt == nil {
			return presence.ReasonErrorf(presence.ECONFLICT, "not_deleted", "Spell %d is not deleted.", id)
		}
		if _, err := db.q.SpellRestore(ctx, tx, id); err != nil {
			return err
		}
		out, err = db.spellByID(ctx, tx, id)
		return err
	})
	return out, err
}

// SpellsUpdated implements presence.SpellService.
func (db *DB) SpellsUpdated(ctx context.Context, w presence.Window) ([]presence.Change, string, error) {
	c, err := decodeCursor(w.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(w.Limit)
	afterAt, afterID := windowStart(c, w.Start)
	rows, err := db.q.SpellListUpdated(ctx, db.pool, dbsqlc.SpellListUpdatedParams{
		StartAt: w.Start, EndAt: w.End, AfterAt: afterAt, AfterID: afterID, MaxRows: int32(limit)})
	if err != nil {
		return nil, "", interpretError(err)
	}
	out := make([]presence.Change, len(rows))
	for i, r := range rows {
		out[i] = presence.Change{ID: r.ID, AgentID: r.AgentID, At: r.UpdatedAt}
	}
	return out, nextCursor(len(rows), limit, func() cursor { return lastChangeCursor(out) }), nil
}

// SpellsDeleted implements presence.SpellService.
func (db *DB) SpellsDeleted(ctx context.Context, w presence.Window) ([]presence.Change, string, error) {
	c, err := decodeCursor(w.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(w.Limit)
	afterAt, afterID := windowStart(c, w.Start)
	rows, err := db.q.SpellListDeleted(ctx, db.pool, dbsqlc.SpellListDeletedParams{
		StartAt: &w.Start, EndAt: &w.End, AfterAt: afterAt, AfterID: afterID, MaxRows: int32(limit)})
	if err != nil {
		return nil, "", interpretError(err)
	}
	out := make([]presence.Change, len(rows))
	for i, r := range rows {
		out[i] = presence.Change{ID: r.ID, AgentID: r.AgentID, At: r.DeletedAt}
	}
	return out, nextCursor(len(rows), limit, func() cursor { return lastChangeCursor(out) }), nil
}

func spellNotFound(id int64) error {
	return presence.ReasonErrorf(presence.ENOTFOUND, "spell_not_found", "Spell %d does not exist.", id)
}
