package db_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
)

// spellsCurrentAgrees fails t unless spells_current (migrations/00019)
// lists exactly the spells whose ended_at is NULL, by agent and key.
func spellsCurrentAgrees(t *testing.T, d *db.DB, when string) {
	t.Helper()
	var extra, missing int
	ok(t, d.Pool().QueryRow(ctx, `SELECT
		(SELECT count(*) FROM (SELECT agent_id, spell_id, started_at FROM spells_current
		                       EXCEPT SELECT agent_id, id, started_at FROM spells WHERE ended_at IS NULL) x),
		(SELECT count(*) FROM (SELECT agent_id, id, started_at FROM spells WHERE ended_at IS NULL
		                       EXCEPT SELECT agent_id, spell_id, started_at FROM spells_current) x)`).Scan(&extra, &missing))
	if extra != 0 || missing != 0 {
		t.Errorf("%s: spells_current has %d keys that are not current spells and misses %d", when, extra, missing)
	}
}

func sqlstate(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return fmt.Sprint(err)
}

// Every writer of spells keeps spells_current right: presence changes
// (alone and in batches), text-only changes, an agent's deletion, and SQL
// by hand (a current spell inserted in an earlier month, moved across
// months, closed and reopened, deleted for good), and the retention's drop
// of a month. A second current spell of an agent is refused whatever
// month it is in.
func TestSpellsCurrentFollowsEveryWriter(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	for _, a := range []string{"a1", "a2", "a3", "a4"} {
		mustAgent(t, d, a)
	}
	exec := func(sql string, args ...any) error { _, err := d.Pool().Exec(ctx, sql, args...); return err }
	ok(t, exec(`SELECT spells_partitions_ensure('2026-01-01Z', '2026-04-01Z')`))

	// Presence changes: a new spell, the same status with a new text, a
	// batch of two changes of one agent.
	_, err := d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "busy"})
	ok(t, err)
	_, err = d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "busy", Message: ptr("m")})
	ok(t, err)
	_, errs := d.RunPresenceBatch([]string{"a1", "a1"}, []presence.PresenceChange{{Status: "meal"}, {Status: "away"}})
	for _, err := range errs {
		ok(t, err)
	}
	spellsCurrentAgrees(t, d, "presence changes")

	// A current spell in an earlier month (an import): the next change
	// finds and closes it there.
	ok(t, exec(`INSERT INTO spells (agent_id, status_id, source, started_at) VALUES ('a2', 'busy', 'manual', '2026-01-10Z')`))
	spellsCurrentAgrees(t, d, "a current spell imported into January")
	rec, err := d.SetPresence(ctx, "a2", presence.PresenceChange{Status: "meal"})
	ok(t, err)
	if spells := currentSpells(t, d); spells["a2"] != 1 || rec.Since.Year() == 2026 && rec.Since.Month() == time.January {
		t.Errorf("a2 after its change: %d current spells, record %+v", spells["a2"], rec)
	}
	var closed int
	ok(t, d.Pool().QueryRow(ctx, `SELECT count(*) FROM spells WHERE agent_id = 'a2' AND started_at = '2026-01-10Z' AND ended_at IS NOT NULL`).Scan(&closed))
	if closed != 1 {
		t.Errorf("a2's January spell was not closed")
	}
	spellsCurrentAgrees(t, d, "the change of a2")

	// A second current spell, in the same month, in an earlier one and in
	// a later one: refused.
	ok(t, exec(`INSERT INTO spells (agent_id, status_id, source, started_at) VALUES ('a3', 'busy', 'manual', '2026-02-10Z')`))
	for _, at := range []string{"2026-02-11Z", "2026-01-05Z", "2026-03-05Z"} {
		if err := exec(`INSERT INTO spells (agent_id, status_id, source, started_at) VALUES ('a3', 'away', 'manual', $1)`, at); sqlstate(err) != "23P01" {
			t.Errorf("a second current spell at %s: %v, want 23P01", at, err)
		}
	}
	// Moved within its month, then to another month (a delete and an
	// insert between partitions), then closed, reopened, deleted for good.
	for i, sql := range []string{
		`UPDATE spells SET started_at = '2026-02-09Z' WHERE agent_id = 'a3' AND ended_at IS NULL`,
		`UPDATE spells SET started_at = '2026-03-01Z' WHERE agent_id = 'a3' AND ended_at IS NULL`,
		`UPDATE spells SET ended_at = '2026-03-02Z' WHERE agent_id = 'a3' AND started_at = '2026-03-01Z'`,
		`UPDATE spells SET ended_at = NULL WHERE agent_id = 'a3' AND started_at = '2026-03-01Z'`,
		`DELETE FROM spells WHERE agent_id = 'a3' AND ended_at IS NULL`,
	} {
		ok(t, exec(sql))
		spellsCurrentAgrees(t, d, fmt.Sprintf("a3, step %d", i))
	}
	_, err = d.SetPresence(ctx, "a3", presence.PresenceChange{Status: "busy"})
	ok(t, err)
	spellsCurrentAgrees(t, d, "a3's change after its current spell was deleted")

	// Deleting an agent closes its current spell.
	_, err = d.SetPresence(ctx, "a4", presence.PresenceChange{Status: "busy"})
	ok(t, err)
	ok(t, d.DeleteAgent(ctx, "a4"))
	spellsCurrentAgrees(t, d, "a deleted agent")

	// The retention drops January with a current spell in it; the agent's
	// next change opens a new one.
	mustAgent(t, d, "a5")
	ok(t, exec(`INSERT INTO spells (agent_id, status_id, source, started_at) VALUES ('a5', 'busy', 'manual', '2026-01-03Z')`))
	k := db.NewHistoryKeeper(d, 24*time.Hour, t.TempDir())
	ok(t, k.Expire(ctx, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)))
	spellsCurrentAgrees(t, d, "January dropped")
	_, err = d.SetPresence(ctx, "a5", presence.PresenceChange{Status: "meal"})
	ok(t, err)
	spellsCurrentAgrees(t, d, "a5's change after January was dropped")
}

