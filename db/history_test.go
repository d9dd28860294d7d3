package db_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
	// Not parallel: its seeding transaction would hold back the event
	// readers of the parallel tests (they read below the oldest running xid).
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
	// Not parallel: its seeding transaction would hold back the event
	// readers of the parallel tests (they read below the oldest running xid).
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	// Without the triggers (a long transaction here would hold back the
	// event readers of every other test on the cluster), contiguous by
	// construction.
	_, err := d.Pool().Exec(ctx, `BEGIN;
		SET LOCAL session_replication_role = replica;
		INSERT INTO spells (agent_id, status_id, source, started_at, ended_at, updated_at,
		                    configured_capacity, configured_interrupt_capacity)
		SELECT 'a1', 'busy', 'manual', t, t + interval '1 minute', t + interval '1 minute', 1, 0
		FROM generate_series(timestamptz '2026-01-01', timestamptz '2026-01-01' + interval '9999 minutes', interval '1 minute') t;
		COMMIT;
		ANALYZE spells`)
	ok(t, err)
	start := time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)
	end := start.Add(time.Hour)
	afterAt, afterID := db.WindowStart(db.EmptyCursor, start)
	plan, buffers := explainPlan(t, d, dbsqlc.SpellListUpdated, start, end, afterAt, afterID, int32(100))
	if buffers > 12 {
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
	ok(t, d.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_prepared_statements WHERE (statement LIKE '%name: SpellList %' OR statement LIKE '%name: SpellListAll %') AND statement NOT LIKE '%pg_prepared_statements%'`).Scan(&n))
	if n != 0 {
		t.Fatalf("SpellList is a named prepared statement (%d), which turns generic after five runs", n)
	}
}

// A database with history migrates to partitioned spells: ids, rows and
// the current spells are kept, the long spells are listed, and new spells
// continue the ids. Then back down and up again with the rows.
func TestSpellsPartitionMigrationKeepsRows(t *testing.T) {
	// Not parallel: its seeding transaction would hold back the event
	// readers of the parallel tests (they read below the oldest running xid).
	d := dbtest.MustOpenDB(t)
	m, err := d.NewMigrator()
	ok(t, err)
	defer m.Close()
	// Down to 00011: spells is one plain table again.
	for {
		var partitioned bool
		ok(t, d.Pool().QueryRow(ctx, `SELECT to_regclass('spells_long') IS NOT NULL`).Scan(&partitioned))
		if !partitioned {
			break
		}
		_, err = m.Down(ctx)
		ok(t, err)
	}
	mustAgent(t, d, "a1")
	mustAgent(t, d, "a2")
	_, err = d.Pool().Exec(ctx, `INSERT INTO spells (agent_id, status_id, source, started_at, ended_at) VALUES
		('a1', 'offline', 'manual', '2025-10-30 18:00Z', '2025-11-03 08:00Z'),
		('a1', 'busy',    'manual', '2025-11-03 08:00Z', '2025-11-03 09:00Z'),
		('a1', 'meal',    'manual', '2025-11-03 09:00Z', NULL),
		('a2', 'busy',    'manual', '2025-12-31 23:00Z', NULL)`)
	ok(t, err)
	var before []int64
	ok(t, pgxCollect(d, `SELECT id FROM spells ORDER BY id`, &before))
	_, err = m.Up(ctx)
	ok(t, err)
	var after []int64
	ok(t, pgxCollect(d, `SELECT id FROM spells ORDER BY id`, &after))
	if len(after) != 4 || after[3] != before[3] {
		t.Fatalf("ids before %v, after %v", before, after)
	}
	var parts, long int
	ok(t, d.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'spells'::regclass`).Scan(&parts))
	ok(t, d.Pool().QueryRow(ctx, `SELECT count(*) FROM spells_long`).Scan(&long))
	if parts < 4 || long != 1 {
		t.Fatalf("partitions %d, long spells %d", parts, long)
	}
	r, err := d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "available"})
	ok(t, err)
	if *r.SpellID <= before[3] {
		t.Fatalf("new spell id %d after %v", *r.SpellID, before)
	}
	// The closed meal spell (November 2025 to now) is long now.
	ok(t, d.Pool().QueryRow(ctx, `SELECT count(*) FROM spells_long`).Scan(&long))
	if long != 2 {
		t.Fatalf("long spells after closing a month-long one: %d", long)
	}
}

