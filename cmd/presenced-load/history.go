//go:build unix

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
)

// scenarioHistory (issue 12) seeds days of spell history for every agent
// (60 spells a day each: 600k a day for 10,000 agents) and takes every
// history figure at two sizes, -history-small and -history-days days, side
// by side with the ratio: the cost of a window should follow the window,
// not the total history.
//
// Seeding is SQL (generate_series), a day per statement, with the spells'
// triggers off (session_replication_role = replica: the figures are set
// directly, idle the whole spell, and the spells are contiguous by
// construction; the overlap trigger is off with them, so nothing checks
// them). The event log gets 600k events a day, at most the 7 days the
// pruner keeps.
func scenarioHistory(ctx context.Context, e *env, o options) error {
	now := time.Now().UTC()
	// History ends at the UTC midnight before the seed's current spells
	// begin, so that its days are whole UTC days (the rollups' days) and
	// the one-day figures read a whole day at every size.
	var end time.Time
	if err := e.sql.QueryRow(ctx, `SELECT date_trunc('day', min(started_at) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM spells`).Scan(&end); err != nil {
		return err
	}
	sizes := []int{o.historySmall, o.historyDays}
	results := make([][]figure, len(sizes))
	seeded := 0
	for i, days := range sizes {
		t0 := time.Now()
		if err := seedHistory(ctx, e, end, seeded, days); err != nil {
			return err
		}
		seedTime := time.Since(t0)
		prev := seeded
		seeded = days
		t0 = time.Now()
		// Seeded with the triggers off, so no day is marked: roll up the
		// new (older) days as the duty would after an import.
		if _, err := e.sql.Exec(ctx, `SELECT spell_rollup_day(d::date)
			  FROM generate_series(($1::timestamptz AT TIME ZONE 'UTC')::date, ($2::timestamptz AT TIME ZONE 'UTC')::date - 1, interval '1 day') d`,
			end.Add(-time.Duration(days)*24*time.Hour), end.Add(-time.Duration(prev)*24*time.Hour)); err != nil {
			return err
		}
		// The month report reads 30 days of rollups at every size: the
		// days before the seeded ones get copies of the oldest seeded
		// day's rows (seeding 30 days of spells takes too long here).
		if _, err := e.sql.Exec(ctx, `INSERT INTO spell_rollups
			SELECT d::date, r.agent_id, r.status_id, r.seconds, r.spells, r.at_capacity_ms, r.idle_ms
			  FROM spell_rollups r,
			       generate_series(($1::timestamptz AT TIME ZONE 'UTC')::date - 30, ($1::timestamptz AT TIME ZONE 'UTC')::date - 1, interval '1 day') d
			 WHERE r.day = ($1::timestamptz AT TIME ZONE 'UTC')::date
			ON CONFLICT (day, agent_id, status_id) DO UPDATE SET seconds = excluded.seconds`,
			end.Add(-time.Duration(days)*24*time.Hour)); err != nil {
			return err
		}
		if _, err := e.sql.Exec(ctx, `INSERT INTO spell_rollup_days (day, rolled_at, intervals)
			SELECT d::date, now(), true
			  FROM generate_series(($1::timestamptz AT TIME ZONE 'UTC')::date - 30, ($1::timestamptz AT TIME ZONE 'UTC')::date - 1, interval '1 day') d
			ON CONFLICT (day) DO NOTHING`, end.Add(-time.Duration(days)*24*time.Hour)); err != nil {
			return err
		}
		if _, err := e.sql.Exec(ctx, `SELECT spell_rollup_totals_from(min(day)) FROM spell_rollup_days`); err != nil {
			return err
		}
		// Statistics of the rollups just written, as autovacuum would take
		// them a little later: without, the first size's reports, taken
		// right after the rollups were written, ran up to 2.5 times as
		// long as the second size's.
		if _, err := e.sql.Exec(ctx, `ANALYZE spell_rollups, spell_rollup_totals, spell_rollup_intervals, spell_rollup_days`); err != nil {
			return err
		}
		k := db.NewHistoryKeeper(e.db, 0, "")
		rolled, err := k.Rollup(ctx, now)
		if err != nil {
			return err
		}
		rolled += days - prev
		fmt.Printf("history: %d days seeded (%d spells) in %s; %d days rolled up in %s\n",
			days, days*60*o.agents, seedTime.Round(time.Second), rolled, time.Since(t0).Round(time.Millisecond))
		if results[i], err = historyFigures(ctx, e, o, end); err != nil {
			return err
		}
	}
	fmt.Printf("\n%-62s %18s %18s %7s\n", "figure (p50 / p99 over the runs)", fmt.Sprintf("%d day(s)", sizes[0]),
		fmt.Sprintf("%d days", sizes[1]), "ratio")
	for j := range results[0] {
		a, b := results[0][j], results[1][j]
		fmt.Printf("%-62s %18s %18s %6.2fx\n", a.name, a.String(), b.String(), float64(b.p50)/float64(max(a.p50, 1)))
	}
	fmt.Println("targets: 1-day reports <= 300 ms, 30-day report from rollups <= 1 s, each <= 1.2x at the larger size;",
		"spell lists p99 <= 20 ms; presence change no slower; pruner's cut <= 10 ms")
	return nil
}

