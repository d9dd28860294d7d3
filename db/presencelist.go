package db

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

// EachPresence implements presence.PresenceService.
//
// The whole floor is 10,000 rows, so this reads them without the
// generated PresenceList method (same SQL, dbsqlc.PresenceList): that
// one grows a slice of row structs by copying (large slices grow by a
// quarter, so 10,000 rows are copied about five times over) and then
// FindPresences copied each row into a record of its own: 17 MB, 130,000
// allocations and 36 ms of CPU for 10,000 agents. Here every row is
// scanned into the same record, and the text of few distinct values
// (status, state, source) is shared between rows: 10,000 allocations
// (the agent ids), 7.5 ms of CPU, 3 of it reading the socket. Garbage
// matters beyond its own cost: with records kept (5.5 MB a read) the
// wall time of a read on the busy 2-core machine was twice that of the
// same rows scanned this way, the difference being the garbage
// collector's cycles competing with PostgreSQL for the cores.
func (db *DB) EachPresence(ctx context.Context, f presence.PresenceFilter, fn func(*presence.Record) error) (string, error) {
	c, err := decodeCursor(f.Cursor)
	if err != nil {
		return "", err
	}
	limit := pageLimit(f.Limit)
	if f.Limit > presence.MaxPageSize {
		limit = min(f.Limit, presence.MaxBulkPresence)
	}
	var agentIDs []string
	if len(f.AgentIDs) > 0 {
		agentIDs = f.AgentIDs
	}
	var statusID, state *string
	if f.Status != "" {
		statusID = &f.Status
	}
	if f.State != "" {
		state = &f.State
	}
	// Arguments in the order of queries/presence.sql (PresenceListParams).
	rows, err := db.pool.Query(ctx, dbsqlc.PresenceList, customPlanMode,
		agentIDs, statusID, state, c.ID, int32(limit))
	if err != nil {
		return "", interpretError(err)
	}
	n, last, err := scanRecords(rows, fn)
	if err != nil {
		return "", interpretError(err)
	}
	return nextCursor(n, limit, func() cursor { return cursor{ID: last} }), nil
}

// FindPresences implements presence.PresenceService: EachPresence, with
// each record copied into storage of its own, a chunk at a time.
func (db *DB) FindPresences(ctx context.Context, f presence.PresenceFilter) ([]*presence.Record, string, error) {
	out := []*presence.Record{}
	var chunk []recordSlot
	next, err := db.EachPresence(ctx, f, func(r *presence.Record) error {
		if len(chunk) == 0 {
			chunk = make([]recordSlot, recordChunk)
		}
		s := &chunk[0]
		chunk = chunk[1:]
		s.rec = *r
		if r.Message != nil {
			s.message = *r.Message
			s.rec.Message = &s.message
		}
		if r.ReasonCode != nil {
			s.reason = *r.ReasonCode
			s.rec.ReasonCode = &s.reason
		}
		if r.Source != nil {
			s.source = *r.Source
			s.rec.Source = &s.source
		}
		if r.Since != nil {
			s.since = *r.Since
			s.rec.Since = &s.since
		}
		if r.SpellID != nil {
			s.spellID = *r.SpellID
			s.rec.SpellID = &s.spellID
		}
		out = append(out, &s.rec)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// customPlanMode runs the bulk read as pgx's unnamed statement (the
// description is still cached, so rows stay binary and it is still one
// round trip), so that PostgreSQL plans each run for its own parameters.
//
// Why: PresenceList is one statement for every filter ("$1 IS NULL OR
// ..."). Under pgx's default statement cache it is a named prepared
// statement, and from its sixth run on PostgreSQL uses a generic plan,
// which cannot know that no filter is set nor how many rows LIMIT lets
// through: it estimated 20 rows for the whole floor and chose nested loops
// over agents_pkey, spells_current_idx and agent_states_pkey (60,000
// buffer hits, 33 ms for 10,000 agents) where the custom plan hashes three
// sequential scans and sorts (377 buffer hits, 13 ms). Planning again
// costs 0.6 ms a run. (A merge join over the three primary keys avoids
// the sort, and was faster with agents stored in id order, but not once
// their rows lie in random order, as inserts over time leave them; of the
// backend's 18 ms of CPU a whole-floor read, two thirds go to carrying
// and sending the 15 columns, a third to the joins.)
const customPlanMode = pgx.QueryExecModeCacheDescribe

// recordSlot is a record and the values its pointer fields point to.
type recordSlot struct {
	rec                     presence.Record
	message, reason, source string
	since                   time.Time
	spellID                 int64
}

// recordChunk is how many records FindPresences allocates together.
const recordChunk = 100

// scanRecords hands the rows of PresenceList (its column order) to fn,
// one reused record after the other, and closes rows. It returns how
// many there were and the last agent id.
func scanRecords(rows pgx.Rows, fn func(*presence.Record) error) (n int, last string, err error) {
	defer rows.Close()
	texts := textTable{}
	status, label, system, st, routing := sharedText{t: texts}, sharedText{t: texts}, sharedText{t: texts},
		sharedText{t: texts}, sharedText{t: texts}
	message, reason, source := sharedText{t: texts}, sharedText{t: texts}, sharedText{t: texts}
	var since pgtype.Timestamptz
	var spellID pgtype.Int8
	var r presence.Record
	// Made once: Scan's variadic arguments would be a new slice a row.
	dest := []any{&r.AgentID, &status, &label, &system, &r.Status.IsAway, &st, &routing,
		&message, &reason, &source, &since, &spellID,
		&r.Capacity.Configured, &r.Capacity.InUse, &r.Queues}
	for rows.Next() {
		r = presence.Record{}
		if err := rows.Scan(dest...); err != nil {
			return 0, "", err
		}
		r.Status.ID, r.Status.Label, r.Status.SystemPresence = status.s, label.s, system.s
		r.State, r.RoutingStatus = st.s, routing.s
		if message.valid {
			r.Message = &message.s
		}
		if reason.valid {
			r.ReasonCode = &reason.s
		}
		if source.valid {
			r.Source = &source.s
		}
		if since.Valid {
			r.Since = &since.Time
		}
		if spellID.Valid {
			r.SpellID = &spellID.Int64
		}
		if r.Queues == nil {
			r.Queues = []string{}
		}
		if err := fn(&r); err != nil {
			return 0, "", err
		}
		n++
		last = r.AgentID
	}
	return n, last, rows.Err()
}

// textTable holds the strings already made from the text of one read.
type textTable map[string]string

// maxSharedTexts bounds a textTable: a column that turns out to hold many
// distinct values simply stops being shared.
const maxSharedTexts = 256

// sharedText scans a text column of few distinct values into a string
// that rows with the same text share (pgtype.BytesScanner: the bytes are
// the driver's, valid only during the call).
type sharedText struct {
	t     textTable
	s     string
	valid bool
}

func (x *sharedText) ScanBytes(b []byte) error {
	x.valid = b != nil
	if !x.valid {
		x.s = ""
		return nil
	}
	if s, ok := x.t[string(b)]; ok {
		x.s = s
		return nil
	}
	x.s = string(b)
	if len(x.t) < maxSharedTexts {
		x.t[x.s] = x.s
	}
	return nil
}