// The no-overlap and one-current invariants hold across monthly
// partitions, and concurrent writers of one agent in different months
// cannot both win.
func TestSpellInvariantsAcrossMonths(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	_, err := d.Pool().Exec(ctx, `SELECT spells_partitions_ensure('2026-01-01Z', '2026-04-01Z')`)
	ok(t, err)
	exec := func(sql string) error { _, err := d.Pool().Exec(ctx, sql); return err }
	// Jan 31 22:00 to Feb 1 02:00 lies in January's partition.
	ok(t, exec(`INSERT INTO spells (agent_id, status_id, source, started_at, ended_at)
		VALUES ('a1', 'busy', 'manual', '2026-01-31 22:00Z', '2026-02-01 02:00Z')`))
	for name, sql := range map[string]string{
		"next month, within the look-back": `INSERT INTO spells (agent_id, status_id, source, started_at, ended_at)
			VALUES ('a1', 'away', 'manual', '2026-02-01 01:00Z', '2026-02-01 03:00Z')`,
		"earlier month, reaching into the later one": `INSERT INTO spells (agent_id, status_id, source, started_at, ended_at)
			VALUES ('a1', 'away', 'manual', '2026-01-10 00:00Z', '2026-03-01 00:00Z')`,
	} {
		if err := exec(sql); sqlState(err) != "23P01" {
			t.Errorf("%s: %v, want 23P01", name, err)
		}
	}
	// A long spell (a week) from January, then a spell inside it in March.
	ok(t, exec(`INSERT INTO spells (agent_id, status_id, source, started_at, ended_at)
		VALUES ('a1', 'offline', 'manual', '2026-02-25 00:00Z', '2026-03-04 00:00Z')`))
	if err := exec(`INSERT INTO spells (agent_id, status_id, source, started_at, ended_at)
		VALUES ('a1', 'away', 'manual', '2026-03-03 00:00Z', '2026-03-03 01:00Z')`); sqlState(err) != "23P01" {
		t.Errorf("inside a long spell of the month before: %v, want 23P01", err)
	}
	// A current spell from January, then a second current one in March.
	ok(t, exec(`INSERT INTO spells (agent_id, status_id, source, started_at) VALUES ('a1', 'meal', 'manual', '2026-03-10 00:00Z')`))
	if err := exec(`INSERT INTO spells (agent_id, status_id, source, started_at) VALUES ('a1', 'away', 'manual', '2026-04-02 00:00Z')`); sqlState(err) != "23P01" {
		t.Errorf("second current spell in a later month: %v, want 23P01", err)
	}
	// Touching across the month edge is fine; a soft-deleted spell leaves
	// the timeline and restoring it re-checks.
	ok(t, exec(`INSERT INTO spells (agent_id, status_id, source, started_at, ended_at)
		VALUES ('a1', 'away', 'manual', '2026-02-01 02:00Z', '2026-02-01 03:00Z')`))
	ok(t, exec(`UPDATE spells SET deleted_at = now() WHERE started_at = '2026-02-01 02:00Z'`))
	ok(t, exec(`INSERT INTO spells (agent_id, status_id, source, started_at, ended_at)
		VALUES ('a1', 'break', 'manual', '2026-02-01 02:30Z', '2026-02-01 03:00Z')`))
	if err := exec(`UPDATE spells SET deleted_at = NULL WHERE status_id = 'away' AND started_at = '2026-02-01 02:00Z'`); sqlState(err) != "23P01" {
		t.Errorf("restoring an overlapped spell: %v, want 23P01", err)
	}

	// Two writers of one agent, each in its own month, at the same time:
	// the agent lock serialises the checks, so exactly one commits.
	mustAgent(t, d, "a2")
	raceOverlappingWriters(t, d, "READ COMMITTED", "a2", [2]string{"2026-01-31 12:00Z", "2026-02-02 12:00Z"}, "2026-02-03 00:00Z")
}

