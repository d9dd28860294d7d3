package db

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

// FindPresences implements presence.PresenceService.
//
// The whole floor is 10,000 rows, so this reads them without the
// generated PresenceList method (same SQL, dbsqlc.PresenceListSQL): that
// one grows a slice of row structs by copying (large slices grow by a
// quarter, so 10,000 rows are copied about five times over) and then
// copies each row into a record of its own: 17 MB, 130,000 allocations
// and 36 ms of CPU for 10,000 agents. Here records are allocated a chunk
// at a time, the text of few distinct values (status, state, source) is
// shared between rows, and the nullable columns point into the chunk:
// 5.5 MB, 20,000 allocations, 14 ms (3.5 ms of it reading the socket).
func (db *DB) FindPresences(ctx context.Context, f presence.PresenceFilter) ([]*presence.Record, string, error) {
	c, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
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
	rows, err := db.pool.Query(ctx, dbsqlc.PresenceListSQL, customPlanMode,
		agentIDs, statusID, state, c.ID, int32(limit))
	if err != nil {
		return nil, "", interpretError(err)
	}
	out, err := scanRecords(rows, limit)
	if err != nil {
		return nil, "", interpretError(err)
	}
	return out, nextCursor(len(out), limit, func() cursor { return cursor{ID: out[len(out)-1].AgentID} }), nil
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
	rec     presence.Record
	since   pgtype.Timestamptz
	spellID pgtype.Int8
	source  string
	reason  string
}

// recordChunk is how many records are allocated together: a page of the
// default size in one, the whole floor in ten, and never more than one
// chunk's worth unused.
const recordChunk = 1000

// scanRecords reads the rows of PresenceList (its column order) into
// records and closes rows.
func scanRecords(rows pgx.Rows, limit int) ([]*presence.Record, error) {
	defer rows.Close()
	out := make([]*presence.Record, 0, min(limit, recordChunk))
	var chunk []recordSlot
	texts := textTable{}
	status, label, system, st, routing := sharedText{t: texts}, sharedText{t: texts}, sharedText{t: texts},
		sharedText{t: texts}, sharedText{t: texts}
	reason, source := sharedText{t: texts}, sharedText{t: texts}
	for rows.Next() {
		if len(chunk) == 0 {
			chunk = make([]recordSlot, min(limit-len(out), recordChunk))
		}
		s := &chunk[0]
		chunk = chunk[1:]
		r := &s.rec
		if err := rows.Scan(&r.AgentID, &status, &label, &system, &r.Status.IsAway, &st, &routing,
			&r.Message, &reason, &source, &s.since, &s.spellID,
			&r.Capacity.Configured, &r.Capacity.InUse, &r.Queues); err != nil {
			return nil, err
		}
		r.Status.ID, r.Status.Label, r.Status.SystemPresence = status.s, label.s, system.s
		r.State, r.RoutingStatus = st.s, routing.s
		if reason.valid {
			s.reason = reason.s
			r.ReasonCode = &s.reason
		}
		if source.valid {
			s.source = source.s
			r.Source = &s.source
		}
		if s.since.Valid {
			r.Since = &s.since.Time
		}
		if s.spellID.Valid {
			r.SpellID = &s.spellID.Int64
		}
		if r.Queues == nil {
			r.Queues = []string{}
		}
		out = append(out, r)
	}
	return out, rows.Err()
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
