package main

import (
	"context"
	"encoding/json"
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

// cycle assigns one unit of work to agent and closes it.
type cycle func(ctx context.Context, agent string) error

// cycles runs clients workers for d, each assigning and closing work on its
// own agents in turn (no two workers share an agent, as a router would not
// give one agent's last unit to two callers), and returns assignments per
// second: every assignment is followed by its close, so the database does
// twice as many work changes.
func cycles(ctx context.Context, clients, agents int, d time.Duration, do cycle) (float64, error) {
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
			// Agents w, w+clients, w+2·clients, … < agents, round and round.
			for a := w; ctx.Err() == nil && a < agents; a += clients {
				if err := do(ctx, agentID(a)); err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					return
				}
				done.Add(1)
				if a+clients >= agents {
					a = w - clients
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

func directWork(d *db.DB) cycle {
	return func(ctx context.Context, agent string) error {
		w, err := d.AssignWork(ctx, agent, presence.WorkInput{Channel: "chat", Units: 1})
		if err != nil {
			return err
		}
		_, err = d.CloseWork(ctx, w.ID)
		return err
	}
}

func httpWork(base string, c *http.Client) cycle {
	return func(ctx context.Context, agent string) error {
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
// presence changes measured in the same run, on the same agents:
//
//   - capacity 1: every assignment fills the agent, so it goes busy
//     (automatic) and its close brings it back: two work changes and two
//     spell changes per cycle;
//   - capacity 2: the same work without any presence change.
//
// The cost of a work change over a presence change is the ratio of their
// rates (both are one transaction; a cycle is two).
func scenarioWork(ctx context.Context, e *env, o options) error {
	setCapacity := func(n int) error {
		_, err := e.db.Pool().Exec(ctx, `UPDATE agents SET capacity = $1 WHERE capacity <> $1`, n)
		return err
	}
	// Every agent available and at capacity 1, as seeded.
	if _, err := e.db.Pool().Exec(ctx, `UPDATE agents SET capacity = 1 WHERE capacity <> 1`); err != nil {
		return err
	}
	presenceDirect, err := throughput(ctx, o.clients, o.agents, o.duration, direct(e.db))
	if err != nil {
		return err
	}
	// Back to available everywhere (the toggles leave half the agents busy,
	// manual busy is never overridden, and no spell may stay busy).
	if err := availableAll(ctx, e); err != nil {
		return err
	}
	workDirect, err := cycles(ctx, o.clients, o.agents, o.duration, directWork(e.db))
	if err != nil {
		return err
	}
	if err := availableAll(ctx, e); err != nil {
		return err
	}
	if err := setCapacity(2); err != nil {
		return err
	}
	plainDirect, err := cycles(ctx, o.clients, o.agents, o.duration, directWork(e.db))
	if err != nil {
		return err
	}
	if err := setCapacity(1); err != nil {
		return err
	}
	if err := availableAll(ctx, e); err != nil {
		return err
	}
	fmt.Printf("direct (service, no HTTP), %d clients:\n", o.clients)
	fmt.Printf("  presence changes:                     %6.0f/s\n", presenceDirect)
	fmt.Printf("  assign+close, automatic busy & back:  %6.0f assignments/s = %6.0f work changes/s (%.0f%% of the presence rate)\n",
		workDirect, 2*workDirect, 100*2*workDirect/presenceDirect)
	fmt.Printf("  assign+close, no presence change:     %6.0f assignments/s = %6.0f work changes/s (%.0f%% of the presence rate)\n",
		plainDirect, 2*plainDirect, 100*2*plainDirect/presenceDirect)

	n, err := e.startNode(ctx)
	if err != nil {
		return err
	}
	c := httpClient(o.clients)
	presenceHTTP, err := throughput(ctx, o.clients, o.agents, o.duration, viaHTTP(n.url, c))
	if err != nil {
		return err
	}
	if err := availableAll(ctx, e); err != nil {
		return err
	}
	workHTTP, err := cycles(ctx, o.clients, o.agents, o.duration, httpWork(n.url, c))
	if err != nil {
		return err
	}
	if err := availableAll(ctx, e); err != nil {
		return err
	}
	if err := setCapacity(2); err != nil {
		return err
	}
	plainHTTP, err := cycles(ctx, o.clients, o.agents, o.duration, httpWork(n.url, c))
	if err != nil {
		return err
	}
	if err := setCapacity(1); err != nil {
		return err
	}
	fmt.Printf("through HTTP, %d clients:\n", o.clients)
	fmt.Printf("  presence changes (PUT presence):      %6.0f/s\n", presenceHTTP)
	fmt.Printf("  POST work + DELETE, automatic busy:   %6.0f assignments/s = %6.0f requests/s (%.0f%% of the presence rate)\n",
		workHTTP, 2*workHTTP, 100*2*workHTTP/presenceHTTP)
	fmt.Printf("  POST work + DELETE, no presence change: %4.0f assignments/s = %6.0f requests/s (%.0f%% of the presence rate)\n",
		plainHTTP, 2*plainHTTP, 100*2*plainHTTP/presenceHTTP)
	return nil
}

// availableAll closes any work left open (a run that ends mid-cycle) and
// puts every agent back in available, in one statement each (the spell
// change of SetPresence, for every agent at once), as a seed would.
func availableAll(ctx context.Context, e *env) error {
	if _, err := e.db.Pool().Exec(ctx, `UPDATE work_items SET closed_at = clock_timestamp(), close_reason = 'closed'
		WHERE closed_at IS NULL`); err != nil {
		return err
	}
	_, err := e.db.Pool().Exec(ctx, `
		WITH closed AS (
			UPDATE spells SET ended_at = clock_timestamp(), updated_at = clock_timestamp()
			WHERE ended_at IS NULL AND status_id <> 'available'
			RETURNING agent_id, ended_at)
		INSERT INTO spells (agent_id, status_id, source, started_at, updated_at)
		SELECT agent_id, 'available', 'manual', ended_at, ended_at FROM closed`)
	return err
}