// raceOverlappingWriters has two transactions at level insert a closed
// spell of agent, from each start to end, at the same time, five times
// over (the agent's closed spells deleted before each round), and fails t
// unless exactly one of each pair commits. The other must fail with an
// exclusion violation, or at SERIALIZABLE a serialization failure.
func raceOverlappingWriters(t *testing.T, d *db.DB, level, agent string, starts [2]string, end string) {
	t.Helper()
	for range 5 {
		_, err := d.Pool().Exec(ctx, `UPDATE spells SET deleted_at = now()
			WHERE agent_id = $1 AND ended_at IS NOT NULL AND deleted_at IS NULL`, agent)
		ok(t, err)
		errs := make(chan error, 2)
		var wg sync.WaitGroup
		for _, start := range starts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tx, err := d.Pool().Begin(ctx)
				if err != nil {
					errs <- err
					return
				}
				defer tx.Rollback(ctx)
				if _, err := tx.Exec(ctx, "SET TRANSACTION ISOLATION LEVEL "+level); err != nil {
					errs <- err
					return
				}
				if _, err := tx.Exec(ctx, `INSERT INTO spells (agent_id, status_id, source, started_at, ended_at)
					VALUES ($1, 'busy', 'manual', $2, $3)`, agent, start, end); err != nil {
					errs <- err
					return
				}
				time.Sleep(20 * time.Millisecond)
				errs <- tx.Commit(ctx)
			}()
		}
		wg.Wait()
		close(errs)
		failed := 0
		for err := range errs {
			if err == nil {
				continue
			}
			if c := sqlState(err); c != "23P01" && !(c == "40001" && level == "SERIALIZABLE") {
				t.Fatalf("%s: concurrent writer: %v", level, err)
			}
			failed++
		}
		if failed != 1 {
			t.Fatalf("%s: %d of 2 concurrent overlapping writers failed, want 1", level, failed)
		}
	}
}

