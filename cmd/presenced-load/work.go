//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
)

// agentOp is one operation on an agent; n counts the earlier operations of
// this worker on that agent (a presence toggle uses it to alternate).
type agentOp func(ctx context.Context, agent string, n int) error

// rate runs clients workers for d over the agents [lo, hi): worker w takes
// agents lo+w, lo+w+clients, … round and round, so no two workers ever
// share an agent (as a router would not give one agent's last unit to two
// callers, and so that no run waits on another's row lock). It returns
// operations per second.
func rate(ctx context.Context, clients, lo, hi int, d time.Duration, op agentOp) (float64, error) {
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
			seen := map[int]int{}
			for a := lo + w; ctx.Err() == nil && a < hi; a += clients {
				if err := op(ctx, agentID(a), seen[a]); err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					return
				}
				seen[a]++
				done.Add(1)
				if a+clients >= hi {
					a = lo + w - clients
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

// toggle is a presence change busy ↔ available (every call a real change).
func toggle(do change) agentOp {
	return func(ctx context.Context, agent string, n int) error {
		status := presence.StatusBusy
		if n%2 == 1 {
			status = presence.StatusAvailable
		}
		return do(ctx, agent, status)
	}
}

// directWork assigns one unit and closes it, through the service.
func directWork(d *db.DB) agentOp {
	return func(ctx context.Context, agent string, _ int) error {
		w, err := d.AssignWork(ctx, agent, presence.WorkInput{Channel: "chat", Units: 1})
		if err != nil {
			return err
		}
		_, err = d.CloseWork(ctx, w.ID)
		return err
	}
}

// httpWork assigns one unit and closes it: POST work, DELETE work.
func httpWork(base string, c *http.Client) agentOp {
	return func(ctx context.Context, agent string, _ int) error {
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/agents/"+agent+"/work", strings.NewReader(`{"channel":"chat","units":1}`))
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		var w struct {
			ID string `json:"id"`
		}
		err = json.NewDecoder(res.Body).Decode(&w)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 201 || err != nil {
			return fmt.Errorf("POST work: %d %v", res.StatusCode, err)
		}
		req, _ = http.NewRequestWithContext(ctx, "DELETE", base+"/v1/work/"+w.ID, nil)
		if res, err = c.Do(req); err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("DELETE work: %d", res.StatusCode)
		}
		return nil
	}
}

// scenarioWork: work assignments per second (each one closed again) with
// 16 clients, direct through the service and through HTTP, against plain
// presence changes, in alternating rounds so that the noise of a shared
// machine hits all three alike:
//
//   - presence: a presence change (available ↔ busy) on the first half of
//     the agents;
//   - work, automatic: assign + close of 1 unit on the first half
//     (capacity 1): every assignment fills the agent, so it goes busy
//     (automatic) and its close brings it back;
//   - work, plain: the same on the second half (capacity 2): no presence
//     change.
//
// A work change and a presence change are one transaction (or request)
// each; an assignment cycle is two. The overhead of work over presence is
// the ratio of their rates in the same round.
func scenarioWork(ctx context.Context, e *env, o options) error {
	half := o.agents / 2
	if _, err := e.sql.Exec(ctx, `UPDATE agents SET capacity = CASE WHEN id < $1 THEN 1 ELSE 2 END`, agentID(half)); err != nil {
		return err
	}
	d := o.duration / 2
	const rounds = 3
	type figures struct{ presence, auto, plain float64 }
	measure := func(name string, change change, work agentOp) error {
		var all []figures
		for r := range rounds {
			if err := availableAll(ctx, e); err != nil {
				return err
			}
			var f figures
			var err error
			if f.presence, err = rate(ctx, o.clients, 0, half, d, toggle(change)); err != nil {
				return err
			}
			if err := availableAll(ctx, e); err != nil {
				return err
			}
			if f.auto, err = rate(ctx, o.clients, 0, half, d, work); err != nil {
				return err
			}
			if f.plain, err = rate(ctx, o.clients, half, o.agents, d, work); err != nil {
				return err
			}
			fmt.Printf("%s round %d: presence %5.0f/s | assign+close with automatic busy & back %4.0f/s (%4.0f work changes/s = %3.0f%%) | without %4.0f/s (%4.0f/s = %3.0f%%)\n",
				name, r+1, f.presence, f.auto, 2*f.auto, 100*2*f.auto/f.presence, f.plain, 2*f.plain, 100*2*f.plain/f.presence)
			all = append(all, f)
		}
		span := func(get func(figures) float64) string {
			v := make([]float64, len(all))
			for i, f := range all {
				v[i] = get(f)
			}
			return fmt.Sprintf("%.0f–%.0f", slices.Min(v), slices.Max(v))
		}
		fmt.Printf("%s, %d clients, %d rounds of %s: presence changes %s/s; assignments/s with automatic presence %s (work changes at %s%% of the presence rate), without %s (%s%%)\n",
			name, o.clients, rounds, d, span(func(f figures) float64 { return f.presence }),
			span(func(f figures) float64 { return f.auto }), span(func(f figures) float64 { return 200 * f.auto / f.presence }),
			span(func(f figures) float64 { return f.plain }), span(func(f figures) float64 { return 200 * f.plain / f.presence }))
		return nil
	}
	if err := measure("direct", direct(e.db), directWork(e.db)); err != nil {
		return err
	}
	n, err := e.startNode(ctx)
	if err != nil {
		return err
	}
	c := httpClient(o.clients)
	return measure("http", viaHTTP(n.url, c), httpWork(n.url, c))
}

// availableAll closes any work left open (a run that ends mid-cycle) and
// puts every agent back in available, in one statement each (the spell
// change of SetPresence, for every agent at once), as a seed would.
func availableAll(ctx context.Context, e *env) error {
	if _, err := e.sql.Exec(ctx, `UPDATE work_items SET closed_at = clock_timestamp(), close_reason = 'closed'
		WHERE closed_at IS NULL`); err != nil {
		return err
	}
	_, err := e.sql.Exec(ctx, `
		WITH closed AS (
			UPDATE spells SET ended_at = clock_timestamp(), updated_at = clock_timestamp()
			WHERE ended_at IS NULL AND status_id <> 'available'
			RETURNING agent_id, ended_at)
		INSERT INTO spells (agent_id, status_id, source, started_at, updated_at)
		SELECT agent_id, 'available', 'manual', ended_at, ended_at FROM closed`)
	return err
}
