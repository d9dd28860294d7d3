package node_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/presenced/presenced/db/dbtest"
	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// A node's live events reach its streams through the sse deliverers: the
// connection the http package wraps (http/conn.go) still gives its file
// descriptor, so the deliverers write to it rather than every event going
// through a goroutine per stream.
// --sse-deliverers reaches the broker; 0 takes its default.
func TestSSEDeliverersConfig(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	if n := nodetest.MustOpenConfig(t, node.Config{DatabaseURL: url, SSEDeliverers: 3}); n.Broker.Deliverers() != 3 {
		t.Errorf("SSEDeliverers 3: %d deliverers", n.Broker.Deliverers())
	}
	if n := nodetest.MustOpenConfig(t, node.Config{DatabaseURL: url, SkipMigrations: true}); n.Broker.Deliverers() != max(1, runtime.GOMAXPROCS(0)/2) {
		t.Errorf("SSEDeliverers 0: %d deliverers", n.Broker.Deliverers())
	}
}

func TestLiveEventsWrittenDirect(t *testing.T) {
	t.Parallel()
	n := nodetest.MustOpen(t, dbtest.NewDatabase(t))
	if code := request(t, "POST", n.URL()+"/v1/agents", `{"id": "a1"}`); code != 201 {
		t.Fatal(code)
	}
	s := subscribe(t, n.URL(), []string{"agents.*.presence"}, "")
	waitSubscribed(t, n, 1)
	// An event published before the stream is live goes through its
	// writer, after the backlog: one first, to be past that.
	put(t, n.URL(), "/v1/agents/a1/presence", `{"status": "meal", "message": "first"}`)
	waitMessages(t, s, "first", 1, 10*time.Second)
	time.Sleep(50 * time.Millisecond)
	before := n.Broker.EventsWrittenDirect()
	for i := range 10 {
		status := []string{"busy", "available"}[i%2]
		put(t, n.URL(), "/v1/agents/a1/presence", fmt.Sprintf(`{"status": %q, "message": "m-%d"}`, status, i))
	}
	waitMessages(t, s, "m-", 10, 10*time.Second)
	if got := n.Broker.EventsWrittenDirect() - before; got != 10 {
		t.Fatalf("%d of 10 live events written by the deliverers", got)
	}
}