// Within a month, the overlap trigger (migrations/00023, in place of a GiST
// exclusion constraint) refuses what the constraint refused and nothing
// more: empty spells overlap nothing, even lying inside another spell,
// and do not hide the spell around them; a deleted spell is out of the
// timeline. Concurrent writers of one agent in one month cannot both win,
// at READ COMMITTED or SERIALIZABLE; at REPEATABLE READ, where the check
// would not see a concurrent writer, a spell that needs it is refused.
func TestSpellInvariantsWithinAMonth(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	_, err := d.Pool().Exec(ctx, `SELECT spells_partitions_ensure('2026-01-01Z', '2026-02-01Z')`)
	ok(t, err)
	exec := func(sql string) error { _, err := d.Pool().Exec(ctx, sql); return err }
	insert := func(agent, from, to string) error {
		return exec(fmt.Sprintf(`INSERT INTO spells (agent_id, status_id, source, started_at, ended_at)
			VALUES ('%s', 'busy', 'manual', '%s', '%s')`, agent, from, to))
	}
	ok(t, insert("a1", "2026-01-10 10:00Z", "2026-01-10 12:00Z"))
	// An empty spell inside it, and another at its end: they overlap nothing.
	ok(t, insert("a1", "2026-01-10 11:00Z", "2026-01-10 11:00Z"))
	ok(t, insert("a1", "2026-01-10 12:00Z", "2026-01-10 12:00Z"))
	for name, span := range map[string][2]string{
		"inside, after the empty spell in it": {"2026-01-10 11:30Z", "2026-01-10 11:45Z"},
		"reaching into it from before":        {"2026-01-10 09:00Z", "2026-01-10 10:01Z"},
		"around it":                           {"2026-01-10 09:00Z", "2026-01-10 13:00Z"},
		"the same":                            {"2026-01-10 10:00Z", "2026-01-10 12:00Z"},
	} {
		if err := insert("a1", span[0], span[1]); sqlState(err) != "23P01" {
			t.Errorf("%s: %v, want 23P01", name, err)
		}
	}
	// Touching on either side is fine.
	ok(t, insert("a1", "2026-01-10 09:00Z", "2026-01-10 10:00Z"))
	ok(t, insert("a1", "2026-01-10 12:00Z", "2026-01-10 13:00Z"))
	// Growing a spell into its neighbour is refused; a deleted spell leaves
	// the timeline, and restoring it re-checks.
	if err := exec(`UPDATE spells SET ended_at = '2026-01-10 12:30Z'
		WHERE agent_id = 'a1' AND started_at = '2026-01-10 10:00Z'`); sqlState(err) != "23P01" {
		t.Errorf("growing into the next spell: %v, want 23P01", err)
	}
	ok(t, exec(`UPDATE spells SET deleted_at = now() WHERE agent_id = 'a1' AND started_at = '2026-01-10 12:00Z' AND ended_at > started_at`))
	ok(t, exec(`UPDATE spells SET ended_at = '2026-01-10 12:30Z'
		WHERE agent_id = 'a1' AND started_at = '2026-01-10 10:00Z'`))
	if err := exec(`UPDATE spells SET deleted_at = NULL WHERE agent_id = 'a1' AND started_at = '2026-01-10 12:00Z' AND ended_at > started_at`); sqlState(err) != "23P01" {
		t.Errorf("restoring an overlapped spell: %v, want 23P01", err)
	}

	// A spell moved to another agent is checked against that agent's.
	mustAgent(t, d, "a2")
	ok(t, insert("a2", "2026-01-10 11:30Z", "2026-01-10 11:40Z"))
	if err := exec(`UPDATE spells SET agent_id = 'a1' WHERE agent_id = 'a2' AND started_at = '2026-01-10 11:30Z'`); sqlState(err) != "23P01" {
		t.Errorf("moving a spell onto another agent's: %v, want 23P01", err)
	}
	ok(t, exec(`DELETE FROM spells WHERE agent_id = 'a2' AND started_at = '2026-01-10 11:30Z'`))

	// Two writers of one agent in one month at the same time: exactly one
	// commits, at READ COMMITTED and at SERIALIZABLE.
	for _, level := range []string{"READ COMMITTED", "SERIALIZABLE"} {
		raceOverlappingWriters(t, d, level, "a2", [2]string{"2026-01-20 12:00Z", "2026-01-21 12:00Z"}, "2026-01-22 00:00Z")
	}

	// REPEATABLE READ: a new spell is refused, closing one is not.
	inRepeatableRead := func(sql string) error {
		tx, err := d.Pool().Begin(ctx)
		ok(t, err)
		defer tx.Rollback(ctx)
		_, err = tx.Exec(ctx, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
		ok(t, err)
		if _, err := tx.Exec(ctx, sql); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	if err := inRepeatableRead(`INSERT INTO spells (agent_id, status_id, source, started_at, ended_at)
		VALUES ('a2', 'busy', 'manual', '2026-01-25 00:00Z', '2026-01-25 01:00Z')`); sqlState(err) != "0A000" {
		t.Errorf("new spell at REPEATABLE READ: %v, want 0A000", err)
	}
	ok(t, inRepeatableRead(`UPDATE spells SET ended_at = now() WHERE agent_id = 'a2' AND ended_at IS NULL`))
}

// A database whose sessions default to REPEATABLE READ, where the overlap
// trigger refuses every new spell, is refused at start with the reason,
// rather than at every presence change.
func TestOpenRefusesRepeatableReadByDefault(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	pool := dbtest.MustOpenPool(t, url)
	setDefault := func(level string) {
		t.Helper()
		var name string
		ok(t, pool.QueryRow(ctx, "SELECT current_database()").Scan(&name))
		_, err := pool.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" SET default_transaction_isolation = '"+level+"'")
		ok(t, err)
	}
	setDefault("repeatable read")
	d := db.NewDB(url)
	err := d.Open(ctx)
	if err == nil {
		d.Close()
		t.Fatal("opened a database whose default is repeatable read")
	}
	if !strings.Contains(err.Error(), "repeatable read") {
		t.Errorf("error does not name the setting: %v", err)
	}
	setDefault("serializable")
	d = db.NewDB(url)
	ok(t, d.Open(ctx))
	ok(t, d.Close())
}

func pgxCollect(d *db.DB, sql string, out *[]int64) error {
	rows, err := d.Pool().Query(ctx, sql)
	if err != nil {
		return err
	}
	*out, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	return err
}

// The history duty rolls up ended days (and again after an edit), and with
// a retention exports a month to CSV and drops its partition, keeping its
// rollups.
func TestHistoryKeeperRollsUpExportsAndDrops(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	_, err := d.Pool().Exec(ctx, `SELECT spells_partitions_ensure('2026-01-01Z', '2026-02-01Z');
		INSERT INTO spells (agent_id, status_id, source, started_at, ended_at) VALUES
		('a1', 'busy',      'manual', '2026-01-10 10:00Z', '2026-01-10 12:00Z'),
		('a1', 'available', 'manual', '2026-01-10 23:00Z', '2026-01-11 01:00Z')`)
	ok(t, err)
	k := db.NewHistoryKeeper(d, 0, "")
	ok(t, k.Round(ctx, time.Date(2026, 1, 12, 0, 5, 0, 0, time.UTC)))
	type row struct {
		Day     time.Time
		Status  string
		Seconds float64
		Spells  int
		IdleMS  int64
	}
	daily := func() []row {
		rows, err := d.Pool().Query(ctx, `SELECT day, status_id, seconds, spells, idle_ms FROM report.daily_status
			WHERE agent_id = 'a1' ORDER BY day, status_id`)
		ok(t, err)
		got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
		ok(t, err)
		return got
	}
	jan := func(day int) time.Time { return time.Date(2026, 1, day, 0, 0, 0, 0, time.UTC) }
	want := []row{
		{jan(10), "available", 3600, 1, 3600_000},
		{jan(10), "busy", 7200, 1, 7200_000},
		{jan(11), "available", 3600, 1, 3600_000},
	}
	if got := daily(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rollups %v, want %v", got, want)
	}
	// An edit marks its days; the next round rolls them up again.
	_, err = d.Pool().Exec(ctx, `UPDATE spells SET deleted_at = now() WHERE status_id = 'busy'`)
	ok(t, err)
	n, err := k.Rollup(ctx, time.Date(2026, 1, 12, 0, 15, 0, 0, time.UTC))
	ok(t, err)
	if got := daily(); n != 1 || fmt.Sprint(got) != fmt.Sprint([]row{want[0], want[2]}) {
		t.Fatalf("after deleting a spell: %d days, %v", n, got)
	}

	k.Retention, k.ArchiveDir = 24*time.Hour, t.TempDir()
	ok(t, k.Round(ctx, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)))
	csv, err := os.ReadFile(filepath.Join(k.ArchiveDir, "spells-2026-01.csv"))
	ok(t, err)
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "id,agent_id,status_id,") {
		t.Fatalf("export: %q", csv)
	}
	var jan2026, feb2026 *string
	ok(t, d.Pool().QueryRow(ctx, `SELECT to_regclass('spells_p202601')::text, to_regclass('spells_p202602')::text`).Scan(&jan2026, &feb2026))
	if jan2026 != nil || feb2026 == nil {
		t.Fatalf("partitions left: January %v, February %v", jan2026, feb2026)
	}
	if got := daily(); fmt.Sprint(got) != fmt.Sprint([]row{want[0], want[2]}) {
		t.Fatalf("rollups after the drop: %v", got)
	}
}

