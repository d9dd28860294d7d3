package db

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
	"github.com/presenced/presenced/query"
)

var _ presence.QueryService = (*DB)(nil)

// The clause query is the one dynamic SQL of presenced: its WHERE clause has
// the shape of the client's expression. Package query compiles it with
// every value, category and attribute name as a parameter; this file only
// wraps the compiled condition in fixed SQL and numbers its own parameters
// after the compiled ones.
//
// Two plans, chosen by the shape of the expression:
//
//   - With a driver (a top-level, non-negated custom clause that the search
//     index answers, e.g. B in "A AND B AND C"), candidates come from the
//     index in agent id order, a chunk at a time, already filtered by every
//     other top-level conjunct that needs the attributes table only (C),
//     and the presence_records view is evaluated only for them
//     (r.agent_id = ANY(chunk)), until the page is full. When several
//     clauses could drive, a capped count in each one's index range picks
//     the rarest. The view is the expensive part (it derives state,
//     routing and queues for each agent it touches), so the cost follows
//     the candidates examined, never the number of agents. A single
//     statement with EXISTS leaves that choice to the planner, which
//     misjudges the selectivity of the view's derived columns and, for
//     ORDER BY … LIMIT, tends to walk every agent in id order: fine while
//     matches are dense, a full scan of the view when they are sparse.
//   - Without one (only standard attributes, or only negated or OR-ed
//     custom clauses) nothing narrows the agents up front; one statement
//     over the view in agent id order, stopped by LIMIT.
//
// Both run in QueryExecModeExec: an unnamed statement, planned for the
// actual parameter values (so LIKE 'abc%' can use the index), and no
// entry in the connection's statement cache, which an endless variety of
// expression shapes would only churn.

const (
	// firstChunk candidates are examined first (at least twice the page).
	// Later chunks are sized from the share of candidates that matched so
	// far, with a margin, or grow fourfold while none has; always within
	// maxChunk. Dense matches cost one small round, sparse ones a few
	// rounds of growing size, and no round overshoots the page by much.
	firstChunk = 256
	maxChunk   = 16384
)

// nextChunk returns the size of the next round after examined candidates
// gave matched records, need more being wanted.
func nextChunk(examined, matched, need int) int {
	if matched == 0 {
		return min(examined*4, maxChunk)
	}
	n := need*examined/matched + need/2 + 16
	return min(max(n, firstChunk), maxChunk)
}

