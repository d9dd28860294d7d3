package db

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// lockKeyHistory is the advisory lock of the HistoryKeeper's rounds (see
// the keys of pruner.go).
const lockKeyHistory int64 = 0x70726573_00000003

// HistoryKeeper is the background duty of the spell history, on one node
// at a time (the advisory-lock scheme of the Pruner). Each round it
//   - creates the monthly spell partitions of this month and the next two
//     (presenced manages the partitions itself; no extension needed);
//   - rolls up every ended UTC day not rolled up yet, and the days whose
//     spells were edited since: per agent and status (spell_rollups,
//     report.daily_status, with the running totals of report.status_totals)
//     and per 15-minute interval and status over all agents
//     (spell_rollup_intervals, report.interval_status);
//   - with a Retention, exports each month that ended more than Retention
//     ago to ArchiveDir as CSV, then drops its partition. The rollups stay.
type HistoryKeeper struct {
	db *DB
	// Retention of spells; 0 keeps everything (the default).
	Retention time.Duration
	// ArchiveDir receives spells-YYYY-MM.csv before a month is dropped;
	// required with a Retention.
	ArchiveDir string
	Interval   time.Duration

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// NewHistoryKeeper returns a keeper that rounds every 10 minutes.
func NewHistoryKeeper(db *DB, retention time.Duration, archiveDir string) *HistoryKeeper {
	return &HistoryKeeper{db: db, Retention: retention, ArchiveDir: archiveDir, Interval: 10 * time.Minute}
}

// Open starts the rounds in the background.
func (k *HistoryKeeper) Open() {
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	k.done.Add(1)
	go func() {
		defer k.done.Done()
		t := time.NewTicker(k.Interval)
		defer t.Stop()
		for {
			if err := k.Round(ctx, time.Now()); err != nil && ctx.Err() == nil {
				k.db.Logger.Warn("spell history round failed", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops the rounds.
func (k *HistoryKeeper) Close() {
	if k.cancel != nil {
		k.cancel()
		k.done.Wait()
	}
}

// locked runs fn in a transaction if this node wins the keeper's lock.
func (k *HistoryKeeper) locked(ctx context.Context, fn func(pgx.Tx) error) (bool, error) {
	won := false
	err := k.db.inTx(ctx, func(tx pgx.Tx) error {
		ok, err := k.db.q.AdvisoryTryXactLock(ctx, tx, lockKeyHistory)
		if err != nil || !ok {
			return err
		}
		won = true
		return fn(tx)
	})
	return won, err
}

// Round does one round of the duty at now; nothing when another node
// holds the lock.
func (k *HistoryKeeper) Round(ctx context.Context, now time.Time) error {
	won, err := k.locked(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT spells_partitions_ensure($1::timestamptz, $1::timestamptz + interval '2 months')`, now)
		return err
	})
	if err != nil || !won {
		return err
	}
	if _, err := k.Rollup(ctx, now); err != nil {
		return err
	}
	if k.Retention > 0 {
		return k.Expire(ctx, now)
	}
	return nil
}

// Rollup rolls up the pending days (one transaction each), adds the
// intervals to days rolled up without them, brings the running totals up
// to date (one transaction), and returns how many days it rolled up.
func (k *HistoryKeeper) Rollup(ctx context.Context, now time.Time) (int, error) {
	rows, err := k.db.pool.Query(ctx, `SELECT d FROM spell_rollup_pending($1) d`, now)
	if err != nil {
		return 0, err
	}
	days, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range days {
		won, err := k.rollupDay(ctx, d)
		if err != nil || !won {
			return n, err
		}
		n++
	}
	// The days rolled up before there were interval rollups.
	rows, err = k.db.pool.Query(ctx, `SELECT day FROM spell_rollup_days WHERE NOT intervals ORDER BY day`)
	if err != nil {
		return n, err
	}
	if days, err = pgx.CollectRows(rows, pgx.RowTo[time.Time]); err != nil {
		return n, err
	}
	for _, d := range days {
		won, err := k.rollupIntervals(ctx, d)
		if err != nil || !won {
			return n, err
		}
		n++
	}
	// The running totals, once from the earliest day whose rollups changed.
	_, err = k.locked(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT spell_rollup_totals_from(min(day)) FROM spell_rollup_totals_pending HAVING min(day) IS NOT NULL`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM spell_rollup_totals_pending`)
		return err
	})
	return n, err
}

// rollupDay computes a day's rows read-only (seconds for 600k spells, with
// no transaction id: event readers read below the oldest running one),
// then replaces the day's rollups in one short transaction. A spell edit
// made in between marks the day dirty again, so the next round redoes it.
func (k *HistoryKeeper) rollupDay(ctx context.Context, day time.Time) (won bool, err error) {
	// Unmark first: an edit from here on marks the day again.
	if _, err := k.db.pool.Exec(ctx, `DELETE FROM spell_rollup_dirty WHERE day = $1`, day); err != nil {
		return false, err
	}
	defer func() {
		if err != nil || !won {
			_, _ = k.db.pool.Exec(context.WithoutCancel(ctx),
				`INSERT INTO spell_rollup_dirty (day) SELECT $1 WHERE EXISTS (SELECT 1 FROM spell_rollup_days WHERE day = $1)
				 ON CONFLICT DO NOTHING`, day)
		}
	}()
	daily, err := k.collect(ctx, `SELECT day, agent_id, status_id, seconds, spells, at_capacity_ms, idle_ms
		FROM spell_rollup_rows($1)`, day)
	if err != nil {
		return false, err
	}
	intervals, err := k.collect(ctx, `SELECT starts_at, status_id, spells, seconds, agents
		FROM spell_rollup_interval_rows($1)`, day)
	if err != nil {
		return false, err
	}
	return k.locked(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM spell_rollups WHERE day = $1`, day); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"spell_rollups"},
			[]string{"day", "agent_id", "status_id", "seconds", "spells", "at_capacity_ms", "idle_ms"},
			pgx.CopyFromRows(daily)); err != nil {
			return err
		}
		if err := copyIntervals(ctx, tx, day, intervals); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO spell_rollup_days (day, rolled_at, intervals) VALUES ($1, now(), true)
			ON CONFLICT (day) DO UPDATE SET rolled_at = excluded.rolled_at, intervals = true`, day); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO spell_rollup_totals_pending (day) VALUES ($1) ON CONFLICT DO NOTHING`, day)
		return err
	})
}

// rollupIntervals adds the 15-minute intervals to a day rolled up before
// they existed, leaving its daily rows as they are.
func (k *HistoryKeeper) rollupIntervals(ctx context.Context, day time.Time) (bool, error) {
	intervals, err := k.collect(ctx, `SELECT starts_at, status_id, spells, seconds, agents
		FROM spell_rollup_interval_rows($1)`, day)
	if err != nil {
		return false, err
	}
	return k.locked(ctx, func(tx pgx.Tx) error {
		if err := copyIntervals(ctx, tx, day, intervals); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE spell_rollup_days SET intervals = true WHERE day = $1`, day)
		return err
	})
}

// copyIntervals replaces the interval rollups of day.
func copyIntervals(ctx context.Context, tx pgx.Tx, day time.Time, intervals [][]any) error {
	if _, err := tx.Exec(ctx, `DELETE FROM spell_rollup_intervals
		WHERE starts_at >= $1::date::timestamp AT TIME ZONE 'UTC' AND starts_at < ($1::date + 1)::timestamp AT TIME ZONE 'UTC'`, day); err != nil {
		return err
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"spell_rollup_intervals"},
		[]string{"starts_at", "status_id", "spells", "seconds", "agents"}, pgx.CopyFromRows(intervals))
	return err
}

// collect reads the rows of a rollup query for day, to copy them in.
func (k *HistoryKeeper) collect(ctx context.Context, sql string, day time.Time) ([][]any, error) {
	rows, err := k.db.pool.Query(ctx, sql, day)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
}

// SpellMonth is a monthly partition of spells.
type SpellMonth struct {
	Table string
	Start time.Time // first instant, UTC
}

// SpellMonths lists the monthly partitions, oldest first.
func (db *DB) SpellMonths(ctx context.Context) ([]SpellMonth, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT c.relname, to_timestamp(substr(c.relname, 9), 'YYYYMM') AT TIME ZONE 'UTC' AT TIME ZONE 'UTC'
		  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		 WHERE i.inhparent = 'spells'::regclass AND c.relname ~ '^spells_p[0-9]{6}$'
		 ORDER BY c.relname`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SpellMonth, error) {
		var m SpellMonth
		err := r.Scan(&m.Table, &m.Start)
		m.Start = time.Date(m.Start.Year(), m.Start.Month(), 1, 0, 0, 0, 0, time.UTC)
		return m, err
	})
}

// Expire exports and drops every month that ended Retention before now.
func (k *HistoryKeeper) Expire(ctx context.Context, now time.Time) error {
	if k.ArchiveDir == "" {
		return errors.New("spell retention needs an archive directory for the months it drops")
	}
	months, err := k.db.SpellMonths(ctx)
	if err != nil {
		return err
	}
	for _, m := range months {
		if !m.Start.AddDate(0, 1, 0).Before(now.Add(-k.Retention)) {
			break
		}
		path := filepath.Join(k.ArchiveDir, fmt.Sprintf("spells-%s.csv", m.Start.Format("2006-01")))
		if err := k.db.ExportSpellMonth(ctx, m.Start, path); err != nil {
			return err
		}
		if _, err := k.locked(ctx, func(tx pgx.Tx) error { return dropSpellMonth(ctx, tx, m) }); err != nil {
			return err
		}
		k.db.Logger.Info("spell month archived and dropped", "month", m.Start.Format("2006-01"), "file", path)
	}
	return nil
}

// ExportSpellMonth writes the spells of the UTC month of start, deleted
// ones included, as CSV with a header (report.spells' stored columns) to
// path: to path.tmp first, synced, then renamed, so a file at path is
// always whole. It reads one partition in a read-only transaction, which
// holds back no event reader (it takes no transaction id).
func (db *DB) ExportSpellMonth(ctx context.Context, start time.Time, path string) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	from := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC)
	sql := fmt.Sprintf(`COPY (
		SELECT s.id, s.agent_id, s.status_id, s.source, s.reason_code, s.message, s.started_at, s.ended_at,
		       (extract(epoch FROM s.duration) * 1000)::bigint AS duration_ms, s.is_current,
		       s.at_capacity_ms, s.idle_ms, s.average_capacity, s.updated_at, s.deleted_at,
		       s.configured_capacity, s.configured_interrupt_capacity
		  FROM spells s
		 WHERE s.started_at >= '%s' AND s.started_at < '%s'
		 ORDER BY s.id) TO STDOUT WITH (FORMAT csv, HEADER)`,
		from.Format(time.RFC3339), from.AddDate(0, 1, 0).Format(time.RFC3339))
	if _, err = conn.Conn().PgConn().CopyTo(ctx, f, sql); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// dropSpellMonth detaches and drops a month's partition and forgets its
// long spells and its current ones (spells_current, migrations/00019: a
// dropped partition fires no row trigger). The rollups of its days stay.
func dropSpellMonth(ctx context.Context, tx pgx.Tx, m SpellMonth) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`
		ALTER TABLE spells DETACH PARTITION %[1]s;
		DROP TABLE %[1]s;
		DELETE FROM spells_long WHERE started_at >= '%[2]s' AND started_at < '%[3]s';
		DELETE FROM spells_current WHERE started_at >= '%[2]s' AND started_at < '%[3]s'`,
		pgx.Identifier{m.Table}.Sanitize(), m.Start.Format(time.RFC3339), m.Start.AddDate(0, 1, 0).Format(time.RFC3339)))
	return err
}