// A closed spell imported into a day already rolled up marks that day.
func TestRollupMarksImportedDays(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	_, err := d.Pool().Exec(ctx, `SELECT spells_partitions_ensure('2026-01-01Z', '2026-02-01Z')`)
	ok(t, err)
	k := db.NewHistoryKeeper(d, 0, "")
	_, err = d.Pool().Exec(ctx, `INSERT INTO spells (agent_id, status_id, source, started_at, ended_at) VALUES
		('a1', 'busy', 'manual', '2026-01-10 10:00Z', '2026-01-10 12:00Z')`)
	ok(t, err)
	ok(t, k.Round(ctx, time.Date(2026, 1, 12, 0, 5, 0, 0, time.UTC)))
	_, err = d.Pool().Exec(ctx, `INSERT INTO spells (agent_id, status_id, source, started_at, ended_at) VALUES
		('a1', 'meal', 'manual', '2026-01-10 08:00Z', '2026-01-10 09:00Z')`)
	ok(t, err)
	n, err := k.Rollup(ctx, time.Date(2026, 1, 12, 0, 15, 0, 0, time.UTC))
	ok(t, err)
	var meal float64
	ok(t, d.Pool().QueryRow(ctx, `SELECT coalesce(sum(seconds), 0) FROM report.daily_status WHERE day = '2026-01-10' AND status_id = 'meal'`).Scan(&meal))
	if n != 1 || meal != 3600 {
		t.Fatalf("after an import: %d days rolled up, meal %v s", n, meal)
	}
}