// QueryPresence implements presence.QueryService.
func (db *DB) QueryPresence(ctx context.Context, q presence.PresenceQuery) ([]*presence.Record, string, error) {
	prog, err := query.Compile(q)
	if err != nil {
		return nil, "", err
	}
	c, err := decodeCursor(q.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(q.Limit)
	var rows []dbsqlc.PresenceRecord
	if prog.Driver == nil {
		rows, err = db.queryScan(ctx, db.pool, prog, c.ID, limit)
	} else {
		// Several statements: one snapshot, so the page is as of one
		// moment like any single read.
		err = db.inReadTx(ctx, func(tx pgx.Tx) error {
			rows, err = db.queryDriven(ctx, tx, prog, c.ID, limit)
			return err
		})
	}
	if err != nil {
		return nil, "", interpretError(err)
	}
	out := make([]*presence.Record, len(rows))
	for i, r := range rows {
		out[i] = recordFromRow(r)
	}
	return out, nextCursor(len(out), limit, func() cursor { return cursor{ID: out[len(out)-1].AgentID} }), nil
}

// queryScan evaluates the expression over the view in agent id order.
func (db *DB) queryScan(ctx context.Context, q dbsqlc.DBTX, prog *query.Program, after string, limit int) ([]dbsqlc.PresenceRecord, error) {
	n := len(prog.Args)
	sql := "SELECT r.* FROM presence_records r WHERE r.agent_deleted_at IS NULL AND r.agent_id > " + param(n+1, "text") +
		" AND (" + prog.Where + ") ORDER BY r.agent_id LIMIT " + param(n+2, "int")
	return collectRecords(ctx, q, sql, execArgs(prog.Args, after, limit))
}

// probeCap bounds the rows counted per possible driver: enough to tell a
// rare value from a common one, cheap (an index-only range) either way.
const probeCap = 2000

// pickDriver returns the driver with the fewest rows when the expression
// allows several ("team = X AND language = French": the team is rarer,
// though both are eq), counting each up to probeCap in its index range.
func pickDriver(ctx context.Context, tx pgx.Tx, prog *query.Program) (*query.Driver, error) {
	best := prog.Driver
	if len(prog.Alternatives) == 0 {
		return best, nil
	}
	bestN := int64(-1)
	for _, d := range append([]*query.Driver{prog.Driver}, prog.Alternatives...) {
		var n int64
		err := tx.QueryRow(ctx, "SELECT count(*) FROM (SELECT FROM attributes c WHERE "+d.Where+
			" LIMIT "+param(d.WhereArgs+1, "int")+") s", execArgs(d.Args[:d.WhereArgs], probeCap)...).Scan(&n)
		if err != nil {
			return nil, err
		}
		if bestN < 0 || n < bestN {
			best, bestN = d, n
		}
	}
	return best, nil
}

// queryDriven examines the driver's candidates chunk by chunk.
func (db *DB) queryDriven(ctx context.Context, tx pgx.Tx, prog *query.Program, after string, limit int) ([]dbsqlc.PresenceRecord, error) {
	d, err := pickDriver(ctx, tx, prog)
	if err != nil {
		return nil, err
	}
	n := len(prog.Args)
	// The conditions are wrapped in a scalar (SELECT …): PostgreSQL then
	// evaluates them row by row, one attributes_pkey probe per custom
	// clause, instead of turning each EXISTS into a join with every row of
	// that attribute. A join would be a fine plan for a whole table; for a
	// chunk that the LIMIT may cut short it was a hash of up to 100,000
	// rows per round, or a merge join that reads the attribute from the
	// first agent on, whatever the cursor.
	filter := ""
	if d.Filter != "" {
		filter = " AND (SELECT " + d.Filter + ")"
	}
	candidates := "SELECT c.agent_id FROM attributes c WHERE " + d.Where + filter +
		" AND c.agent_id > " + param(len(d.Args)+1, "text") +
		" ORDER BY c.agent_id LIMIT " + param(len(d.Args)+2, "int")
	evaluate := "SELECT r.* FROM presence_records r WHERE r.agent_id = ANY (" + param(n+1, "text[]") + ")" +
		" AND r.agent_deleted_at IS NULL AND (SELECT " + prog.Where + ") ORDER BY r.agent_id LIMIT " + param(n+2, "int")

	var out []dbsqlc.PresenceRecord
	examined := 0
	for chunk := max(firstChunk, 2*limit); ; {
		rows, err := tx.Query(ctx, candidates, execArgs(d.Args, after, chunk)...)
		if err != nil {
			return nil, err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(ids) == 0 {
			return out, err
		}
		recs, err := collectRecords(ctx, tx, evaluate, execArgs(prog.Args, ids, limit-len(out)))
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
		if len(out) >= limit || len(ids) < chunk {
			return out, nil
		}
		examined += len(ids)
		after = ids[len(ids)-1]
		chunk = nextChunk(examined, len(out), limit-len(out))
	}
}

func collectRecords(ctx context.Context, q dbsqlc.DBTX, sql string, args []any) ([]dbsqlc.PresenceRecord, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[dbsqlc.PresenceRecord])
}

// execArgs returns the query arguments: the exec mode, the compiled
// parameters, then ours, in a new slice (the compiled ones are shared by
// every round).
func execArgs(compiled []any, ours ...any) []any {
	out := make([]any, 0, 1+len(compiled)+len(ours))
	out = append(out, pgx.QueryExecModeExec)
	out = append(out, compiled...)
	return append(out, ours...)
}

func param(i int, cast string) string { return "$" + strconv.Itoa(i) + "::" + cast }

// inReadTx runs fn in a read-only transaction on one snapshot.
func (db *DB) inReadTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return interpretError(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := fn(tx); err != nil {
		return interpretError(err)
	}
	return interpretError(tx.Commit(ctx))
}
