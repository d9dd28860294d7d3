package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/db/pgcluster"
	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// haPair is a primary and a streaming standby of it, private to one test,
// with the presenced database on them.
type haPair struct {
	primary, standby *pgcluster.Cluster
	url              string // both hosts, target_session_attrs=read-write
}

// startHAPair starts a primary, creates the presenced database, makes a
// standby of it with pg_basebackup -R and waits until it streams; with
// sync, the standby is synchronous (synchronous_commit stays on).
func startHAPair(t *testing.T, sync bool) *haPair {
	t.Helper()
	dir, err := os.MkdirTemp("", "presenced-ha-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil { // the postgres OS user runs the servers
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// No fsync: a killed postmaster loses no page cache, only its own life.
	settings := map[string]string{"fsync": "off", "full_page_writes": "off", "max_connections": "100",
		"wal_sender_timeout": "5s", "wal_receiver_status_interval": "1s"}
	p := &haPair{}
	if p.primary, err = pgcluster.StartDatabase(ctx, pgcluster.Config{DataDir: filepath.Join(dir, "primary"), Settings: settings, Logger: quiet}, "presenced"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.primary.Stop() })
	if p.standby, err = pgcluster.Start(ctx, pgcluster.Config{DataDir: filepath.Join(dir, "standby"), StandbyOf: p.primary,
		Settings: settings, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.standby.Stop() })
	want := "async"
	if sync {
		mustExec(t, p.primary.URL(), "ALTER SYSTEM SET synchronous_standby_names = '*'")
		mustExec(t, p.primary.URL(), "SELECT pg_reload_conf()")
		want = "sync"
	}
	waitRow(t, p.primary.URL(), "SELECT count(*) = 1 FROM pg_stat_replication WHERE state = 'streaming' AND sync_state = $1", want)
	p.url = pgcluster.MultiHostURL("presenced", p.primary, p.standby) + "&connect_timeout=2"
	return p
}

