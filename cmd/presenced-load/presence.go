//go:build unix

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
)

// change makes one presence change of agent to status.
type change func(ctx context.Context, agent, status string) error

// throughput runs clients workers for d, each toggling its own agents
// between available and busy (every call a real change: a closed and an
// opened spell), and returns changes per second. With lat, it collects
// the time each change took.
func throughput(ctx context.Context, clients, agents int, d time.Duration, do change, lat *latencies) (float64, error) {
	return throughputFrom(ctx, clients, agents, d, do, lat, nil)
}

// throughputFrom is throughput continuing from busy, which says which
// agents are busy now (nil: none is), and keeps it up to date. Runs that
// share it change every agent for real: with a fresh start each, a run
// sent "busy" to the agents a run before had left busy, and a change to
// the same status writes nothing (it was the later runs that did that,
// and they came out faster).
func throughputFrom(ctx context.Context, clients, agents int, d time.Duration, do change, lat *latencies, busy []atomic.Bool) (float64, error) {
	if busy == nil {
		busy = make([]atomic.Bool, agents)
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var done atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ctx.Err() == nil; i += clients {
				a := i % agents
				status := "busy"
				if busy[a].Load() {
					status = "available"
				}
				t0 := time.Now()
				if err := do(ctx, agentID(a), status); err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					return
				}
				busy[a].Store(status == "busy")
				if lat != nil {
					lat.add(time.Since(t0))
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

func direct(d *db.DB) change {
	return func(ctx context.Context, agent, status string) error {
		_, err := d.SetPresence(ctx, agent, presence.PresenceChange{Status: status})
		return err
	}
}

func viaHTTP(base string, c *http.Client) change {
	put := viaHTTPBody(base, c)
	return func(ctx context.Context, agent, status string) error {
		return put(ctx, agent, `{"status":"`+status+`"}`)
	}
}

// viaHTTPBody PUTs a presence body.
func viaHTTPBody(base string, c *http.Client) func(ctx context.Context, agent, body string) error {
	return func(ctx context.Context, agent, body string) error {
		req, _ := http.NewRequestWithContext(ctx, "PUT", base+"/v1/agents/"+agent+"/presence", strings.NewReader(body))
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("PUT presence: %d", res.StatusCode)
		}
		return nil
	}
}

// scenarioPresence: presence changes per second, 16 clients over 10,000
// agents, triggers and NOTIFY included throughout:
//   - issued directly with pgx, one transaction per change (the ceiling of
//     that way: NOTIFY's commit lock);
//   - through HTTP on a node with group commit off (a transaction per
//     change, as before group commit);
//   - through HTTP on a node with group commit (the default).
//
// First every agent's seeded spell is replaced twice, in one statement
// each: the first change of a seeded row costs more than the later ones,
// and a run that came first paid for it (a short warm-up run left most of
// the 10,000 agents untouched, so the direct run after HTTP came out up
// to three times the one before on a busy machine); then VACUUM, so that
// autovacuum does not clean up after that in the first run. Then the three ways
// take turns, two rounds of half a run each, so that drift (the log and
// the spells grow, autovacuum comes by) and the neighbours on a shared
// machine weigh on all three alike. Then one client, changes one after
// the other, alternating between the two nodes: what group commit costs a
// change that has no company (target: p50 no worse).
func scenarioPresence(ctx context.Context, e *env, o options) error {
	for _, status := range []string{"busy", "available"} {
		if _, err := e.sql.Exec(ctx, `SELECT count(*) FROM agents a, presence_change(a.id, $1, 'manual', NULL, NULL, NULL)`, status); err != nil {
			return err
		}
	}
	// The dead rows of those changes, now rather than by autovacuum in
	// the middle of the first run.
	if _, err := e.sql.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		return err
	}
	perTx, err := e.startNode(ctx, "--presence-batch", "1")
	if err != nil {
		return err
	}
	grouped, err := e.startNode(ctx)
	if err != nil {
		return err
	}
	perTxClient, groupedClient := httpClient(o.clients), httpClient(o.clients)
	ways := []struct {
		do      change
		pids    []int // the node serving it, for its CPU
		runs    []float64
		lat     latencies
		cpu     cpuUse
		changes float64
	}{{do: direct(e.db)}, {do: viaHTTP(perTx.url, perTxClient), pids: []int{perTx.cmd.Process.Pid}},
		{do: viaHTTP(grouped.url, groupedClient), pids: []int{grouped.cmd.Process.Pid}}}
	busy := make([]atomic.Bool, o.agents) // after the warm-up, every agent is available
	for range 2 {
		for i := range ways {
			w := &ways[i]
			cpu0 := e.cpu(w.pids...)
			got, err := throughputFrom(ctx, o.clients, o.agents, o.duration/2, w.do, &w.lat, busy)
			if err != nil {
				return err
			}
			w.cpu.add(e.cpu(w.pids...).since(cpu0, w.pids...))
			w.changes += got * (o.duration / 2).Seconds()
			w.runs = append(w.runs, got)
		}
	}
	cpuPer := func(i int) string {
		if e.cluster == nil {
			return "" // PostgreSQL's processes are not ours to see
		}
		w := &ways[i]
		per := func(d time.Duration) float64 { return float64(d.Microseconds()) / w.changes }
		return fmt.Sprintf("; CPU a change %.0f µs = PostgreSQL %.0f + node %.0f + load clients %.0f",
			per(w.cpu.total()), per(w.cpu.pg), per(w.cpu.nodes), per(w.cpu.load))
	}
	mean := func(xs []float64) float64 { return (xs[0] + xs[1]) / 2 }
	ceiling, httpTx, httpGC := mean(ways[0].runs), mean(ways[1].runs), mean(ways[2].runs)
	fmt.Printf("direct (pgx, no HTTP), a transaction per change: %6.0f changes/s (runs: %.0f, %.0f)\n", ceiling, ways[0].runs[0], ways[0].runs[1])
	fmt.Printf("  latency: %s%s\n", ways[0].lat.summary(), cpuPer(0))
	fmt.Printf("through HTTP, a transaction per change:          %6.0f changes/s = %.0f%% of the direct ceiling (target ≥ 70%%) (runs: %.0f, %.0f)\n",
		httpTx, 100*httpTx/ceiling, ways[1].runs[0], ways[1].runs[1])
	fmt.Printf("  latency: %s%s\n", ways[1].lat.summary(), cpuPer(1))
	fmt.Printf("through HTTP, group commit:                      %6.0f changes/s = %.2f× the direct ceiling (target ≥ 2×) (runs: %.0f, %.0f)\n",
		httpGC, httpGC/ceiling, ways[2].runs[0], ways[2].runs[1])
	fmt.Printf("  latency: %s%s\n", ways[2].lat.summary(), cpuPer(2))

	// One client: alternate the nodes, a quarter of a run at a time.
	var oneTx, oneGC latencies
	for range 2 {
		if _, err := throughputFrom(ctx, 1, o.agents, o.duration/4, viaHTTP(perTx.url, perTxClient), &oneTx, busy); err != nil {
			return err
		}
		if _, err := throughputFrom(ctx, 1, o.agents, o.duration/4, viaHTTP(grouped.url, groupedClient), &oneGC, busy); err != nil {
			return err
		}
	}
	fmt.Printf("1 client through HTTP, a transaction per change: %s\n", oneTx.summary())
	fmt.Printf("1 client through HTTP, group commit:             %s  (target: p50 no worse)\n", oneGC.summary())
	return nil
}

// scenarioNotify: what the event trigger and NOTIFY cost. Every
// transaction that notifies takes a cluster-wide lock at commit; this
// compares the same change without the event triggers (the other triggers
// stay: they keep the spell's figures), with the event row but no NOTIFY,
// and with both.
func scenarioNotify(ctx context.Context, e *env, o options) error {
	exec := func(sql string) error { _, err := e.sql.Exec(ctx, sql); return err }
	eventTriggers := func(on bool) error {
		verb := "DISABLE"
		if on {
			verb = "ENABLE"
		}
		return exec("ALTER TABLE spells " + verb + " TRIGGER spells_event; ALTER TABLE agents " + verb + " TRIGGER agents_event")
	}
	withoutNotify := `CREATE OR REPLACE FUNCTION event_append(p_topic text, p_kind text, p_body jsonb) RETURNS void
		LANGUAGE plpgsql AS $$ BEGIN INSERT INTO events (topic, kind, body) VALUES (p_topic, p_kind, p_body); END $$`
	var original string
	if err := e.sql.QueryRow(ctx, `SELECT pg_get_functiondef('event_append'::regproc)`).Scan(&original); err != nil {
		return err
	}
	for _, clients := range []int{4, o.clients} {
		if err := eventTriggers(false); err != nil {
			return err
		}
		bare, err := throughput(ctx, clients, o.agents, o.duration, direct(e.db), nil)
		if err2 := eventTriggers(true); err == nil {
			err = err2
		}
		if err != nil {
			return err
		}
		if err := exec(withoutNotify); err != nil {
			return err
		}
		rowOnly, err := throughput(ctx, clients, o.agents, o.duration, direct(e.db), nil)
		if rerr := exec(original); rerr != nil {
			return rerr
		}
		if err != nil {
			return err
		}
		full, err := throughput(ctx, clients, o.agents, o.duration, direct(e.db), nil)
		if err != nil {
			return err
		}
		fmt.Printf("%2d clients: no event trigger %6.0f/s | event row %6.0f/s (%.0f%%) | event row + NOTIFY %6.0f/s (%.0f%%)\n",
			clients, bare, rowOnly, 100*rowOnly/bare, full, 100*full/bare)
	}
	return nil
}
