package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/db/dbtest"
	"github.com/presenced/presenced/internal/presencetest"
	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

func TestMain(m *testing.M) { presencetest.Main(m, dbtest.Stop) }

var quiet = slog.New(slog.DiscardHandler)

// adminToken is the bootstrap admin token every test node is started with.
const adminToken = nodetest.AdminToken

func put(t *testing.T, base, path, body string) {
	t.Helper()
	code := request(t, "PUT", base+path, body)
	if code != 200 {
		t.Fatalf("PUT %s = %d", path, code)
	}
}

func request(t *testing.T, method, url, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// subscriber collects a client subscription's events.
type subscriber struct {
	mu     sync.Mutex
	events []client.Event
	cancel context.CancelFunc
	done   chan struct{}
}

func subscribe(t *testing.T, base string, topics []string, lastID string) *subscriber {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscriber{cancel: cancel, done: make(chan struct{})}
	opts := client.Options{BaseURL: base, Token: adminToken, Backoff: func(int) time.Duration { return 50 * time.Millisecond }}
	ch := client.Subscribe(ctx, opts, topics, lastID)
	go func() {
		defer close(s.done)
		for ev := range ch {
			s.mu.Lock()
			s.events = append(s.events, ev)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(s.stop)
	return s
}

func (s *subscriber) stop() { s.cancel(); <-s.done }

func (s *subscriber) got() []client.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]client.Event(nil), s.events...)
}

// waitFor waits until the subscriber holds n events of the given kind.
func (s *subscriber) waitFor(t *testing.T, kind string, n int, timeout time.Duration) []client.Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var evs []client.Event
		for _, ev := range s.got() {
			if ev.Kind == kind {
				evs = append(evs, ev)
			}
		}
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d %s events, want %d", len(evs), kind, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// statuses decodes the status ids of presence events in order.
func statuses(t *testing.T, evs []client.Event) []string {
	t.Helper()
	out := make([]string, len(evs))
	for i, ev := range evs {
		var r presence.Record
		if err := json.Unmarshal(ev.Body, &r); err != nil {
			t.Fatal(err)
		}
		out[i] = r.AgentID + ":" + r.Status.ID
	}
	return out
}

