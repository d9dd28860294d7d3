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
			flip := map[int]bool{}
			for i := w; ctx.Err() == nil; i += clients {
				a := i % agents
				status := "busy"
				if flip[a] {
					status = "available"
				}
				flip[a] = !flip[a]
				t0 := time.Now()
				if err := do(ctx, agentID(a), status); err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					return
				}
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
// A first direct run, not counted, touches every seeded agent and spell:
// measured first, the direct figure paid for that and came out below
// HTTP's. The direct run is then made before and after the HTTP runs, and
// the ceiling is their mean: throughput drifts down as the run goes on
// (the log and the spells grow, autovacuum comes by; before/after differed
// by up to 25 %), and the HTTP runs sit between them. The ratio to the
// better of the two is printed too. Then one client, changes one after the
// other, alternating between the two nodes: what group commit costs a
// change that has no company (target: p50 no worse).
func scenarioPresence(ctx context.Context, e *env, o options) error {
	if _, err := throughput(ctx, o.clients, o.agents, min(o.duration, 3*time.Second), direct(e.db), nil); err != nil {
		return err
	}
	before, err := throughput(ctx, o.clients, o.agents, o.duration, direct(e.db), nil)
	if err != nil {
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
	var perTxLat, groupedLat latencies
	httpTx, err := throughput(ctx, o.clients, o.agents, o.duration, viaHTTP(perTx.url, perTxClient), &perTxLat)
	if err != nil {
		return err
	}
	httpGC, err := throughput(ctx, o.clients, o.agents, o.duration, viaHTTP(grouped.url, groupedClient), &groupedLat)
	if err != nil {
		return err
	}
	after, err := throughput(ctx, o.clients, o.agents, o.duration, direct(e.db), nil)
	if err != nil {
		return err
	}
	ceiling := (before + after) / 2
	fmt.Printf("direct (pgx, no HTTP), a transaction per change: %7.0f changes/s (mean of the runs before and after HTTP: %.0f, %.0f)\n", ceiling, before, after)
	fmt.Printf("through HTTP, a transaction per change:          %7.0f changes/s = %.0f%% of the direct ceiling (target ≥ 70%%); %.0f%% of the better direct run\n",
		httpTx, 100*httpTx/ceiling, 100*httpTx/max(before, after))
	fmt.Printf("  latency: %s\n", perTxLat.summary())
	fmt.Printf("through HTTP, group commit:                      %7.0f changes/s = %.2f× the direct ceiling (target ≥ 2×); %.2f× the better direct run\n",
		httpGC, httpGC/ceiling, httpGC/max(before, after))
	fmt.Printf("  latency: %s\n", groupedLat.summary())

	// One client: alternate the nodes, a quarter of a run at a time, so
	// that drift and neighbours weigh on both alike.
	var oneTx, oneGC latencies
	for range 2 {
		if _, err := throughput(ctx, 1, o.agents, o.duration/4, viaHTTP(perTx.url, perTxClient), &oneTx); err != nil {
			return err
		}
		if _, err := throughput(ctx, 1, o.agents, o.duration/4, viaHTTP(grouped.url, groupedClient), &oneGC); err != nil {
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
	pool := e.db.Pool()
	exec := func(sql string) error { _, err := pool.Exec(ctx, sql); return err }
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
	if err := pool.QueryRow(ctx, `SELECT pg_get_functiondef('event_append'::regproc)`).Scan(&original); err != nil {
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
