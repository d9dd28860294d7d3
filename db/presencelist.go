package db

import (
	"context"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

// EachPresence implements presence.PresenceService.
//
// The whole floor is 10,000 rows, so this reads them without the
// generated PresenceList method (same SQL, dbsqlc.PresenceList), which
// would grow a slice of row structs by copying; every row is scanned into
// the same record instead (eachRecord), which the HTTP handler encodes
// before the next row is read. Garbage matters beyond its own cost: on a
// busy machine the garbage collector's cycles compete with PostgreSQL for
// the cores (figures in docs/performance.md, "Reads").
func (db *DB) EachPresence(ctx context.Context, f presence.PresenceFilter, fn func(*presence.Record) error) (string, error) {
	return db.eachPresence(ctx, f, false, fn)
}

// FindPresences implements presence.PresenceService: EachPresence, with
// each record of its own.
func (db *DB) FindPresences(ctx context.Context, f presence.PresenceFilter) ([]*presence.Record, string, error) {
	out := []*presence.Record{}
	next, err := db.eachPresence(ctx, f, true, func(r *presence.Record) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// eachPresence runs the bulk read; keep is eachRecord's.
func (db *DB) eachPresence(ctx context.Context, f presence.PresenceFilter, keep bool, fn func(*presence.Record) error) (string, error) {
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
	n, last := 0, ""
	err = eachRecord(rows, keep, func(r *presence.Record) error {
		n++
		last = r.AgentID
		return fn(r)
	})
	if err != nil {
		return "", interpretError(err)
	}
	return nextCursor(n, limit, func() cursor { return cursor{ID: last} }), nil
}

// customPlanMode runs the bulk read as pgx's unnamed statement (the
// description is still cached, so rows stay binary and it is still one
// round trip), so that PostgreSQL plans each run for its own parameters.
//
// Why: PresenceList is one statement for every filter ("$1 IS NULL OR
// ..."). Under pgx's default statement cache it is a named prepared
// statement, and from its sixth run on PostgreSQL uses a generic plan,
// which cannot know that no filter is set nor how many rows LIMIT lets
// through: it estimates a few rows for the whole floor and walks three
// indexes in nested loops, where the custom plan hashes three sequential
// scans and sorts, in well under half the time; planning again costs a
// fraction of a millisecond. (A merge join over the three primary keys
// avoids the sort, and was faster with agents stored in id order, but not
// once their rows lie in random order, as inserts over time leave them.)
// Figures in docs/performance.md, "Reads"; TestFindPresencesNeverGenericPlan
// holds this.
const customPlanMode = pgx.QueryExecModeCacheDescribe