// A presence change backdated into days already rolled up (its "at"
// before today) marks them: they counted the spell that was current then
// to their ends. So does a current spell inserted into the past.
func TestRollupMarksBackdatedChanges(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	mustAgent(t, d, "a2")
	_, err := d.Pool().Exec(ctx, `SELECT spells_partitions_ensure('2026-01-01Z', '2026-02-01Z');
		DELETE FROM spells WHERE agent_id IN ('a1', 'a2');
		SELECT presence_change('a1', 'busy', 'manual', NULL, NULL, '2026-01-10 10:00Z')`)
	ok(t, err)
	k := db.NewHistoryKeeper(d, 0, "")
	ok(t, k.Round(ctx, time.Date(2026, 1, 13, 0, 5, 0, 0, time.UTC)))
	seconds := func(agent, day, status string) float64 {
		t.Helper()
		var s float64
		ok(t, d.Pool().QueryRow(ctx, `SELECT coalesce(sum(seconds), 0) FROM report.daily_status
			WHERE agent_id = $1 AND day = $2 AND status_id = $3`, agent, day, status).Scan(&s))
		return s
	}
	if got := seconds("a1", "2026-01-11", "busy"); got != 86400 {
		t.Fatalf("January 11 before the change: busy %v s", got)
	}

	// a1 went to a meal at 08:00 on the 11th, told late.
	_, err = d.Pool().Exec(ctx, `SELECT presence_change('a1', 'meal', 'manual', NULL, NULL, '2026-01-11 08:00Z')`)
	ok(t, err)
	n, err := k.Rollup(ctx, time.Date(2026, 1, 13, 0, 15, 0, 0, time.UTC))
	ok(t, err)
	got := fmt.Sprint(n, seconds("a1", "2026-01-10", "busy"), seconds("a1", "2026-01-11", "busy"), seconds("a1", "2026-01-11", "meal"),
		seconds("a1", "2026-01-12", "meal"))
	if want := fmt.Sprint(2, 14*3600, 8*3600, 16*3600, 86400); got != want {
		t.Fatalf("days rolled up again, a1 busy Jan 10, busy Jan 11, meal Jan 11, meal Jan 12: %s, want %s", got, want)
	}

	// a2's first spell is written with a start at 18:00 on the 12th.
	_, err = d.Pool().Exec(ctx, `INSERT INTO spells (agent_id, status_id, source, started_at) VALUES ('a2', 'busy', 'manual', '2026-01-12 18:00Z')`)
	ok(t, err)
	n, err = k.Rollup(ctx, time.Date(2026, 1, 13, 0, 25, 0, 0, time.UTC))
	ok(t, err)
	if got, want := fmt.Sprint(n, seconds("a2", "2026-01-12", "busy")), fmt.Sprint(1, 6*3600); got != want {
		t.Fatalf("days rolled up again, a2 busy Jan 12: %s, want %s", got, want)
	}
}

