package db_test

import (
	"encoding/json"
	"io"
	"testing"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/dbtest"
)

// BenchmarkFindPresences10k reads the presence of 10,000 agents in one
// call (the bulk read behind GET /v1/presence?limit=10000), and the same
// with the JSON encoding the HTTP layer adds.
func BenchmarkFindPresences10k(b *testing.B) {
	d := dbtest.MustOpenDB(b)
	if _, err := d.Pool().Exec(ctx, `
		INSERT INTO agents (id, name) SELECT 'a' || lpad(i::text, 5, '0'), 'x' FROM generate_series(0, 9999) i;
		INSERT INTO spells (agent_id, status_id, source, started_at) SELECT id, 'available', 'manual', now() FROM agents;
		ANALYZE`); err != nil {
		b.Fatal(err)
	}
	f := presence.PresenceFilter{Limit: presence.MaxBulkPresence}
	b.Run("Query", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			items, _, err := d.FindPresences(ctx, f)
			if err != nil || len(items) != 10_000 {
				b.Fatal(len(items), err)
			}
		}
	})
	b.Run("QueryAndJSON", func(b *testing.B) {
		for b.Loop() {
			items, _, err := d.FindPresences(ctx, f)
			if err != nil {
				b.Fatal(err)
			}
			if err := json.NewEncoder(io.Discard).Encode(items); err != nil {
				b.Fatal(err)
			}
		}
	})
}