type figure struct {
	name     string
	p50, p99 time.Duration
}

func (f figure) String() string { return fmt.Sprintf("%s / %s", round(f.p50), round(f.p99)) }

// seedHistory adds the days [from, to) before end (day 0 ends at end).
func seedHistory(ctx context.Context, e *env, end time.Time, from, to int) error {
	conn, err := e.sql.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	c := conn.Conn()
	exec := func(sql string, args ...any) error { _, err := c.Exec(ctx, sql, args...); return err }
	oldest := end.Add(-time.Duration(to) * 24 * time.Hour)
	if err := exec(`SELECT spells_partitions_ensure($1::timestamptz, $2::timestamptz)`, oldest, end); err != nil {
		return err
	}
	// No flush per day.
	if err := exec(`SET synchronous_commit = off`); err != nil {
		return err
	}
	if err := exec(`SET session_replication_role = replica`); err != nil {
		return err
	}
	for day := from; day < to; day++ {
		dayEnd := end.Add(-time.Duration(day) * 24 * time.Hour)
		// 60 contiguous spells of 24 minutes per agent, statuses in turn.
		if err := exec(`
			INSERT INTO spells (agent_id, status_id, source, started_at, ended_at, updated_at,
			                    at_capacity_ms, idle_ms, average_capacity, configured_capacity, configured_interrupt_capacity)
			SELECT a.id, (ARRAY['available','busy','away','break','meal','meeting','training','offline'])[1 + (k + a.n) % 8],
			       'manual', t, t + interval '24 minutes', t + interval '24 minutes', 0, 24 * 60000, 0, 1, 0
			  FROM generate_series(0, 59) k,
			       LATERAL (SELECT $1::timestamptz - interval '1 day' + k * interval '24 minutes' AS t) tt,
			       (SELECT id, row_number() OVER (ORDER BY id) AS n FROM agents) a
			 ORDER BY t, a.id`, dayEnd); err != nil {
			return err
		}
	}
	// The event log: the last min(days, 7) days (the pruner keeps 7), in
	// position order, as the log is written.
	if err := exec(`TRUNCATE events`); err != nil {
		return err
	}
	if err := exec(`INSERT INTO events (topic, kind, at, body)
		SELECT 'agents.x.presence', 'presence', $1::timestamptz - g * interval '144 milliseconds', '{}'
		  FROM generate_series($2::int * 600000, 1, -1) g`, end, min(to, 7)); err != nil {
		return err
	}
	if err := exec(`SET session_replication_role = origin`); err != nil {
		return err
	}
	return exec(`ANALYZE spells, events`)
}