// A window finds every spell that overlaps it, however early it started:
// the short ones of the look-back, a long one (spells_long) and a current
// one that began long before; not the ones that ended before it.
func TestSpellWindowFindsLongAndCurrentSpells(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	mustAgent(t, d, "a2")
	_, err := d.Pool().Exec(ctx, `SELECT spells_partitions_ensure('2026-01-01Z', '2026-03-01Z');
		INSERT INTO spells (agent_id, status_id, source, started_at, ended_at) VALUES
		('a1', 'busy',    'manual', '2026-01-05 08:00Z', '2026-01-05 09:00Z'),
		('a1', 'offline', 'manual', '2026-01-05 09:00Z', '2026-02-10 08:00Z'),
		('a1', 'meal',    'manual', '2026-02-10 08:00Z', '2026-02-10 09:30Z'),
		('a1', 'busy',    'manual', '2026-02-10 09:30Z', '2026-02-10 11:00Z'),
		('a2', 'away',    'manual', '2026-01-02 00:00Z', NULL)`)
	ok(t, err)
	from := time.Date(2026, 2, 10, 10, 0, 0, 0, time.UTC)
	to := from.Add(time.Hour)
	got, _, err := d.FindSpells(ctx, presence.SpellFilter{From: &from, To: &to})
	ok(t, err)
	var ids []string
	for _, s := range got {
		ids = append(ids, s.AgentID+":"+s.StatusID)
	}
	if fmt.Sprint(ids) != "[a1:busy a2:away]" {
		t.Fatalf("spells in [10:00, 11:00): %v", ids)
	}
	from = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	to = time.Date(2026, 2, 10, 9, 0, 0, 0, time.UTC)
	got, _, err = d.FindSpells(ctx, presence.SpellFilter{From: &from, To: &to, AgentID: "a1"})
	ok(t, err)
	ids = nil
	for _, s := range got {
		ids = append(ids, s.StatusID)
	}
	if fmt.Sprint(ids) != "[offline meal]" {
		t.Fatalf("a1's spells in [Feb 1, Feb 10 09:00): %v", ids)
	}
	var secs float64
	ok(t, d.Pool().QueryRow(ctx, `SELECT sum(seconds) FROM report.status_time('2026-02-01Z', '2026-02-02Z', 'UTC') WHERE agent_id = 'a1'`).Scan(&secs))
	if secs != 86400 {
		t.Fatalf("status_time of a day inside a long spell: %v s", secs)
	}
}

// A page of an agent's history reads about a page of its spells, not all
// of them.
func TestSpellListAgentPageReadsAPage(t *testing.T) {
	// Not parallel: its seeding transaction would hold back the event
	// readers of the parallel tests (they read below the oldest running xid).
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	_, err := d.Pool().Exec(ctx, `SELECT spells_partitions_ensure('2026-01-01Z', '2026-03-01Z');
		BEGIN;
		SET LOCAL session_replication_role = replica;
		INSERT INTO agents (id, name) SELECT 'b' || g, 'b' || g FROM generate_series(1, 29) g;
		INSERT INTO spells (agent_id, status_id, source, started_at, ended_at, updated_at,
		                    configured_capacity, configured_interrupt_capacity)
		SELECT a.id, 'busy', 'manual', t, t + interval '20 minutes', t, 1, 0
		FROM generate_series(timestamptz '2026-01-25', timestamptz '2026-02-05', interval '20 minutes') t,
		     (SELECT id FROM agents) a
		ORDER BY t, a.id;
		INSERT INTO spells (agent_id, status_id, source, started_at, configured_capacity, configured_interrupt_capacity)
		SELECT id, 'available', 'manual', '2026-02-05 01:00Z', 1, 0 FROM agents;
		INSERT INTO spells_current (agent_id, spell_id, started_at)
		SELECT agent_id, id, started_at FROM spells WHERE ended_at IS NULL;
		COMMIT;
		ANALYZE spells`)
	ok(t, err)
	plan, _ := explainPlan(t, d, dbsqlc.SpellListAll, nil, nil, "a1", nil, false, int64(0), int32(100))
	var doc []struct {
		Plan map[string]any `json:"Plan"`
	}
	ok(t, json.Unmarshal([]byte(plan), &doc))
	if strings.Contains(plan, `"Sort"`) || !strings.Contains(plan, "agent_id_id_idx") {
		t.Fatalf("a page of an agent's spells sorts them all or reads other agents' spells: %s", plan)
	}
	// No agent is in meal: the current spells' own index, not a walk of
	// every spell in id order.
	plan, _ = explainPlan(t, d, dbsqlc.SpellListAll, nil, nil, nil, "meal", true, int64(0), int32(100))
	// (Partitions name their copy of spells_current_id_idx spells_pYYYYMM_id_idx.)
	if strings.Contains(plan, "spells_p202601_pkey") || strings.Contains(plan, "spells_p202602_pkey") || !strings.Contains(plan, `spells_p202602_id_idx"`) {
		t.Fatalf("current spells in meal: %s", plan)
	}
}
