package db_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
)

func TestReportStatusTime(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	_, err := d.Pool().Exec(ctx, `INSERT INTO spells (agent_id, status_id, source, started_at, ended_at) VALUES
		-- 22:00 to 01:30 Paris time across midnight (UTC+1 in November)
		('a1', 'available', 'manual', '2026-11-20 21:00Z', '2026-11-21 00:30Z'),
		('a1', 'break',     'manual', '2026-11-21 00:30Z', '2026-11-21 01:00Z')`)
	ok(t, err)
	type row struct {
		Day     time.Time
		Status  string
		Seconds float64 // numeric in SQL
	}
	rows, err := d.Pool().Query(ctx, `SELECT day, status_id, seconds FROM report.status_time($1, $2, 'Europe/Paris') WHERE agent_id = 'a1'`,
		time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 21, 0, 45, 0, 0, time.UTC))
	ok(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	ok(t, err)
	// Paris midnight is 23:00Z, so the first spell is cut there.
	want := []row{
		{time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), "available", 2 * 3600},   // 21:00Z–23:00Z
		{time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), "available", 1.5 * 3600}, // 23:00Z–00:30Z
		{time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), "break", 15 * 60},        // cut at the window's end 00:45Z
	}
	if len(got) != len(want) {
		t.Fatalf("rows: %+v", got)
	}
	for i := range want {
		if !got[i].Day.Equal(want[i].Day) || got[i].Status != want[i].Status || got[i].Seconds != want[i].Seconds {
			t.Fatalf("row %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestReportRoleReadsReportOnly(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	tx, err := d.Pool().Begin(ctx)
	ok(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `SET LOCAL ROLE presence_reporting`)
	ok(t, err)
	var n int
	ok(t, tx.QueryRow(ctx, `SELECT count(*) FROM report.current_presence`).Scan(&n))
	ok(t, tx.QueryRow(ctx, `SELECT count(*) FROM report.spells`).Scan(&n))
	ok(t, tx.QueryRow(ctx, `SELECT count(*) FROM report.status_time(now() - interval '1 day', now(), 'UTC')`).Scan(&n))
	ok(t, tx.QueryRow(ctx, `SELECT count(*) FROM report.daily_status`).Scan(&n))
	ok(t, tx.QueryRow(ctx, `SELECT count(*) FROM report.daily_status_days`).Scan(&n))
	ok(t, tx.QueryRow(ctx, `SELECT count(*) FROM report.interval_status`).Scan(&n))
	_, err = tx.Exec(ctx, `SAVEPOINT s; SELECT * FROM agents`)
	if err == nil {
		t.Fatal("presence_reporting can read the base tables")
	}
}

// report.status_time reads a whole local day from the rollup of the UTC
// day nearest it, corrected by the spells of the hours where the two
// differ: the same rows as read from spells, in zones east and west, with
// half- and quarter-hour offsets, across a change to summer time.
func TestStatusTimeFromRollupsIsFromSpells(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	seedRandomSpells(t, d, time.Date(2026, 3, 25, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC))

	type window struct {
		tz       string
		from, to string // local times
	}
	var windows []window
	for _, tz := range []string{"UTC", "Europe/Paris", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "Pacific/Auckland"} {
		windows = append(windows, window{tz, "2026-03-27 00:00", "2026-03-31 00:00"}, window{tz, "2026-03-27 05:30", "2026-03-30 17:10"})
	}
	read := func(w window) string {
		t.Helper()
		got := rowsText(t, d, `SELECT * FROM report.status_time(($1::timestamp) AT TIME ZONE $3, ($2::timestamp) AT TIME ZONE $3, $3)`,
			w.from, w.to, w.tz)
		if got == "" {
			t.Fatalf("status_time %v: no rows", w)
		}
		return got
	}
	fromSpells := make([]string, len(windows))
	for i, w := range windows {
		fromSpells[i] = read(w)
	}
	k := db.NewHistoryKeeper(d, 0, "")
	ok(t, k.Round(ctx, time.Date(2026, 4, 3, 0, 5, 0, 0, time.UTC)))
	for i, w := range windows {
		if got := read(w); got != fromSpells[i] {
			t.Errorf("status_time %v with rollups:\n%s\nfrom spells:\n%s", w, got, fromSpells[i])
		}
	}

	// It does read the rollups: spells removed behind the triggers' back
	// from the middle of March 28 (UTC) leave that whole day as it was
	// (while a partial day, read from spells, changes), until the day is
	// marked stale.
	day := window{"UTC", "2026-03-28 00:00", "2026-03-29 00:00"}
	partial := window{"UTC", "2026-03-28 00:00", "2026-03-28 23:00"}
	dayRows, partialRows := read(day), read(partial)
	tx, err := d.Pool().Begin(ctx)
	ok(t, err)
	_, err = tx.Exec(ctx, `SET LOCAL session_replication_role = replica;
		DELETE FROM spells WHERE started_at >= '2026-03-28 06:00Z' AND ended_at <= '2026-03-28 18:00Z'`)
	ok(t, err)
	ok(t, tx.Commit(ctx))
	if got := read(day); got != dayRows {
		t.Errorf("March 28 did not come from its rollup:\n%s\nwant:\n%s", got, dayRows)
	}
	if got := read(partial); got == partialRows {
		t.Errorf("the partial day did not come from spells")
	}
	_, err = d.Pool().Exec(ctx, `INSERT INTO spell_rollup_dirty (day) VALUES ('2026-03-28')`)
	ok(t, err)
	if got := read(day); got == dayRows {
		t.Errorf("a stale rollup was read: March 28 unchanged after its spells went")
	}
}

// The history duty rolls each ended day up into 15-minute intervals per
// status (report.interval_status), and rolls up again the days rolled up
// before there were intervals.
func TestIntervalRollups(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	mustAgent(t, d, "a2")
	_, err := d.Pool().Exec(ctx, `SELECT spells_partitions_ensure('2026-01-01Z', '2026-02-01Z');
		INSERT INTO spells (agent_id, status_id, source, started_at, ended_at) VALUES
		('a1', 'busy', 'manual', '2026-01-10 10:10Z', '2026-01-10 10:40Z'),
		('a1', 'meal', 'manual', '2026-01-10 10:40Z', '2026-01-10 11:00Z'),
		('a2', 'busy', 'manual', '2026-01-10 10:20Z', '2026-01-10 10:25Z')`)
	ok(t, err)
	k := db.NewHistoryKeeper(d, 0, "")
	ok(t, k.Round(ctx, time.Date(2026, 1, 12, 0, 5, 0, 0, time.UTC)))
	read := func() string {
		return rowsText(t, d, `SELECT to_char(starts_at AT TIME ZONE 'UTC', 'HH24:MI'), to_char(ends_at AT TIME ZONE 'UTC', 'HH24:MI'),
			status_id, status_label, spells, seconds::float8, agents FROM report.interval_status ORDER BY starts_at, status_id`)
	}
	want := strings.Join([]string{
		"[10:00 10:15 busy Busy 1 300 1]",
		"[10:15 10:30 busy Busy 1 1200 2]",
		"[10:30 10:45 busy Busy 0 600 1]",
		"[10:30 10:45 meal Meal 1 300 1]",
		"[10:45 11:00 meal Meal 0 900 1]",
	}, "\n")
	if got := read(); got != want {
		t.Fatalf("intervals:\n%s\nwant:\n%s", got, want)
	}
	// A day rolled up before intervals existed is pending again.
	_, err = d.Pool().Exec(ctx, `DELETE FROM spell_rollup_intervals; UPDATE spell_rollup_days SET intervals = false WHERE day = '2026-01-10'`)
	ok(t, err)
	n, err := k.Rollup(ctx, time.Date(2026, 1, 12, 0, 15, 0, 0, time.UTC))
	ok(t, err)
	if got := read(); n != 1 || got != want {
		t.Fatalf("after rolling up again (%d days):\n%s", n, got)
	}
}

// seedRandomSpells gives agents a1, a2 and a3 contiguous spells of 1
// minute to 6 hours (now and then 30 hours, longer than the look-back)
// from about from to about to, each agent's last one current, and
// soft-deletes one spell of a2.
func seedRandomSpells(t *testing.T, d *db.DB, from, to time.Time) {
	t.Helper()
	_, err := d.Pool().Exec(ctx, `SELECT spells_partitions_ensure($1, $2)`, from, to.AddDate(0, 1, 0))
	ok(t, err)
	r := rand.New(rand.NewPCG(7, 7))
	statuses := []string{"available", "busy", "meal", "break", "away"}
	var values []string
	for _, a := range []string{"a1", "a2", "a3"} {
		mustAgent(t, d, a)
		at := from.Add(time.Duration(r.IntN(180)) * time.Minute)
		for at.Before(to) {
			dur := time.Duration(1+r.IntN(360))*time.Minute + time.Duration(r.IntN(60))*time.Second
			if r.IntN(20) == 0 {
				dur = 30 * time.Hour
			}
			values = append(values, fmt.Sprintf("('%s', '%s', 'manual', '%s', '%s')", a, statuses[r.IntN(len(statuses))],
				at.Format(time.RFC3339), at.Add(dur).Format(time.RFC3339)))
			at = at.Add(dur)
		}
		values = append(values, fmt.Sprintf("('%s', 'offline', 'manual', '%s', NULL)", a, at.Format(time.RFC3339)))
	}
	_, err = d.Pool().Exec(ctx, `INSERT INTO spells (agent_id, status_id, source, started_at, ended_at) VALUES `+strings.Join(values, ",\n"))
	ok(t, err)
	_, err = d.Pool().Exec(ctx, `UPDATE spells SET deleted_at = now()
		WHERE id = (SELECT min(id) FROM spells WHERE agent_id = 'a2' AND started_at > $1::timestamptz + interval '3 days')`, from)
	ok(t, err)
}

// report.status_totals gives the sums of report.daily_status over any run
// of days, from the running totals; after an edit is rolled up again, and
// while totals are pending (summing the daily rows then).
func TestStatusTotalsAreTheDailySums(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	seedRandomSpells(t, d, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC))
	k := db.NewHistoryKeeper(d, 0, "")
	ok(t, k.Round(ctx, time.Date(2026, 3, 14, 0, 5, 0, 0, time.UTC)))
	totals := func(from, to string) string {
		return rowsText(t, d, `SELECT agent_id, status_id, status_label, seconds::text, spells, at_capacity_ms, idle_ms
			FROM report.status_totals($1, $2) ORDER BY 1, 2`, from, to)
	}
	sums := func(from, to string) string {
		return rowsText(t, d, `SELECT agent_id, status_id, status_label, sum(seconds)::text, sum(spells), sum(at_capacity_ms)::bigint, sum(idle_ms)::bigint
			FROM report.daily_status WHERE day BETWEEN $1 AND $2 GROUP BY 1, 2, 3 ORDER BY 1, 2`, from, to)
	}
	ranges := [][2]string{{"2026-03-01", "2026-03-31"}, {"2026-03-04", "2026-03-04"}, {"2026-03-03", "2026-03-09"},
		{"2026-02-01", "2026-03-02"}, {"2026-03-11", "2026-04-30"}, {"2026-03-09", "2026-03-03"}}
	check := func(when string) {
		t.Helper()
		for _, r := range ranges {
			if got, want := totals(r[0], r[1]), sums(r[0], r[1]); got != want {
				t.Errorf("%s: status_totals%v:\n%s\nwant:\n%s", when, r, got, want)
			}
		}
	}
	check("rolled up")
	if totals("2026-03-01", "2026-03-31") == "" {
		t.Fatal("no totals")
	}

	_, err := d.Pool().Exec(ctx, `UPDATE spells SET deleted_at = now() WHERE agent_id = 'a1' AND started_at BETWEEN '2026-03-05Z' AND '2026-03-06Z'`)
	ok(t, err)
	n, err := k.Rollup(ctx, time.Date(2026, 3, 14, 0, 15, 0, 0, time.UTC))
	ok(t, err)
	if n == 0 {
		t.Fatal("the edit was not rolled up")
	}
	check("after an edit")

	// The totals are what is read: a daily row changed behind their back
	// shows only while totals are pending.
	_, err = d.Pool().Exec(ctx, `UPDATE spell_rollups SET spells = spells + 1 WHERE day = '2026-03-04'`)
	ok(t, err)
	if totals("2026-03-03", "2026-03-09") == sums("2026-03-03", "2026-03-09") {
		t.Fatal("status_totals did not read the running totals")
	}
	_, err = d.Pool().Exec(ctx, `INSERT INTO spell_rollup_totals_pending (day) VALUES ('2026-03-04')`)
	ok(t, err)
	check("pending")
}

// rowsText runs sql and returns its rows, one line each, for comparing
// whole answers.
func rowsText(t *testing.T, d *db.DB, sql string, args ...any) string {
	t.Helper()
	rows, err := d.Pool().Query(ctx, sql, args...)
	ok(t, err)
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		v, err := r.Values()
		return fmt.Sprint(v), err
	})
	ok(t, err)
	return strings.Join(got, "\n")
}
