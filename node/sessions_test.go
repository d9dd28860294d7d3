package node_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/db/dbtest"
	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// callURL sends a request as the test admin and fails unless the status
// is want.
func callURL(t *testing.T, method, url, body string, want int) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s = %d %s, want %d", method, url, res.StatusCode, raw, want)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

// Two nodes on one database, each with its sweeper: a client logs in on one
// node, a dashboard watches the other. A client that goes silent is
// declared DISCONNECTED by whichever node holds the sweep lock, the
// dashboard sees it, and a beat sent to the other node brings it back.
func TestSessionStateAcrossNodes(t *testing.T) {
	t.Parallel()
	cfg := node.Config{
		Addr: "127.0.0.1:0", DatabaseURL: dbtest.NewDatabase(t),
		Logger:            slog.New(slog.DiscardHandler),
		HeartbeatInterval: time.Second, MaxMissedHeartbeats: 1,
	}
	a := nodetest.MustOpenConfig(t, cfg)
	cfg.SkipMigrations = true
	b := nodetest.MustOpenConfig(t, cfg)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	events := client.Subscribe(ctx, client.Options{BaseURL: b.URL(), Token: adminToken},
		[]string{"agents.a1.state", "queues.sales"}, presence.Position{}.String())
	next := func(wantTopic, wantState string) {
		t.Helper()
		select {
		case ev := <-events:
			var body struct {
				State  string `json:"state"`
				Action string `json:"action"`
			}
			if err := json.Unmarshal(ev.Body, &body); err != nil {
				t.Fatal(err)
			}
			got := body.State + body.Action
			if ev.Topic != wantTopic || got != wantState {
				t.Fatalf("event %s %s, want %s %s", ev.Topic, got, wantTopic, wantState)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s event %s", wantTopic, wantState)
		}
	}

	callURL(t, "POST", a.URL()+"/v1/agents", `{"id": "a1"}`, 201)
	s := callURL(t, "POST", a.URL()+"/v1/agents/a1/sessions", "", 201)
	if s["heartbeat_interval_ms"] != 1000.0 || s["max_missed_heartbeats"] != 1.0 {
		t.Fatalf("session: %v", s)
	}
	sid := s["session_id"].(string)
	next("agents.a1.state", "ACTIVE")
	callURL(t, "PUT", a.URL()+"/v1/queues/sales", "", 201)
	next("queues.sales", "create")
	callURL(t, "POST", a.URL()+"/v1/agents/a1/queues/sales/login", "", 200)
	next("queues.sales", "join")

	next("agents.a1.state", "DISCONNECTED") // no beats at all
	callURL(t, "POST", b.URL()+"/v1/sessions/"+sid+"/heartbeat", "", 204)
	next("agents.a1.state", "ACTIVE")
	callURL(t, "DELETE", b.URL()+"/v1/sessions/"+sid, "", 204)
	next("agents.a1.state", "OFFLINE")
	next("queues.sales", "leave")
}
