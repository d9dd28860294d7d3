package db_test

import (
	"testing"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/dbtest"
)

// The bulk read is one statement for every filter; a generic plan of it
// cannot know which filters are set, and for the whole floor it took
// 2.5 times as long as the custom plan. It must be planned for its
// parameters on every run, however often a connection runs it.
func TestFindPresencesNeverGenericPlan(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	if _, err := d.Pool().Exec(ctx, `
		INSERT INTO agents (id, name) SELECT 'a' || lpad(i::text, 4, '0'), 'x' FROM generate_series(0, 499) i;
		INSERT INTO spells (agent_id, status_id, source, started_at) SELECT id, 'available', 'manual', now() FROM agents;
		ANALYZE`); err != nil {
		t.Fatal(err)
	}
	// More runs than the pool has connections times the five custom plans
	// after which PostgreSQL may switch a prepared statement to generic.
	for range 40 {
		items, _, err := d.FindPresences(ctx, presence.PresenceFilter{Limit: presence.MaxBulkPresence})
		ok(t, err)
		if len(items) != 500 {
			t.Fatalf("items: %d", len(items))
		}
	}
	conns := d.Pool().AcquireAllIdle(ctx)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	if len(conns) == 0 {
		t.Fatal("no idle connection to inspect")
	}
	for _, c := range conns {
		var generic int64
		ok(t, c.QueryRow(ctx, `SELECT coalesce(sum(generic_plans), 0) FROM pg_prepared_statements
			WHERE statement LIKE '-- name: PresenceList %'`).Scan(&generic))
		if generic != 0 {
			t.Fatalf("the bulk read ran %d times with a generic plan", generic)
		}
	}
}
