package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/db/pgcluster"
	"github.com/presenced/presenced/node/nodetest"
)

// PostgreSQL restarts under connected subscribers: writes fail with 503
// while it is down, succeed again within seconds after, and subscribers
// lose no event. It runs on a cluster of its own so that restarting it
// disturbs no other test.
func TestPostgresRestart(t *testing.T) {
	t.Parallel()
	cluster, cfg := privateCluster(t)
	defer func() { _ = cluster.Stop() }() // the server restarted below
	url := cluster.DatabaseURL("presenced")
	a, b := nodetest.MustOpen(t, url), nodetest.MustOpen(t, url)
	sub := subscribe(t, b.URL(), []string{"agents.*.presence"}, "")
	waitSubscribed(t, b, 1)
	request(t, "POST", a.URL()+"/v1/agents", `{"id": "a1"}`)
	put(t, a.URL(), "/v1/agents/a1/presence", `{"status": "busy"}`)
	sub.waitFor(t, "presence", 2, 10*time.Second)

	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	if code := request(t, "PUT", a.URL()+"/v1/agents/a1/presence", `{"status": "break"}`); code != 503 {
		t.Fatalf("write while PostgreSQL is down = %d, want 503", code)
	}
	var err error
	if cluster, err = pgcluster.Start(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	if cluster.DatabaseURL("presenced") != url {
		t.Skip("PostgreSQL came back on another port; the nodes cannot follow it")
	}
	start := time.Now()
	for request(t, "PUT", a.URL()+"/v1/agents/a1/presence", `{"status": "break"}`) != 200 {
		if time.Since(start) > 30*time.Second {
			t.Fatal("writes did not succeed again within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("writes succeeded again %v after PostgreSQL was back", time.Since(start).Round(time.Millisecond))
	put(t, a.URL(), "/v1/agents/a1/presence", `{"status": "meal"}`)
	got := statuses(t, sub.waitFor(t, "presence", 4, 30*time.Second))
	time.Sleep(100 * time.Millisecond)
	want := "[a1:offline a1:busy a1:break a1:meal]"
	if s := statuses(t, sub.got()); len(s) != 4 || fmt.Sprint(got) != want {
		t.Fatalf("subscriber got %v, want %s", s, want)
	}
}