// historyFigures takes each figure: reports a few runs, lists and
// presence changes many.
func historyFigures(ctx context.Context, e *env, o options, end time.Time) ([]figure, error) {
	var out []figure
	// The last whole UTC day of history, and the Paris day nearest it
	// (status_time reads it from that day's rollup and the spells of the
	// hour either side).
	dayFrom, dayTo := end.Add(-24*time.Hour), end
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		return nil, err
	}
	y, m, dd := dayFrom.UTC().Date()
	parisFrom := time.Date(y, m, dd, 0, 0, 0, 0, paris)
	parisTo := parisFrom.AddDate(0, 0, 1)
	timed := func(name string, runs int, fn func() error) error {
		var ds []time.Duration
		for range runs {
			t0 := time.Now()
			if err := fn(); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			ds = append(ds, time.Since(t0))
		}
		slices.Sort(ds)
		q := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
		out = append(out, figure{name, q(0.5), q(0.99)})
		return nil
	}
	count := func(sql string, args ...any) func() error {
		return func() error {
			rows, err := e.sql.Query(ctx, sql, args...)
			if err != nil {
				return err
			}
			_, err = pgx.CollectRows(rows, func(pgx.CollectableRow) (struct{}, error) { return struct{}{}, nil })
			return err
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	agent := func() string { return agentID(r.IntN(o.agents)) }
	steps := []struct {
		name string
		runs int
		fn   func() error
	}{
		{"time per agent per status, 1 UTC day (report.daily_status)", 3, count(`
			SELECT agent_id, status_id, sum(seconds) FROM report.daily_status
			 WHERE day = ($1::timestamptz AT TIME ZONE 'UTC')::date GROUP BY 1, 2`, dayFrom)},
		{"  the same from spells (report.spells)", 3, count(`
			SELECT agent_id, status_id, sum(duration_ms) FROM report.spells
			 WHERE started_at >= $1 AND started_at < $2 GROUP BY 1, 2`, dayFrom, dayTo)},
		{"time per agent per status, 30 days (report.daily_status)", 3, count(`
			SELECT agent_id, status_id, sum(seconds) FROM report.daily_status
			 WHERE day >= ($1::timestamptz AT TIME ZONE 'UTC')::date - 30 GROUP BY 1, 2`, dayTo)},
		{"  the same from the running totals (report.status_totals)", 3, count(`
			SELECT * FROM report.status_totals(($1::timestamptz AT TIME ZONE 'UTC')::date - 30, ($1::timestamptz AT TIME ZONE 'UTC')::date - 1)`, dayTo)},
		{"report.status_time, 1 day, Europe/Paris", 3, count(`
			SELECT count(*) FROM report.status_time($1, $2, 'Europe/Paris')`, parisFrom, parisTo)},
		{"  24 h not on local midnights (from spells)", 3, count(`
			SELECT count(*) FROM report.status_time($1, $2, 'Europe/Paris')`, dayFrom.Add(-6*time.Hour), dayTo.Add(-6*time.Hour))},
		{"spells per status per hour, 1 day, Paris (report.interval_status)", 3, count(`
			SELECT date_trunc('hour', starts_at AT TIME ZONE 'Europe/Paris'), status_id, sum(spells) FROM report.interval_status
			 WHERE starts_at >= $1 AND starts_at < $2 GROUP BY 1, 2`, parisFrom, parisTo)},
		{"  the same from spells, UTC (report.spells)", 3, count(`
			SELECT date_trunc('hour', started_at), status_id, count(*) FROM report.spells
			 WHERE started_at >= $1 AND started_at < $2 GROUP BY 1, 2`, dayFrom, dayTo)},
		{"/v1/spells?current=true&status=meal (FindSpells)", 50, func() error {
			_, _, err := e.db.FindSpells(ctx, presence.SpellFilter{CurrentOnly: true, StatusID: "meal"})
			return err
		}},
		{"/v1/spells?agent=X (FindSpells)", 100, func() error {
			_, _, err := e.db.FindSpells(ctx, presence.SpellFilter{AgentID: agent()})
			return err
		}},
		{"/v1/spells?agent=X&from=1h ago (FindSpells)", 100, func() error {
			from := end.Add(-time.Hour)
			_, _, err := e.db.FindSpells(ctx, presence.SpellFilter{AgentID: agent(), From: &from})
			return err
		}},
		{"/v1/spells/updated, 1 h, first page", 50, func() error {
			_, _, err := e.db.SpellsUpdated(ctx, presence.Window{Start: end.Add(-time.Hour), End: end})
			return err
		}},
		{"/v1/spells/updated, 1 day, first page", 50, func() error {
			_, _, err := e.db.SpellsUpdated(ctx, presence.Window{Start: dayFrom, End: dayTo})
			return err
		}},
		{"/v1/spells/deleted, 1 day, first page", 50, func() error {
			_, _, err := e.db.SpellsDeleted(ctx, presence.Window{Start: dayFrom, End: dayTo})
			return err
		}},
		{"the pruner's cut (EventPruneCut, a minute of events to cut)", 20, func() error {
			var oldest time.Time
			if err := e.sql.QueryRow(ctx, `SELECT min(at) FROM events`).Scan(&oldest); err != nil {
				return err
			}
			now := time.Now()
			_, err := db.NewPruner(e.db, now.Sub(oldest.Add(time.Minute))).Cut(ctx, now)
			return err
		}},
		{"the pruner's round (cut and delete a minute of events)", 5, func() error {
			var oldest time.Time
			if err := e.sql.QueryRow(ctx, `SELECT min(at) FROM events`).Scan(&oldest); err != nil {
				return err
			}
			now := time.Now()
			_, err := db.NewPruner(e.db, now.Sub(oldest.Add(time.Minute))).Prune(ctx, now)
			return err
		}},
		{"presence change (SetPresence, one at a time)", 300, func() error {
			st := []string{"available", "busy", "meal", "break"}[r.IntN(4)]
			_, err := e.db.SetPresence(ctx, agent(), presence.PresenceChange{Status: st})
			return err
		}},
	}
	for _, s := range steps {
		if err := timed(s.name, s.runs, s.fn); err != nil {
			return nil, err
		}
	}
	return out, nil
}
