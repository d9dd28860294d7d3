package db_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"


	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

// explainPlan returns the JSON plan of sql run with args (EXPLAIN ANALYZE,
// BUFFERS) as text for substring checks, and the buffers its top node touched.
func explainPlan(t *testing.T, d *db.DB, sql string, args ...any) (plan string, buffers int64) {
	t.Helper()
	var raw []byte
	ok(t, d.Pool().QueryRow(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+sql, args...).Scan(&raw))
	var doc []struct {
		Plan map[string]any `json:"Plan"`
	}
	ok(t, json.Unmarshal(raw, &doc))
	hit, _ := doc[0].Plan["Shared Hit Blocks"].(float64)
	read, _ := doc[0].Plan["Shared Read Blocks"].(float64)
	return string(raw), int64(hit + read)
}

// report.spells computes the capacity figures of current spells only:
// closed spells carry theirs. It called report.capacity_figures once per
// row (600k calls for a one-day report).
func TestReportSpellsComputesOnlyCurrentFigures(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	for _, st := range []string{"available", "busy", "meal", "available", "busy"} {
		_, err := d.SetPresence(ctx, "a1", presence.PresenceChange{Status: st})
		ok(t, err)
	}
	tx, err := d.Pool().Begin(ctx)
	ok(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `SET LOCAL track_functions = 'all'`)
	ok(t, err)
	var n int
	ok(t, tx.QueryRow(ctx, `SELECT count(*) FROM report.spells WHERE agent_id = 'a1' AND idle_ms >= 0`).Scan(&n))
	if n != 5 {
		t.Fatalf("report.spells rows: %d", n)
	}
	var calls int64
	ok(t, tx.QueryRow(ctx, `SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions
		WHERE schemaname = 'report' AND funcname = 'capacity_figures'`).Scan(&calls))
	if calls != 1 {
		t.Fatalf("report.capacity_figures ran %d times for 4 closed spells and 1 current", calls)
	}
}

// The event log's head and the pruner's cut walk an index in position
// order instead of sorting the log (ORDER BY xid named the output alias
// xid::text::bigint); the cut finds the old events by events_at_idx.
func TestEventHeadAndCutPlans(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	_, err := d.Pool().Exec(ctx, `INSERT INTO events (topic, kind, at, body)
		SELECT 'agents.x.presence', 'presence', now() - (g || ' seconds')::interval, '{}'
		FROM generate_series(1, 20000) g;
		ANALYZE events`)
	ok(t, err)
	plan, _ := explainPlan(t, d, dbsqlc.EventHead)
	if strings.Contains(plan, `"Sort"`) || strings.Contains(plan, `"Seq Scan"`) {
		t.Fatalf("EventHead sorts or scans the log: %s", plan)
	}
	plan, _ = explainPlan(t, d, dbsqlc.EventPruneCut, time.Now().Add(-19990*time.Second))
	if !strings.Contains(plan, "events_at_idx") {
		t.Fatalf("EventPruneCut does not use events_at_idx: %s", plan)
	}
}

// /v1/spells/updated without a cursor starts its index walk at the window,
// not at 0001-01-01: far fewer buffers over a long history.
func TestSpellsUpdatedFirstPageStartsAtWindow(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	_, err := d.Pool().Exec(ctx, `INSERT INTO spells (agent_id, status_id, source, started_at, ended_at, updated_at)
		SELECT 'a1', 'busy', 'manual', t, t + interval '1 minute', t + interval '1 minute'
		FROM generate_series(timestamptz '2026-01-01', timestamptz '2026-01-01' + interval '29999 minutes', interval '1 minute') t;
		ANALYZE spells`)
	ok(t, err)
	start := time.Date(2026, 1, 21, 0, 0, 0, 0, time.UTC)
	end := start.Add(time.Hour)
	afterAt, afterID := db.WindowStart(db.EmptyCursor, start)
	plan, buffers := explainPlan(t, d, dbsqlc.SpellListUpdated, start, end, afterAt, afterID, int32(100))
	if buffers > 20 {
		t.Fatalf("first page of a 1-hour window touched %d buffers: %s", buffers, plan)
	}
	got, _, err := d.SpellsUpdated(ctx, presence.Window{Start: start, End: end, Limit: 100})
	ok(t, err)
	if len(got) != 60 {
		t.Fatalf("changes in the window: %d", len(got))
	}
}

// Every list shape of GET /v1/spells, repeated past the plan cache's
// switch to a generic plan on one connection, is planned per run: no
// named prepared statement of SpellList is left on the connection.
func TestSpellListNeverGeneric(t *testing.T) {
	t.Parallel()
	d := db.NewDB(dbtest.NewDatabase(t))
	d.MaxConns = 1
	ok(t, d.Open(ctx))
	defer d.Close()
	mustAgent(t, d, "a1")
	mustAgent(t, d, "a2")
	for _, st := range []string{"available", "meal", "busy"} {
		_, err := d.SetPresence(ctx, "a1", presence.PresenceChange{Status: st})
		ok(t, err)
		_, err = d.SetPresence(ctx, "a2", presence.PresenceChange{Status: st})
		ok(t, err)
	}
	from := time.Now().Add(-time.Hour)
	shapes := []presence.SpellFilter{
		{AgentID: "a1"},
		{CurrentOnly: true, StatusID: "busy"},
		{From: &from},
		{AgentID: "a2", From: &from},
		{},
	}
	for _, f := range shapes {
		for range 8 {
			_, _, err := d.FindSpells(ctx, f)
			ok(t, err)
		}
	}
	var n int
	ok(t, d.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%name: SpellList %' AND statement NOT LIKE '%pg_prepared_statements%'`).Scan(&n))
	if n != 0 {
		t.Fatalf("SpellList is a named prepared statement (%d), which turns generic after five runs", n)
	}
}