// Writers of one agent at once, each opening a current spell in its own
// month (two by hand, next month and the one after, and presence changes
// now): spells_current's primary key and the agent lock let them through
// one at a time, every refused one with 23P01, and the agent ends with
// one current spell that spells_current points to.
func TestSpellsCurrentConcurrent(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "c1")
	_, err := d.Pool().Exec(ctx, `SELECT spells_partitions_ensure(now(), now() + interval '3 months')`)
	ok(t, err)
	for round := range 5 {
		// A clean timeline: no current spell, every spell deleted.
		_, err := d.Pool().Exec(ctx, `UPDATE spells SET ended_at = greatest(now(), started_at) WHERE agent_id = 'c1' AND ended_at IS NULL;
			UPDATE spells SET deleted_at = now() WHERE agent_id = 'c1' AND deleted_at IS NULL`)
		ok(t, err)
		spellsCurrentAgrees(t, d, fmt.Sprintf("before round %d", round))
		var wg sync.WaitGroup
		var mu sync.Mutex
		committed := 0
		for months := 1; months <= 2; months++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tx, err := d.Pool().Begin(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				defer tx.Rollback(ctx)
				_, err = tx.Exec(ctx, `INSERT INTO spells (agent_id, status_id, source, started_at)
					VALUES ('c1', 'busy', 'manual', now() + $1 * interval '1 month')`, months)
				if err == nil {
					time.Sleep(time.Duration(10*months) * time.Millisecond)
					err = tx.Commit(ctx)
				}
				switch {
				case err == nil:
					mu.Lock()
					committed++
					mu.Unlock()
				case sqlstate(err) != "23P01":
					t.Errorf("writer %d months ahead: %v", months, err)
				}
			}()
		}
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := d.SetPresence(ctx, "c1", presence.PresenceChange{Status: "meal"}); err != nil {
					t.Errorf("presence change: %v", err)
				}
			}()
		}
		wg.Wait()
		if committed > 1 {
			t.Errorf("round %d: %d hand-written current spells committed", round, committed)
		}
		if n := currentSpells(t, d)["c1"]; n != 1 {
			t.Errorf("round %d: c1 has %d current spells", round, n)
		}
		spellsCurrentAgrees(t, d, fmt.Sprintf("round %d", round))
	}
}
