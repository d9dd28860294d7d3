package node_test

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/presenced/presenced/db/dbtest"
	"github.com/presenced/presenced/db/pgcluster"
	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// logRecorder keeps the log records of a node, for tests of what it logs.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}

// find returns the records at level or above whose message starts with msg.
func (l *logRecorder) find(level slog.Level, msg string) []slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []slog.Record
	for _, r := range l.recs {
		if r.Level >= level && strings.HasPrefix(r.Message, msg) {
			out = append(out, r)
		}
	}
	return out
}

func attr(r slog.Record, key string) slog.Value {
	var v slog.Value
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value
			return false
		}
		return true
	})
	return v
}

// privateCluster starts a PostgreSQL cluster of the test's own, so that
// stopping it disturbs no other test, with a database "presenced".
func privateCluster(t *testing.T) (*pgcluster.Cluster, pgcluster.Config) {
	t.Helper()
	dir, err := os.MkdirTemp("", "presenced-faults-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil { // the cluster runs as postgres when root
		t.Fatal(err)
	}
	cfg := pgcluster.Config{DataDir: dir, Logger: quiet, Settings: map[string]string{"fsync": "off"}}
	cluster, err := pgcluster.StartDatabase(t.Context(), cfg, "presenced")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop() })
	return cluster, cfg
}

// While PostgreSQL is down every request answers 503 with Retry-After, and
// the outage is logged once when it starts and once when it ends (with the
// count of failed requests), not once per request. Once it is back, the
// node is ready again within a second.
func TestPostgresOutage(t *testing.T) {
	t.Parallel()
	cluster, cfg := privateCluster(t)
	url := cluster.DatabaseURL("presenced")
	logs := &logRecorder{}
	n := nodetest.MustOpenConfig(t, node.Config{DatabaseURL: url, Logger: slog.New(logs)})
	if code := request(t, "POST", n.URL()+"/v1/agents", `{"id": "a1"}`); code != 201 {
		t.Fatal(code)
	}

	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	// Long enough for a reconnect backoff that doubles to grow past a
	// second.
	failed := 0
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(20 * time.Millisecond) {
		req, _ := http.NewRequest("PUT", n.URL()+"/v1/agents/a1/presence", strings.NewReader(`{"status": "busy"}`))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" {
			t.Fatalf("request while PostgreSQL is down: %d, Retry-After %q; want 503 with Retry-After",
				res.StatusCode, res.Header.Get("Retry-After"))
		}
		failed++
	}

	again, err := pgcluster.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The first handle is stopped: its cleanup would leave this server
	// running.
	t.Cleanup(func() { _ = again.Stop() })
	if again.DatabaseURL("presenced") != url {
		t.Skip("PostgreSQL came back on another port; the node cannot follow it")
	}
	back := time.Now()
	for request(t, "GET", n.URL()+"/readyz", "") != 200 {
		if time.Since(back) > 30*time.Second {
			t.Fatal("not ready 30 s after PostgreSQL came back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ready := time.Since(back)
	t.Logf("ready %v after PostgreSQL was back (%d requests failed meanwhile)", ready.Round(time.Millisecond), failed)
	if ready > time.Second {
		t.Errorf("ready %v after PostgreSQL was back, want within 1 s", ready)
	}
	put(t, n.URL(), "/v1/agents/a1/presence", `{"status": "busy"}`)

	if recs := logs.find(slog.LevelError, "token lookup failed"); len(recs) != 0 {
		t.Errorf("%d %q lines, want none", len(recs), recs[0].Message)
	}
	if recs := logs.find(slog.LevelError, "database unreachable"); len(recs) != 1 {
		t.Errorf("the outage's start was logged %d times, want once", len(recs))
	}
	switch recs := logs.find(slog.LevelWarn, "database reachable again"); {
	case len(recs) != 1:
		t.Errorf("the outage's end was logged %d times, want once", len(recs))
	case attr(recs[0], "failed_requests").Int64() != int64(failed):
		t.Errorf("the outage's end counts %v failed requests, want %d", attr(recs[0], "failed_requests"), failed)
	}
	if recs := logs.find(slog.LevelWarn, "event listener"); len(recs) > 2 {
		t.Errorf("the listener logged %d warnings, want at most 2 (lost, cannot connect)", len(recs))
	}
}

// A backlog that the listener reads in one go (after an outage, or one big
// transaction, as here) reaches every subscriber that keeps up, whole and
// without dropping its stream: 3,000 events overflow a stream's 256-event
// buffer many times over.
func TestBacklogBurstDropsNoSubscriberThatKeepsUp(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	n := nodetest.MustOpen(t, url)
	const subs, burst = 3, 3000
	var all []*subscriber
	for range subs {
		all = append(all, subscribe(t, n.URL(), []string{"agents.*.presence"}, ""))
	}
	waitSubscribed(t, n, subs)
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(t.Context(), `SELECT event_append('agents.a' || (i % 100) || '.presence', 'presence',
		jsonb_build_object('i', i, 'pad', repeat('x', 200))) FROM generate_series(1, $1::int) i`, burst)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		s.waitFor(t, "presence", burst, 30*time.Second)
	}
	if d := n.Broker.EventsDropped(); d != 0 {
		t.Fatalf("%d subscribers dropped by a burst of %d events", d, burst)
	}
}
