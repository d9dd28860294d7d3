package db_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

// collector gathers what a listener publishes.
type collector struct {
	mu     sync.Mutex
	events []presence.Event
	more   chan struct{}
}

func newCollector() *collector { return &collector{more: make(chan struct{}, 1)} }

func (c *collector) publish(ev presence.Event) {
	c.mu.Lock()
	c.events = append(c.events, ev)
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
}

func (c *collector) snapshot() []presence.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]presence.Event(nil), c.events...)
}

// waitFor waits until at least n events arrived, or fails after timeout.
func (c *collector) waitFor(t *testing.T, n int, timeout time.Duration) []presence.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if evs := c.snapshot(); len(evs) >= n {
			return evs
		}
		select {
		case <-c.more:
		case <-deadline:
			t.Fatalf("got %d events, want %d", len(c.snapshot()), n)
		}
	}
}

func mustListen(t *testing.T, d *db.DB, c *collector) *db.Listener {
	t.Helper()
	l := db.NewListener(d, c.publish)
	l.PollInterval = 500 * time.Millisecond
	ok(t, l.Open(ctx))
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func TestEventsFromTriggers(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	c := newCollector()
	mustListen(t, d, c)

	mustAgent(t, d, "john.doe")                                                          // presence (new record)
	rec, err := d.SetPresence(ctx, "john.doe", presence.PresenceChange{Status: "break"}) // presence: one event for close + open
	ok(t, err)
	_, err = d.SetPresence(ctx, "john.doe", presence.PresenceChange{Status: "break"}) // same: no event
	ok(t, err)
	_, err = d.CreateStatus(ctx, presence.StatusInput{ID: "coaching", Label: ptr("Coaching"), SystemPresence: ptr("TRAINING")}) // statuses
	ok(t, err)
	ok(t, d.DeleteAgent(ctx, "john.doe")) // admin

	c.waitFor(t, 4, 10*time.Second)
	time.Sleep(200 * time.Millisecond) // and nothing more arrives
	evs := c.snapshot()
	if len(evs) != 4 {
		t.Fatalf("want exactly 4 events, got %d: %+v", len(evs), evs)
	}
	wantTopics := []string{"agents.john.doe.presence", "agents.john.doe.presence", "statuses", "admin"}
	for i, ev := range evs {
		if ev.Topic != wantTopics[i] {
			t.Fatalf("event %d topic %q, want %q", i, ev.Topic, wantTopics[i])
		}
		if i > 0 && !evs[i-1].Position.Less(ev.Position) {
			t.Fatalf("positions out of order: %v then %v", evs[i-1].Position, ev.Position)
		}
	}
	// The presence event carries the same record the API returns.
	var body presence.Record
	ok(t, json.Unmarshal(evs[1].Body, &body))
	if body.Status.ID != "break" || *body.SpellID != *rec.SpellID || !body.Since.Equal(*rec.Since) || body.State != "OFFLINE" || body.Queues == nil {
		t.Fatalf("event body %+v, record %+v", body, rec)
	}
	var admin map[string]string
	ok(t, json.Unmarshal(evs[3].Body, &admin))
	if admin["action"] != "delete" || admin["type"] != "agent" || admin["id"] != "john.doe" {
		t.Fatalf("admin body: %v", admin)
	}
}

// Writers that commit in random order, some rolling back, must reach the
// listener exactly once each, in position order: the (xid, id) scheme read
// below xmin never skips a row that commits late.
func TestEventsNoLossWithRandomCommitOrder(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	c := newCollector()
	mustListen(t, d, c)

	const writers, perWriter = 24, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	committed := map[string]bool{}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				key := fmt.Sprintf("w%d-%d", w, i)
				tx, err := d.Pool().Begin(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				n := 1 + rand.IntN(3) // several events in one transaction
				for j := range n {
					if _, err := tx.Exec(ctx, `SELECT event_append('admin', 'test', jsonb_build_object('k', $1::text))`, fmt.Sprintf("%s-%d", key, j)); err != nil {
						t.Error(err)
					}
				}
				time.Sleep(time.Duration(rand.IntN(15)) * time.Millisecond) // commit order ≠ start order
				if rand.IntN(5) == 0 {
					_ = tx.Rollback(ctx)
					continue
				}
				if err := tx.Commit(ctx); err != nil {
					t.Error(err)
					continue
				}
				mu.Lock()
				for j := range n {
					committed[fmt.Sprintf("%s-%d", key, j)] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	c.waitFor(t, len(committed), 30*time.Second)
	time.Sleep(300 * time.Millisecond) // and nothing more arrives
	evs := c.snapshot()
	seen := map[string]int{}
	for i, ev := range evs {
		var b struct{ K string }
		ok(t, json.Unmarshal(ev.Body, &b))
		seen[b.K]++
		if i > 0 && !evs[i-1].Position.Less(ev.Position) {
			t.Fatalf("not in position order at %d", i)
		}
	}
	for k := range committed {
		if seen[k] != 1 {
			t.Fatalf("event %s delivered %d times", k, seen[k])
		}
	}
	if len(seen) != len(committed) {
		t.Fatalf("delivered %d distinct events, %d committed (rolled-back ones leaked?)", len(seen), len(committed))
	}
}

// An open transaction that holds an xid holds back later events; when it
// ends without writing an event (no doorbell), the listener still
// delivers them by re-reading on its own.
func TestEventsHeldBackDeliveredWithoutBell(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	c := newCollector()
	l := mustListen(t, d, c)
	l.PollInterval = time.Hour // only doorbells and the held-back re-read

	blocker, err := d.Pool().Begin(ctx)
	ok(t, err)
	_, err = blocker.Exec(ctx, `SELECT pg_current_xact_id()`) // takes an xid, writes no event
	ok(t, err)
	mustAgent(t, d, "a1")
	time.Sleep(300 * time.Millisecond)
	if n := len(c.snapshot()); n != 0 {
		t.Fatalf("event delivered past an older open transaction: %d", n)
	}
	ok(t, blocker.Commit(ctx))
	c.waitFor(t, 1, 5*time.Second)
}

// A held-back event is re-read soon after a short blocker ends, not only
// after HeldBackInterval: the listener re-reads after a millisecond and
// doubles the wait from there.
func TestEventsHeldBackReReadSoon(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	c := newCollector()
	l := mustListen(t, d, c)
	l.PollInterval = time.Hour
	l.HeldBackInterval = 5 * time.Second

	blocker, err := d.Pool().Begin(ctx)
	ok(t, err)
	_, err = blocker.Exec(ctx, `SELECT pg_current_xact_id()`) // takes an xid, writes no event
	ok(t, err)
	mustAgent(t, d, "a1")
	time.Sleep(50 * time.Millisecond)
	ok(t, blocker.Commit(ctx))
	ended := time.Now()
	c.waitFor(t, 1, 10*time.Second)
	if waited := time.Since(ended); waited > 2*time.Second {
		t.Fatalf("held-back event delivered %s after its blocker ended", waited)
	}
}

// More final events than one read's page, and a held-back one after
// them: the listener pages through every final event at once, then
// delivers the held-back one after its blocker ends.
func TestEventsPageThenHeldBack(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	c := newCollector()
	l := mustListen(t, d, c)
	l.PollInterval = time.Hour

	_, err := d.Pool().Exec(ctx, `SELECT event_append('admin', 'test', jsonb_build_object('i', i)) FROM generate_series(1, 1500) i`)
	ok(t, err)
	blocker, err := d.Pool().Begin(ctx)
	ok(t, err)
	defer blocker.Rollback(ctx)
	_, err = blocker.Exec(ctx, `SELECT pg_current_xact_id()`)
	ok(t, err)
	_, err = d.Pool().Exec(ctx, `SELECT event_append('admin', 'test', jsonb_build_object('i', 1501))`)
	ok(t, err)
	c.waitFor(t, 1500, 10*time.Second)
	time.Sleep(100 * time.Millisecond)
	if n := len(c.snapshot()); n != 1500 {
		t.Fatalf("%d events delivered past an older open transaction", n-1500)
	}
	ok(t, blocker.Commit(ctx))
	evs := c.waitFor(t, 1501, 10*time.Second)
	for i, ev := range evs {
		var b struct{ I int }
		ok(t, json.Unmarshal(ev.Body, &b))
		if b.I != i+1 {
			t.Fatalf("event %d is %d", i+1, b.I)
		}
	}
}

// The listener reads the log on its own connection: a node whose pool is
// taken by its writers still delivers events.
func TestListenerDeliversWhilePoolBusy(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	c := newCollector()
	mustListen(t, d, c)
	for range d.Pool().Stat().MaxConns() {
		conn, err := d.Pool().Acquire(ctx)
		ok(t, err)
		defer conn.Release()
	}
	other := db.NewDB(d.URL)
	ok(t, other.Open(ctx))
	defer other.Close()
	mustAgent(t, other, "a1")
	c.waitFor(t, 1, 5*time.Second)
}

func TestListenerReconnects(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	c := newCollector()
	l := mustListen(t, d, c)
	l.MaxBackoff = 200 * time.Millisecond

	mustAgent(t, d, "a0")
	c.waitFor(t, 1, 5*time.Second)
	for i := 1; i <= 3; i++ {
		// Cut the LISTEN connection, write while it is down, and expect
		// everything once it is back.
		_, err := d.Pool().Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE application_name = 'presenced-listener' AND datname = current_database()`)
		ok(t, err)
		mustAgent(t, d, fmt.Sprintf("a%d", i))
		c.waitFor(t, i+1, 10*time.Second)
	}
	if l.Reconnects() < 1 {
		t.Fatalf("reconnects = %d", l.Reconnects())
	}
	deadline := time.Now().Add(5 * time.Second)
	for !l.Connected() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !l.Connected() {
		t.Fatal("listener did not reconnect")
	}
}

// The listener reads the log after every doorbell and every few
// milliseconds while events are held back. Planned afresh each time (what
// PostgreSQL chose for it), the planning cost five times the read; its
// connection runs the generic plan, which must be the same two index scans
// of the log's primary key at any size of the log, not a scan of the log.
func TestListenerReadsWithGenericPlan(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	if _, err := d.Pool().Exec(ctx, `
		INSERT INTO agents (id, name) SELECT 'a' || i, 'x' FROM generate_series(1, 3000) i;
		ANALYZE events`); err != nil {
		t.Fatal(err)
	}
	conn, err := db.NewListener(d, func(presence.Event) {}).Conn(ctx)
	ok(t, err)
	defer conn.Close(ctx)
	// More runs than the five custom plans PostgreSQL tries first.
	for range 8 {
		rows, err := conn.Query(ctx, dbsqlc.EventListVisibleAfter, int64(0), int64(0), int64(1000))
		ok(t, err)
		rows.Close()
		ok(t, rows.Err())
	}
	var name string
	var generic, custom int64
	ok(t, conn.QueryRow(ctx, `SELECT name, generic_plans, custom_plans FROM pg_prepared_statements
		WHERE statement = $1`, dbsqlc.EventListVisibleAfter).Scan(&name, &generic, &custom))
	if custom != 0 || generic != 8 {
		t.Fatalf("the log read was planned %d times for its parameters and ran %d times with the generic plan; want 0 and 8", custom, generic)
	}
	var plan strings.Builder
	rows, err := conn.Query(ctx, `EXPLAIN EXECUTE `+pgx.Identifier{name}.Sanitize()+`(0, 0, 1000)`, pgx.QueryExecModeSimpleProtocol)
	ok(t, err)
	for rows.Next() {
		var line string
		ok(t, rows.Scan(&line))
		plan.WriteString(line + "\n")
	}
	ok(t, rows.Err())
	if strings.Contains(plan.String(), "Seq Scan") || strings.Count(plan.String(), "Index Scan using events_pkey") != 2 {
		t.Fatalf("the log read's generic plan is not two index scans of events_pkey:\n%s", plan.String())
	}
}

func TestPruneAndReset(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	mustAgent(t, d, "a2")
	// Events become readable once every older transaction of the cluster
	// has ended (other tests write too), so wait for both.
	var first []presence.Event
	for deadline := time.Now().Add(10 * time.Second); len(first) < 2; time.Sleep(10 * time.Millisecond) {
		var err error
		first, err = d.ReadEvents(ctx, presence.Position{}, 10)
		ok(t, err)
		if time.Now().After(deadline) {
			t.Fatalf("events: %d", len(first))
		}
	}
	p := db.NewPruner(d, time.Hour)
	n, err := p.Prune(ctx, time.Now()) // nothing is an hour old
	ok(t, err)
	if n != 0 {
		t.Fatalf("pruned %d fresh events", n)
	}
	_, err = d.Pool().Exec(ctx, `UPDATE events SET at = at - interval '2 hours' WHERE id = $1`, first[0].Position.ID)
	ok(t, err)
	n, err = p.Prune(ctx, time.Now())
	ok(t, err)
	if n != 1 {
		t.Fatalf("pruned %d, want 1", n)
	}
	// A reader at the cut is complete; one before it must reset.
	rest, err := d.ReadEvents(ctx, first[0].Position, 10)
	ok(t, err)
	if len(rest) != 1 || rest[0].Position != first[1].Position {
		t.Fatalf("after the cut: %+v", rest)
	}
	_, err = d.ReadEvents(ctx, presence.Position{Xid: 1, ID: 1}, 10)
	mustCode(t, err, presence.ERESET)
}

// Sync returns once every event committed before it has been published:
// at once when nothing new was written (no doorbell needed, it wakes the
// listener itself), with the event after a write, and not while the
// event is held back behind an older open transaction.
func TestListenerSync(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	c := newCollector()
	l := mustListen(t, d, c)
	l.PollInterval = time.Hour // only doorbells and Sync wake it
	c.waitFor(t, 0, time.Second)

	within := func(d time.Duration) (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, d) }
	sctx, cancel := within(10 * time.Second)
	ok(t, l.Sync(sctx))
	cancel()
	for i := range 20 {
		mustAgent(t, d, fmt.Sprintf("a%d", i))
		start := time.Now()
		sctx, cancel := within(10 * time.Second)
		ok(t, l.Sync(sctx))
		cancel()
		if n := len(c.snapshot()); n != i+1 {
			t.Fatalf("after Sync %d events published, want %d", n, i+1)
		}
		// Not the hour of PollInterval. (Events of this database wait
		// for transactions anywhere in the cluster that began before
		// them: under a loaded test run that may take a while.)
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("Sync took %v", took)
		}
	}

	blocker, err := d.Pool().Begin(ctx)
	ok(t, err)
	defer blocker.Rollback(ctx)
	_, err = blocker.Exec(ctx, `SELECT pg_current_xact_id()`)
	ok(t, err)
	mustAgent(t, d, "held")
	sctx, cancel = within(200 * time.Millisecond)
	err = l.Sync(sctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sync with a held-back event = %v, want the deadline", err)
	}
	ok(t, blocker.Commit(ctx))
	sctx, cancel = within(10 * time.Second)
	ok(t, l.Sync(sctx))
	cancel()
	if n := len(c.snapshot()); n != 21 {
		t.Fatalf("after the blocker ended %d events published, want 21", n)
	}
}
