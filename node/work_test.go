package node_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/db/dbtest"
	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// A supervisor's stream on one node sees work assigned and closed on
// another: each change's events, in order, every one with the record as
// the transaction left it (full and busy together, freed and back
// together).
func TestWorkEventsAcrossNodes(t *testing.T) {
	t.Parallel()
	cfg := node.Config{Addr: "127.0.0.1:0", DatabaseURL: dbtest.NewDatabase(t), Logger: slog.New(slog.DiscardHandler)}
	a := nodetest.MustOpenConfig(t, cfg)
	cfg.SkipMigrations = true
	b := nodetest.MustOpenConfig(t, cfg)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	events := client.Subscribe(ctx, client.Options{BaseURL: b.URL(), Token: adminToken},
		[]string{"agents.a1.presence", "agents.a1.capacity"}, presence.Position{}.String())
	next := func(wantTopic, wantStatus string, wantInUse float64) map[string]any {
		t.Helper()
		select {
		case ev := <-events:
			var body map[string]any
			if err := json.Unmarshal(ev.Body, &body); err != nil {
				t.Fatal(err)
			}
			status := body["status"].(map[string]any)["id"]
			inUse := body["capacity"].(map[string]any)["in_use"]
			if ev.Topic != wantTopic || status != wantStatus || inUse != wantInUse {
				t.Fatalf("event %s %v in_use=%v, want %s %s in_use=%v", ev.Topic, status, inUse, wantTopic, wantStatus, wantInUse)
			}
			return body
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s event", wantTopic)
		}
		return nil
	}

	callURL(t, "POST", a.URL()+"/v1/agents", `{"id": "a1", "capacity": 1}`, 201)
	next("agents.a1.presence", "offline", 0)
	callURL(t, "PUT", a.URL()+"/v1/agents/a1/presence", `{"status": "available"}`, 200)
	next("agents.a1.presence", "available", 0)

	w := callURL(t, "POST", a.URL()+"/v1/agents/a1/work", `{"id": "chat-1", "channel": "chat", "units": 1}`, 201)
	if w["id"] != "chat-1" {
		t.Fatalf("assigned: %v", w)
	}
	next("agents.a1.presence", "busy", 1)
	body := next("agents.a1.capacity", "busy", 1)
	if change := body["change"].(map[string]any); change["action"] != "assign" || change["work_id"] != "chat-1" || len(body["work"].([]any)) != 1 {
		t.Fatalf("capacity event: %v", body)
	}
	callURL(t, "DELETE", b.URL()+"/v1/work/chat-1", "", 200)
	next("agents.a1.presence", "available", 0)
	body = next("agents.a1.capacity", "available", 0)
	if change := body["change"].(map[string]any); change["action"] != "close" || len(body["work"].([]any)) != 0 {
		t.Fatalf("capacity event: %v", body)
	}
}
