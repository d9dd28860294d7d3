package db_test

import (
	"fmt"
	"testing"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/dbtest"
)

// BenchmarkWork measures one client's work changes against a plain
// presence change on the test cluster (fsync off: the cost of the
// statements, triggers and round trips, not of the disk):
//
//	SetPresence           a presence change (available ↔ busy), for reference
//	AssignClose/Auto      assign + close of 1 unit at capacity 1: automatic busy and back
//	AssignClose/NoChange  the same at capacity 2: no presence change
//
// One op is one assign + close (two transactions).
//
// Run: go test -run '^$' -bench BenchmarkWork -benchtime 3s ./db/
func BenchmarkWork(b *testing.B) {
	d := dbtest.MustOpenDB(b)
	const agents = 1000
	if _, err := d.Pool().Exec(ctx, fmt.Sprintf(`
		INSERT INTO agents (id, name) SELECT 'a' || lpad(i::text, 5, '0'), 'x' FROM generate_series(0, %d) i;
		INSERT INTO spells (agent_id, status_id, source, started_at) SELECT id, 'available', 'manual', now() FROM agents;
		ANALYZE`, agents-1)); err != nil {
		b.Fatal(err)
	}
	id := func(i int) string { return fmt.Sprintf("a%05d", i%agents) }
	b.Run("SetPresence", func(b *testing.B) {
		i := 0
		for b.Loop() {
			status := presence.StatusBusy
			if (i/agents)%2 == 1 {
				status = presence.StatusAvailable
			}
			if _, err := d.SetPresence(ctx, id(i), presence.PresenceChange{Status: status}); err != nil {
				b.Fatal(err)
			}
			i++
		}
		// Leave every agent available for the work runs.
		for j := range agents {
			if _, err := d.SetPresence(ctx, id(j), presence.PresenceChange{Status: presence.StatusAvailable}); err != nil {
				b.Fatal(err)
			}
		}
	})
	assignClose := func(b *testing.B) {
		i := 0
		for b.Loop() {
			w, err := d.AssignWork(ctx, id(i), presence.WorkInput{Channel: "chat", Units: 1})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := d.CloseWork(ctx, w.ID); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}
	b.Run("AssignClose/Auto", assignClose)
	if _, err := d.Pool().Exec(ctx, `UPDATE agents SET capacity = 2`); err != nil {
		b.Fatal(err)
	}
	b.Run("AssignClose/NoChange", assignClose)
}