func mustExec(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// waitRow waits until the boolean query answers true.
func waitRow(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ok bool
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			err = conn.QueryRow(ctx, sql, args...).Scan(&ok)
			conn.Close(ctx)
		}
		cancel()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s (%v)", sql, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// queryStrings returns the first column of a query's rows.
func queryStrings(t *testing.T, url, sql string, args ...any) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// haWriters change the presence of their agents in a loop, each change
// with a message of its own, through both nodes in turn, and remember
// which changes were acknowledged.
type haWriters struct {
	mu      sync.Mutex
	acked   map[string]time.Time // message → when the 2xx came
	codes   map[int]int          // non-2xx answers
	bodies  []string             // of answers other than 200 and 503
	noRetry int                  // 503s without Retry-After
	slowest time.Duration
	phase   atomic.Pointer[string]
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

var haClient = &http.Client{Timeout: 15 * time.Second}

func startWriters(t *testing.T, nodes []*node.Node, agents []string, phase string) *haWriters {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &haWriters{acked: map[string]time.Time{}, codes: map[int]int{}, cancel: cancel}
	w.phase.Store(&phase)
	for i, a := range agents {
		w.done.Add(1)
		go func() {
			defer w.done.Done()
			// Each change opens a spell of its own: its status differs from
			// the last acknowledged one and from the last attempted one
			// (which may or may not have been applied).
			var acked, tried string
			for n := 0; ctx.Err() == nil; n++ {
				msg := fmt.Sprintf("%s-%s-%d", *w.phase.Load(), a, n)
				status := "available"
				for _, st := range []string{"available", "busy", "break"} {
					if st != acked && st != tried {
						status = st
						break
					}
				}
				tried = status
				base := nodes[(i+n)%len(nodes)].URL()
				req, _ := http.NewRequestWithContext(ctx, "PUT", base+"/v1/agents/"+a+"/presence",
					strings.NewReader(`{"status": "`+status+`", "message": "`+msg+`"}`))
				req.Header.Set("Authorization", "Bearer "+adminToken)
				start := time.Now()
				res, err := haClient.Do(req)
				took := time.Since(start)
				if ctx.Err() != nil {
					if err == nil {
						res.Body.Close()
					}
					return
				}
				w.mu.Lock()
				w.slowest = max(w.slowest, took)
				switch {
				case err != nil:
					w.codes[0]++
				case res.StatusCode == 200:
					w.acked[msg] = time.Now()
					acked = status
				default:
					w.codes[res.StatusCode]++
					if res.StatusCode != 503 {
						b, _ := io.ReadAll(res.Body)
						w.bodies = append(w.bodies, string(b))
					}
					if res.StatusCode == 503 && res.Header.Get("Retry-After") == "" {
						w.noRetry++
					}
				}
				w.mu.Unlock()
				if err == nil {
					res.Body.Close()
				}
				if err != nil || res.StatusCode != 200 {
					time.Sleep(20 * time.Millisecond)
				} else {
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}
	return w
}

func (w *haWriters) stop() { w.cancel(); w.done.Wait() }

func (w *haWriters) setPhase(p string) { w.phase.Store(&p) }

// ackedWith returns the acknowledged messages with a prefix.
func (w *haWriters) ackedWith(prefix string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for m := range w.acked {
		if strings.HasPrefix(m, prefix) {
			out = append(out, m)
		}
	}
	return out
}

// firstAckAfter returns the first acknowledgement after t.
func (w *haWriters) firstAckAfter(t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var first time.Time
	for _, at := range w.acked {
		if at.After(t) && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	return first, !first.IsZero()
}

// waitReady polls /readyz of n until 200 and returns when that was; the
// answers before must be 503 with Retry-After, each within the poll's
// timeout (never a hang).
func waitReady(t *testing.T, n *node.Node, limit time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		res, err := haClient.Get(n.URL() + "/readyz")
		if err != nil {
			t.Fatalf("/readyz: %v", err)
		}
		res.Body.Close()
		if res.StatusCode == 200 {
			return time.Now()
		}
		if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" {
			t.Fatalf("/readyz = %d, Retry-After %q; want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready %v after the promotion", limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// messageOf is the message of a presence event.
func messageOf(ev client.Event) string {
	var r presence.Record
	if err := json.Unmarshal(ev.Body, &r); err != nil || r.Message == nil {
		return ""
	}
	return *r.Message
}

// written returns the messages with a prefix of the presence events a
// subscriber got after its last reset (all, when none), checking that it
// got each event once; and whether it got a reset, and its id.
func written(t *testing.T, name string, evs []client.Event, prefix string) (msgs []string, resetAt string) {
	t.Helper()
	ids := map[string]bool{}
	for _, ev := range evs {
		if ev.Kind == client.KindReset {
			msgs, resetAt = nil, ev.ID
			continue
		}
		if ids[ev.ID] {
			t.Errorf("%s: event %s twice", name, ev.ID)
		}
		ids[ev.ID] = true
		if m := messageOf(ev); strings.HasPrefix(m, prefix) {
			msgs = append(msgs, m)
		}
	}
	return msgs, resetAt
}

// sameSet fails unless got and want hold the same strings, each once.
func sameSet(t *testing.T, name string, got, want []string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if slices.Equal(g, w) {
		return
	}
	missing, extra := 0, 0
	for _, m := range w {
		if _, found := slices.BinarySearch(g, m); !found {
			missing++
		}
	}
	for _, m := range g {
		if _, found := slices.BinarySearch(w, m); !found {
			extra++
		}
	}
	t.Errorf("%s: got %d, want %d: %d missing, %d not in the log, %d duplicates", name, len(g), len(w), missing, extra, len(g)-len(slices.Compact(g)))
}

// waitMessages waits until a subscriber holds n presence events whose
// message has the prefix.
func waitMessages(t *testing.T, s *subscriber, prefix string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := 0
		for _, ev := range s.got() {
			if strings.HasPrefix(messageOf(ev), prefix) {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscriber holds %d events %s*, want %d", got, prefix, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func openHANodes(t *testing.T, url string, agents []string) []*node.Node {
	t.Helper()
	// Short heartbeats, so that the sweeper's work shows within the test.
	cfg := node.Config{Addr: "127.0.0.1:0", DatabaseURL: url, AdminToken: adminToken, Logger: quiet,
		HeartbeatInterval: 400 * time.Millisecond, MaxMissedHeartbeats: 1}
	nodes := []*node.Node{nodetest.MustOpenConfig(t, cfg), nodetest.MustOpenConfig(t, cfg)}
	for _, a := range agents {
		if code := request(t, "POST", nodes[0].URL()+"/v1/agents", `{"id": "`+a+`"}`); code != 201 {
			t.Fatalf("create agent %s: %d", a, code)
		}
	}
	return nodes
}

// The primary dies (kill -9) under writers and subscribers; the
// synchronous standby is promoted. Every acknowledged write is in the new
// primary's spells and event log, once; both nodes follow by themselves,
// ready within 5 s of the promotion; live subscribers and one that
// resumes with its Last-Event-ID on the other node get every event once,
// and no reset.
func TestFailoverSynchronous(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL servers")
	}
	p := startHAPair(t, true)
	agents := []string{"s1", "s2", "s3", "s4"}
	nodes := openHANodes(t, p.url, agents)
	topics := []string{"agents.*.presence"}
	live := []*subscriber{subscribe(t, nodes[0].URL(), topics, ""), subscribe(t, nodes[1].URL(), topics, "")}
	resuming := subscribe(t, nodes[0].URL(), topics, "")
	waitSubscribed(t, nodes[0], 2)
	waitSubscribed(t, nodes[1], 1)

	// A client that beats until the primary dies: the heartbeat sweeper,
	// on whichever node takes the advisory lock on the new primary, must
	// declare it lost, once.
	callURL(t, "POST", nodes[0].URL()+"/v1/agents", `{"id": "z"}`, 201)
	sid := callURL(t, "POST", nodes[0].URL()+"/v1/agents/z/sessions", "", 201)["session_id"].(string)
	beatCtx, stopBeats := context.WithCancel(context.Background())
	beats := make(chan struct{})
	go func() {
		defer close(beats)
		for beatCtx.Err() == nil {
			req, _ := http.NewRequestWithContext(beatCtx, "POST", nodes[1].URL()+"/v1/sessions/"+sid+"/heartbeat", nil)
			req.Header.Set("Authorization", "Bearer "+adminToken)
			if res, err := haClient.Do(req); err == nil {
				res.Body.Close()
			}
			sleepCtx(beatCtx, 100*time.Millisecond)
		}
	}()
	defer func() { stopBeats(); <-beats }()

	w := startWriters(t, nodes, agents, "w")
	defer w.stop()
	waitMessages(t, resuming, "w-", 40, 20*time.Second)

	killed := time.Now()
	if err := p.primary.Kill(); err != nil {
		t.Fatal(err)
	}
	stopBeats()
	resuming.stop() // it drops with the primary, holding the last id the old primary gave
	seen := resuming.got()
	lastID := seen[len(seen)-1].ID
	time.Sleep(300 * time.Millisecond) // a failure detector's delay
	if res, err := haClient.Get(nodes[0].URL() + "/readyz"); err != nil || res.StatusCode != 503 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("/readyz with the primary dead: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	if err := p.standby.Promote(context.Background()); err != nil {
		t.Fatal(err)
	}
	promoted := time.Now()
	var ready time.Time
	for _, n := range nodes {
		if r := waitReady(t, n, 5*time.Second); r.After(ready) {
			ready = r
		}
	}
	firstWrite, ok := (time.Time{}), false
	for deadline := time.Now().Add(5 * time.Second); !ok && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		firstWrite, ok = w.firstAckAfter(promoted)
	}
	if !ok {
		t.Fatal("no write acknowledged within 5 s of the promotion")
	}
	t.Logf("failover: kill → promote %v, promote → ready %v, kill → ready %v, kill → first write %v",
		promoted.Sub(killed).Round(time.Millisecond), ready.Sub(promoted).Round(time.Millisecond),
		ready.Sub(killed).Round(time.Millisecond), firstWrite.Sub(killed).Round(time.Millisecond))

	again := subscribe(t, nodes[1].URL(), topics, lastID)
	time.Sleep(time.Second) // writes on the new primary
	w.stop()

	newURL := p.standby.DatabaseURL("presenced")
	inSpells := queryStrings(t, newURL, `SELECT message FROM spells WHERE message LIKE 'w-%'`)
	inEvents := queryStrings(t, newURL, `SELECT body->>'message' FROM events WHERE topic LIKE 'agents.%.presence' AND body->>'message' LIKE 'w-%'`)
	acked := w.ackedWith("w-")
	t.Logf("%d writes acknowledged, %d in spells, answers other than 200: %v, slowest %v", len(acked), len(inSpells), w.codes, w.slowest)
	for _, m := range acked {
		if !slices.Contains(inSpells, m) || !slices.Contains(inEvents, m) {
			t.Errorf("acknowledged write %s lost (in spells %v, in events %v)", m, slices.Contains(inSpells, m), slices.Contains(inEvents, m))
		}
	}
	if len(inEvents) != len(slices.Compact(slices.Sorted(slices.Values(inEvents)))) {
		t.Error("an event is in the log twice")
	}
	for code := range w.codes {
		if code != 503 && code != 0 {
			t.Errorf("answers %v %q: only 503 may answer a write while the database fails over", w.codes, w.bodies)
		}
	}
	if w.noRetry > 0 || w.slowest > 10*time.Second {
		t.Errorf("%d 503s without Retry-After; slowest write %v", w.noRetry, w.slowest)
	}

	waitRow(t, newURL, `SELECT count(*) = 1 FROM sessions WHERE id::text = $1 AND lost`, sid)
	time.Sleep(time.Second) // some more sweeps
	if n := queryStrings(t, newURL, `SELECT count(*)::text FROM events WHERE topic = 'agents.z.state' AND body->>'state' = 'DISCONNECTED'`); n[0] != "1" {
		t.Errorf("the lost session made %s DISCONNECTED events, want 1", n[0])
	}

	for i, s := range live {
		waitMessages(t, s, "w-", len(inEvents), 15*time.Second)
		got, reset := written(t, fmt.Sprintf("live subscriber %d", i), s.got(), "w-")
		if reset != "" {
			t.Errorf("live subscriber %d was reset at %s", i, reset)
		}
		sameSet(t, fmt.Sprintf("live subscriber %d", i), got, inEvents)
	}
	waitMessages(t, again, "w-", len(inEvents)-countPrefix(seen, "w-"), 15*time.Second)
	time.Sleep(100 * time.Millisecond)
	got, reset := written(t, "resumed subscriber", append(seen, again.got()...), "w-")
	if reset != "" {
		t.Errorf("resumed subscriber was reset at %s", reset)
	}
	sameSet(t, "resumed subscriber", got, inEvents)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func countPrefix(evs []client.Event, prefix string) int {
	n := 0
	for _, ev := range evs {
		if strings.HasPrefix(messageOf(ev), prefix) {
			n++
		}
	}
	return n
}

// With asynchronous replication, the writes the standby never received
// are lost with the primary: PostgreSQL's contract. The new primary hands
// their xids and ids out again, so every subscriber that saw one of them
// must get a reset on resume, never a silent skip or a duplicate; one
// that saw none resumes with nothing missing.
func TestFailoverAsynchronous(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL servers")
	}
	p := startHAPair(t, false)
	agents := []string{"a1", "a2", "a3"}
	nodes := openHANodes(t, p.url, agents)
	topics := []string{"agents.*.presence"}
	live := []*subscriber{subscribe(t, nodes[0].URL(), topics, ""), subscribe(t, nodes[1].URL(), topics, "")}
	early := subscribe(t, nodes[1].URL(), topics, "")
	waitSubscribed(t, nodes[0], 1)
	waitSubscribed(t, nodes[1], 2)

	// A: shipped to the standby.
	w := startWriters(t, nodes, agents, "A")
	defer w.stop()
	waitMessages(t, early, "A-", 20, 20*time.Second)
	w.stop()
	waitRow(t, p.standby.URL(), `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn`,
		queryStrings(t, p.primary.URL(), `SELECT pg_current_wal_lsn()::text`)[0])
	waitMessages(t, early, "A-", len(w.ackedWith("A-")), 10*time.Second)
	early.stop() // holds an id on the history both servers share
	earlyEvents := early.got()

	// B: the standby stops receiving; the primary acknowledges and
	// publishes writes that only it has.
	mustExec(t, p.standby.URL(), "ALTER SYSTEM SET primary_conninfo = ''")
	mustExec(t, p.standby.URL(), "SELECT pg_reload_conf()")
	waitRow(t, p.primary.URL(), "SELECT count(*) = 0 FROM pg_stat_replication")
	w = startWriters(t, nodes, agents, "B")
	defer w.stop()
	for _, s := range live {
		waitMessages(t, s, "B-", 20, 20*time.Second)
	}

	if err := p.primary.Kill(); err != nil {
		t.Fatal(err)
	}
	w.setPhase("C")
	time.Sleep(300 * time.Millisecond)
	if err := p.standby.Promote(context.Background()); err != nil {
		t.Fatal(err)
	}
	promoted := time.Now()
	for _, n := range nodes {
		waitReady(t, n, 5*time.Second)
	}
	again := subscribe(t, nodes[0].URL(), topics, earlyEvents[len(earlyEvents)-1].ID)
	time.Sleep(time.Second)
	w.stop()
	if _, ok := w.firstAckAfter(promoted); !ok {
		t.Fatal("no write acknowledged after the promotion")
	}

	newURL := p.standby.DatabaseURL("presenced")
	lostB := queryStrings(t, newURL, `SELECT message FROM spells WHERE message LIKE 'B-%'`)
	if len(lostB) != 0 || len(w.ackedWith("B-")) == 0 {
		t.Fatalf("B writes: %d acknowledged, %d on the new primary; want some and none", len(w.ackedWith("B-")), len(lostB))
	}
	inEventsC := queryStrings(t, newURL, `SELECT body->>'message' FROM events WHERE topic LIKE 'agents.%.presence' AND body->>'message' LIKE 'C-%'`)
	if len(inEventsC) == 0 {
		t.Fatal("no C write reached the new primary")
	}
	for _, m := range w.ackedWith("C-") {
		if !slices.Contains(inEventsC, m) {
			t.Errorf("acknowledged write %s is not in the new primary's log", m)
		}
	}
	reused := queryStrings(t, newURL, `SELECT count(*)::text FROM events WHERE epoch = 2 AND xid::text::bigint <= $1`,
		maxXid(t, live[0].got(), "B-"))[0]
	t.Logf("events of the new timeline at or below the newest lost xid a subscriber saw: %s", reused)

	// Every live subscriber saw B events: each gets a reset, then every
	// event after the reset's position exactly once.
	for i, s := range live {
		name := fmt.Sprintf("live subscriber %d", i)
		deadline := time.Now().Add(15 * time.Second)
		var got []string
		var reset string
		for {
			got, reset = written(t, name, s.got(), "C-")
			if reset != "" {
				after, err := presence.ParsePosition(reset)
				if err != nil {
					t.Fatal(err)
				}
				want := queryStrings(t, newURL, `SELECT body->>'message' FROM events WHERE topic LIKE 'agents.%.presence'
					AND body->>'message' LIKE 'C-%' AND (xid, id) > ($1::bigint::text::xid8, $2::bigint)`, int64(after.Xid), after.ID)
				if len(got) >= len(want) || time.Now().After(deadline) {
					sameSet(t, name+" after its reset", got, want)
					break
				}
			} else if time.Now().After(deadline) {
				t.Fatalf("%s saw lost writes and was not reset", name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The subscriber that saw only shipped events resumes: no reset, and
	// every event after its id once.
	waitMessages(t, again, "C-", len(inEventsC), 15*time.Second)
	time.Sleep(100 * time.Millisecond)
	got, reset := written(t, "resumed subscriber", append(earlyEvents, again.got()...), "C-")
	if reset != "" {
		t.Errorf("the subscriber that saw no lost write was reset at %s", reset)
	}
	sameSet(t, "resumed subscriber", got, inEventsC)
}

// maxXid returns the largest xid among a subscriber's events with a
// message prefix.
func maxXid(t *testing.T, evs []client.Event, prefix string) int64 {
	var x uint64
	for _, ev := range evs {
		if strings.HasPrefix(messageOf(ev), prefix) {
			p, err := presence.ParsePosition(ev.ID)
			if err != nil {
				t.Fatal(err)
			}
			x = max(x, p.Xid)
		}
	}
	return int64(x)
}

// The case a subscriber's own last id cannot show: it saw an event of a
// transaction with a smaller xid that committed later, after the standby
// stopped receiving, and its last event (a larger xid that committed
// earlier) was shipped. The nodes remember what they served and fence the
// old epoch at the first event the new primary lacks, so the subscriber
// gets a reset though its last event survived.
func TestFailoverAsynchronousCommitOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL servers")
	}
	p := startHAPair(t, false)
	nodes := []*node.Node{nodetest.MustOpen(t, p.url), nodetest.MustOpen(t, p.url)}
	for _, a := range []string{"a1", "a2"} {
		callURL(t, "POST", nodes[0].URL()+"/v1/agents", `{"id": "`+a+`"}`, 201)
	}
	s := subscribe(t, nodes[0].URL(), []string{"agents.*.presence"}, "")
	waitSubscribed(t, nodes[0], 1)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.primary.DatabaseURL("presenced"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	t0, err := conn.Begin(ctx) // the smaller xid: it writes first, commits last
	if err != nil {
		t.Fatal(err)
	}
	if _, err := t0.Exec(ctx, `UPDATE agents SET capacity = capacity + 1 WHERE id = 'a1'`); err != nil {
		t.Fatal(err)
	}
	put(t, nodes[1].URL(), "/v1/agents/a2/presence", `{"status": "busy", "message": "shipped"}`)
	waitRow(t, p.standby.URL(), `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn`,
		queryStrings(t, p.primary.URL(), `SELECT pg_current_wal_lsn()::text`)[0])
	mustExec(t, p.standby.URL(), "ALTER SYSTEM SET primary_conninfo = ''")
	mustExec(t, p.standby.URL(), "SELECT pg_reload_conf()")
	waitRow(t, p.primary.URL(), "SELECT count(*) = 0 FROM pg_stat_replication")
	if err := t0.Commit(ctx); err != nil { // only the primary has it
		t.Fatal(err)
	}
	waitMessages(t, s, "shipped", 1, 10*time.Second)
	seen := s.got()
	last := seen[len(seen)-1]
	sawLost := false
	for _, ev := range seen {
		sawLost = sawLost || (ev.Topic == "agents.a1.presence" && strings.Contains(string(ev.Body), `"configured":2`))
	}
	if messageOf(last) != "shipped" || !sawLost {
		t.Fatalf("the subscriber's events: %+v", seen)
	}
	s.stop()

	if err := p.primary.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := p.standby.Promote(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		waitReady(t, n, 5*time.Second)
	}
	newURL := p.standby.DatabaseURL("presenced")
	if n := queryStrings(t, newURL, `SELECT count(*)::text FROM events WHERE body->>'message' = 'shipped'`); n[0] != "1" {
		t.Fatal("the shipped change is not on the new primary")
	}
	if n := queryStrings(t, newURL, `SELECT capacity::text FROM agents WHERE id = 'a1'`); n[0] == "2" {
		t.Fatal("the unshipped change is on the new primary")
	}
	again := subscribe(t, nodes[1].URL(), []string{"agents.*.presence"}, last.ID)
	deadline := time.Now().Add(10 * time.Second)
	for len(again.got()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := again.got(); len(got) == 0 || got[0].Kind != client.KindReset {
		t.Fatalf("resumed after %s, which survived, having seen a lost event: %+v; want a reset", last.ID, got)
	}
}
