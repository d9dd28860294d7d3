package db_test

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/dbtest"
)

// BenchmarkFindPresences10k reads the presence of 10,000 agents in one
// call (the bulk read behind GET /v1/presence?limit=10000): as records
// kept (Query), as records handed over one at a time (Each, what the HTTP
// handler uses), and kept and then encoded by encoding/json (the HTTP
// layer writes the body without reflection: BenchmarkPresenceListJSON in
// package http).
//
// Besides wall time it reports the CPU spent per read by this process
// (go-cpu-ms: decoding, allocation, GC) and by the PostgreSQL backends of
// the pool (pg-cpu-ms: planning, executing, sending): on a busy machine
// the wall time mostly measures the neighbours, the CPU times do not.
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
		defer reportCPU(b, d.Pool())()
		for b.Loop() {
			items, _, err := d.FindPresences(ctx, f)
			if err != nil || len(items) != 10_000 {
				b.Fatal(len(items), err)
			}
		}
	})
	b.Run("Each", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b, d.Pool())()
		for b.Loop() {
			n := 0
			if _, err := d.EachPresence(ctx, f, func(*presence.Record) error { n++; return nil }); err != nil || n != 10_000 {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("QueryAndJSON", func(b *testing.B) {
		defer reportCPU(b, d.Pool())()
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

// reportCPU starts counting the CPU time of this process and of pool's
// backends; the returned function reports both per op. Linux only (it
// reads /proc); elsewhere it reports nothing.
func reportCPU(b *testing.B, pool *pgxpool.Pool) func() { return reportCPUPer(b, pool, 1) }

// reportCPUPer is reportCPU for ops that each do per things: it reports
// the CPU per thing.
func reportCPUPer(b *testing.B, pool *pgxpool.Pool, per int) func() {
	pids := func() []int {
		rows, err := pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
		if err != nil {
			b.Fatal(err)
		}
		var out []int
		for rows.Next() {
			var pid int
			if err := rows.Scan(&pid); err != nil {
				b.Fatal(err)
			}
			out = append(out, pid)
		}
		return out
	}
	// Backends that start or end in between are missed; the pool keeps
	// its connections for the length of a benchmark.
	backends := func(pids []int) (time.Duration, bool) {
		var sum time.Duration
		for _, pid := range pids {
			raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid)) // ns on CPU, first field
			if err != nil {
				return 0, false
			}
			var ns int64
			if _, err := fmt.Sscan(string(raw), &ns); err != nil {
				return 0, false
			}
			sum += time.Duration(ns)
		}
		return sum, true
	}
	self := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	// Open every connection first, so the pids are those the reads use.
	var conns []*pgxpool.Conn
	for range pool.Config().MaxConns {
		c, err := pool.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
	ps := pids()
	pg0, ok := backends(ps)
	go0 := self()
	return func() {
		n := float64(b.N * per)
		b.ReportMetric(float64(self()-go0)/n/1e6, "go-cpu-ms/op")
		if pg1, ok1 := backends(ps); ok && ok1 {
			b.ReportMetric(float64(pg1-pg0)/n/1e6, "pg-cpu-ms/op")
		}
	}
}
