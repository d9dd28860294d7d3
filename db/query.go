package db

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/clause"
)

var _ presence.QueryService = (*DB)(nil)

// The clause query is the one dynamic SQL of presenced: its WHERE clause has
// the shape of the client's expression. Package db/clause compiles it with
// every value, category and attribute name as a parameter; this file only
// wraps the compiled condition in fixed SQL and numbers its own parameters
// (cursor, limit) after the compiled ones. Its rows are whole rows of the
// view, read as every read of records is (db/presencerecord.go).
//
// One statement over the presence_records view in agent id order, stopped
// by LIMIT. Custom clauses at top level are EXISTS / NOT EXISTS, which
// PostgreSQL turns into semi- and anti-joins on the attributes table: with
// the indexes and statistics of migration 00005 it starts from the
// attribute's agents or walks agents in id order probing attributes_pkey,
// whichever its estimates favour, and evaluates the view for those agents
// only. (A hand-made plan — candidates from the index in chunks, the view
// evaluated per chunk — was measured against this and lost or tied on
// every query shape tried, including a stand-in for a sessions-derived
// view; see BenchmarkQueryPresence.)
//
// It runs in QueryExecModeExec: an unnamed statement, planned for the
// actual parameter values (a constant pattern lets LIKE 'abc%' use the
// index, a constant state can fold the view), and no entry in the
// connection's statement cache, which an endless variety of expression
// shapes would only churn.

// QueryPresence implements presence.QueryService.
func (db *DB) QueryPresence(ctx context.Context, q presence.PresenceQuery) ([]*presence.Record, string, error) {
	prog, err := clause.Compile(q)
	if err != nil {
		return nil, "", err
	}
	c, err := decodeCursor(q.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(q.Limit)
	n := len(prog.Args)
	sql := "SELECT r.* FROM presence_records r WHERE r.agent_deleted_at IS NULL AND r.agent_id > " + param(n+1, "text") +
		" AND (" + prog.Where + ") ORDER BY r.agent_id LIMIT " + param(n+2, "int")
	args := make([]any, 0, n+3)
	args = append(args, pgx.QueryExecModeExec)
	args = append(args, prog.Args...)
	rows, err := db.pool.Query(ctx, sql, append(args, c.ID, limit)...)
	if err != nil {
		return nil, "", interpretError(err)
	}
	out, err := collectRecords(rows)
	if err != nil {
		return nil, "", interpretError(err)
	}
	return out, nextCursor(len(out), limit, func() cursor { return cursor{ID: out[len(out)-1].AgentID} }), nil
}

func param(i int, cast string) string { return "$" + strconv.Itoa(i) + "::" + cast }
