package db_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
	_, err = tx.Exec(ctx, `SAVEPOINT s; SELECT * FROM agents`)
	if err == nil {
		t.Fatal("presence_reporting can read the base tables")
	}
}
