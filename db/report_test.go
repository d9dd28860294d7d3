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
	_, err := d.Pool().Exec(ctx, `SELECT spells_partitions_ensure('2026-03-01Z', '2026-05-01Z')`)
	ok(t, err)
	// Contiguous spells of 1 minute to 6 hours (now and then 30 hours,
	// longer than the look-back) from March 25 to April 2, each agent's
	// last one current; one spell soft-deleted.
	r := rand.New(rand.NewPCG(7, 7))
	statuses := []string{"available", "busy", "meal", "break", "away"}
	var values []string
	for _, a := range []string{"a1", "a2", "a3"} {
		mustAgent(t, d, a)
		at := time.Date(2026, 3, 25, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(180)) * time.Minute)
		for at.Before(time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC)) {
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
		WHERE id = (SELECT min(id) FROM spells WHERE agent_id = 'a2' AND started_at > '2026-03-28Z')`)
	ok(t, err)

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
		rows, err := d.Pool().Query(ctx, `SELECT * FROM report.status_time(($1::timestamp) AT TIME ZONE $3, ($2::timestamp) AT TIME ZONE $3, $3)`,
			w.from, w.to, w.tz)
		ok(t, err)
		got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
			v, err := r.Values()
			return fmt.Sprint(v), err
		})
		ok(t, err)
		if len(got) == 0 {
			t.Fatalf("status_time %v: no rows", w)
		}
		return strings.Join(got, "\n")
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
		rows, err := d.Pool().Query(ctx, `SELECT to_char(starts_at AT TIME ZONE 'UTC', 'HH24:MI'), to_char(ends_at AT TIME ZONE 'UTC', 'HH24:MI'),
			status_id, status_label, spells, seconds::float8, agents FROM report.interval_status ORDER BY starts_at, status_id`)
		ok(t, err)
		got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
			v, err := r.Values()
			return fmt.Sprint(v), err
		})
		ok(t, err)
		return strings.Join(got, "\n")
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