// waitSubscribed gives a fresh stream time to register before writes that
// it must see live (a stream without Last-Event-ID starts at the present).
func waitSubscribed(t *testing.T, n *node.Node, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for n.Broker.Subscribers() < want {
		if time.Now().After(deadline) {
			t.Fatalf("subscribers = %d, want %d", n.Broker.Subscribers(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A change written through node A reaches subscribers on nodes B and C, in
// order, exactly once.
func TestThreeNodes(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	a, b, c := nodetest.MustOpen(t, url), nodetest.MustOpen(t, url), nodetest.MustOpen(t, url)
	onB := subscribe(t, b.URL(), []string{"agents.*.presence"}, "")
	onC := subscribe(t, c.URL(), []string{"agents.a1.presence"}, "")
	waitSubscribed(t, b, 1)
	waitSubscribed(t, c, 1)

	if code := request(t, "POST", a.URL()+"/v1/agents", `{"id": "a1"}`); code != 201 {
		t.Fatal(code)
	}
	if code := request(t, "POST", a.URL()+"/v1/agents", `{"id": "a2"}`); code != 201 {
		t.Fatal(code)
	}
	seq := []string{"available", "busy", "break", "available", "meal"}
	for _, s := range seq {
		put(t, a.URL(), "/v1/agents/a1/presence", `{"status": "`+s+`"}`)
	}
	put(t, a.URL(), "/v1/agents/a2/presence", `{"status": "busy"}`)

	want := []string{"a1:offline", "a1:available", "a1:busy", "a1:break", "a1:available", "a1:meal"}
	gotC := statuses(t, onC.waitFor(t, "presence", len(want), 10*time.Second))
	if fmt.Sprint(gotC) != fmt.Sprint(want) {
		t.Fatalf("node C got %v, want %v", gotC, want)
	}
	gotB := statuses(t, onB.waitFor(t, "presence", len(want)+2, 10*time.Second))
	if len(gotB) != len(want)+2 {
		t.Fatalf("node B got %v", gotB)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(onC.got()); n != len(want) {
		t.Fatalf("node C got %d events, want exactly %d", n, len(want))
	}
}

// A client that drops resumes with Last-Event-ID on another node and gets
// exactly the events it missed.
func TestResumeOnAnotherNode(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	a, b, c := nodetest.MustOpen(t, url), nodetest.MustOpen(t, url), nodetest.MustOpen(t, url)
	first := subscribe(t, b.URL(), []string{"agents.*.presence"}, "")
	waitSubscribed(t, b, 1)
	request(t, "POST", a.URL()+"/v1/agents", `{"id": "a1"}`)
	put(t, a.URL(), "/v1/agents/a1/presence", `{"status": "busy"}`)
	seen := first.waitFor(t, "presence", 2, 10*time.Second)
	first.stop()

	for _, s := range []string{"break", "available", "meal"} { // missed while away
		put(t, a.URL(), "/v1/agents/a1/presence", `{"status": "`+s+`"}`)
	}
	again := subscribe(t, c.URL(), []string{"agents.*.presence"}, seen[len(seen)-1].ID)
	got := statuses(t, again.waitFor(t, "presence", 3, 10*time.Second))
	time.Sleep(100 * time.Millisecond)
	if fmt.Sprint(got) != "[a1:break a1:available a1:meal]" || len(again.got()) != 3 {
		t.Fatalf("resumed with %v", statuses(t, again.got()))
	}
}

// A node that restarts loses no event for a client that reconnects to it.
func TestNodeRestart(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	a := nodetest.MustOpen(t, url)
	b := nodetest.MustOpen(t, url)
	addr := strings.TrimPrefix(b.URL(), "http://")
	sub := subscribe(t, b.URL(), []string{"agents.*.presence"}, "")
	waitSubscribed(t, b, 1)
	request(t, "POST", a.URL()+"/v1/agents", `{"id": "a1"}`)
	sub.waitFor(t, "presence", 1, 10*time.Second)

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"busy", "break"} { // while node B is down
		put(t, a.URL(), "/v1/agents/a1/presence", `{"status": "`+s+`"}`)
	}
	nodetest.MustOpenConfig(t, node.Config{DatabaseURL: url, Addr: addr}) // B comes back on the same address
	put(t, a.URL(), "/v1/agents/a1/presence", `{"status": "meal"}`)
	got := statuses(t, sub.waitFor(t, "presence", 4, 15*time.Second))
	time.Sleep(100 * time.Millisecond)
	if fmt.Sprint(got) != "[a1:offline a1:busy a1:break a1:meal]" || len(sub.got()) != 4 {
		t.Fatalf("across the restart: %v", statuses(t, sub.got()))
	}
}

// A channel's topics change on node A while its stream runs on node B.
func TestChannelTopicsChangeAcrossNodes(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	a, b := nodetest.MustOpen(t, url), nodetest.MustOpen(t, url)
	for _, id := range []string{"a1", "a2"} {
		request(t, "POST", a.URL()+"/v1/agents", `{"id": "`+id+`"}`)
	}
	ch, err := a.DB.CreateChannel(t.Context(), []string{"agents.a1.presence"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	events := client.SubscribeChannel(ctx, client.Options{BaseURL: b.URL(), Token: adminToken}, ch.ID, "")
	waitSubscribed(t, b, 1)
	put(t, a.URL(), "/v1/agents/a2/presence", `{"status": "busy"}`) // not subscribed
	put(t, a.URL(), "/v1/agents/a1/presence", `{"status": "busy"}`)
	// The stream starts at the node's delivered position, which may lag the
	// creation of a1 a little: skip to a1's busy record.
	for ev := range events {
		if ev.Topic != "agents.a1.presence" {
			t.Fatalf("unsubscribed event %s", ev.Topic)
		}
		if statuses(t, []client.Event{ev})[0] == "a1:busy" {
			break
		}
	}
	if code := request(t, "PUT", a.URL()+"/v1/channels/"+ch.ID+"/subscriptions", `{"topics": ["agents.a2.presence"]}`); code != 200 {
		t.Fatal(code)
	}
	// The change travels through the log to node B: touch a2 until its
	// events arrive, then a1 must stay silent.
	toggle := []string{"break", "available"}
	for i := 0; ; i++ {
		put(t, a.URL(), "/v1/agents/a2/presence", `{"status": "`+toggle[i%2]+`"}`)
		select {
		case ev := <-events:
			if ev.Topic != "agents.a2.presence" {
				t.Fatalf("after the change: %s", ev.Topic)
			}
		case <-time.After(200 * time.Millisecond):
			if i > 50 {
				t.Fatal("the topic change never reached node B")
			}
			continue
		}
		break
	}
	put(t, a.URL(), "/v1/agents/a1/presence", `{"status": "break"}`) // no longer subscribed
	put(t, a.URL(), "/v1/agents/a2/presence", `{"status": "meal"}`)
	select {
	case ev := <-events:
		if ev.Topic != "agents.a2.presence" {
			t.Fatalf("after the change: %s", ev.Topic)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event after the topic change")
	}
}

// Many writers whose transactions sleep a random time before committing
// (some rolling back): an SSE subscriber on another node receives every
// committed event exactly once, in position order.
func TestSubscriberGetsEveryEventOnceWhateverTheCommitOrder(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	a, b := nodetest.MustOpen(t, url), nodetest.MustOpen(t, url)
	sub := subscribe(t, b.URL(), []string{"admin"}, "")
	waitSubscribed(t, b, 1)

	pool := dbtest.MustOpenPool(t, a.DB.URL) // the writers: raw transactions on node A's database
	const writers, perWriter = 16, 15
	var mu sync.Mutex
	committed := map[string]bool{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				key := fmt.Sprintf("w%d-%d", w, i)
				tx, err := pool.Begin(t.Context())
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := tx.Exec(t.Context(), `SELECT event_append('admin', 'admin', jsonb_build_object('k', $1::text))`, key); err != nil {
					t.Error(err)
				}
				time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
				if rand.IntN(6) == 0 {
					_ = tx.Rollback(t.Context())
					continue
				}
				if err := tx.Commit(t.Context()); err != nil {
					t.Error(err)
					continue
				}
				mu.Lock()
				committed[key] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// Other admin events (the bootstrap token's creation is audited) may
	// arrive too: count only this test's own.
	ours := func() []client.Event {
		var out []client.Event
		for _, ev := range sub.got() {
			var body struct{ K string }
			if json.Unmarshal(ev.Body, &body) == nil && body.K != "" {
				out = append(out, ev)
			}
		}
		return out
	}
	for deadline := time.Now().Add(30 * time.Second); len(ours()) < len(committed); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("received %d of %d committed events", len(ours()), len(committed))
		}
	}
	time.Sleep(200 * time.Millisecond)
	evs := ours()
	seen := map[string]int{}
	var last presence.Position
	for _, ev := range evs {
		var body struct{ K string }
		if err := json.Unmarshal(ev.Body, &body); err != nil {
			t.Fatal(err)
		}
		seen[body.K]++
		pos, err := presence.ParsePosition(ev.ID)
		if err != nil || !last.Less(pos) {
			t.Fatalf("event %s out of order after %s", ev.ID, last)
		}
		last = pos
	}
	for k := range committed {
		if seen[k] != 1 {
			t.Fatalf("event %s received %d times", k, seen[k])
		}
	}
	if len(seen) != len(committed) {
		t.Fatalf("received %d distinct events, %d committed", len(seen), len(committed))
	}
}
