package http_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	presence "github.com/presenced/presenced"
	presencehttp "github.com/presenced/presenced/http"
	presencesse "github.com/presenced/presenced/sse"
)

// emptyLog is an event log that holds nothing: the stream below starts
// live.
type emptyLog struct{}

func (emptyLog) ReadEvents(context.Context, presence.Position, int) ([]presence.Event, error) {
	return nil, nil
}
func (emptyLog) HeadPosition(context.Context) (presence.Position, error) {
	return presence.Position{}, nil
}

// A client that speaks HTTP/2 with prior knowledge, unencrypted (h2c), gets
// answers and event streams over HTTP/2, as README promises.
func TestH2CServesRequestsAndStreams(t *testing.T) {
	t.Parallel()
	// A write timeout well under the heartbeat: an HTTP/2 stream's write
	// deadline is a timer that resets the stream when it fires, idle or not.
	broker := presencesse.New(presencesse.Config{Log: emptyLog{}, Authorize: presencehttp.AuthorizeTopic,
		WriteTimeout: 200 * time.Millisecond, Heartbeat: time.Minute, Logger: slog.New(slog.DiscardHandler)})
	if err := broker.Open(); err != nil {
		t.Fatal(err)
	}
	s := mustOpenServer(t, func(s *presencehttp.Server) { s.Events = broker })
	t.Cleanup(func() { broker.Close() }) // before the server closes: streams end first

	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &h2c}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(ctx context.Context, path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s over h2c: %v", path, err)
		}
		return res
	}

	res := get(t.Context(), "/v1/statuses")
	var list map[string]any
	_ = json.NewDecoder(res.Body).Decode(&list)
	res.Body.Close()
	if res.StatusCode != 200 || res.ProtoMajor != 2 || len(items(list)) == 0 {
		t.Fatalf("GET /v1/statuses over h2c: %s %s %v", res.Proto, res.Status, list)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	res = get(ctx, "/v1/events?topic=agents.a1.presence")
	defer res.Body.Close()
	if res.StatusCode != 200 || res.ProtoMajor != 2 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream over h2c: %s %s %v", res.Proto, res.Status, res.Header)
	}
	for deadline := time.Now().Add(5 * time.Second); broker.Subscribers() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stream never registered")
		}
	}
	publish := func(id int64) {
		broker.Publish(presence.Event{Position: presence.Position{Xid: 10, ID: id}, Topic: "agents.a1.presence", Kind: "presence",
			At: time.Now(), Body: json.RawMessage(`{"state":"ACTIVE"}`)})
	}
	lines := bufio.NewScanner(res.Body)
	expect := func(id string) {
		t.Helper()
		for lines.Scan() {
			if lines.Text() == "id: "+id {
				return
			}
		}
		t.Fatalf("event %s never came: %v", id, lines.Err())
	}
	publish(1)
	expect("10-1")
	time.Sleep(600 * time.Millisecond) // idle for three write timeouts
	publish(2)
	expect("10-2")
}
