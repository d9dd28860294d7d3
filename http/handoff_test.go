package http_test

import (
	"bufio"
	"log/slog"
	"net/http"
	"testing"
	"time"

	presencehttp "github.com/presenced/presenced/http"
	"github.com/presenced/presenced/http/handoff"
)

// detachingStreamer serves streams the way the SSE broker does on HTTP/1.1:
// it hijacks the connection, detaches, returns, and writes the stream from
// a goroutine of its own until told to end.
type detachingStreamer struct {
	release chan struct{}
	ended   chan struct{}
}

func (d *detachingStreamer) ServeEvents(w http.ResponseWriter, r *http.Request) {
	h := handoff.From(r.Context())
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil || h == nil || !h.Detach() {
		panic("cannot detach")
	}
	go func() {
		defer close(d.ended)
		const answer = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n: ping\n\n"
		n, _ := conn.Write([]byte(answer))
		select {
		case <-d.release:
		case <-r.Context().Done(): // revoked
		}
		conn.Close()
		h.End(int64(n))
	}()
}

func (d *detachingStreamer) ServeChannel(w http.ResponseWriter, r *http.Request, _ string) {}

// TestStreamThatOutlivesItsHandlerEndsAsARequest checks what a stream that
// hijacked its connection and let its handler return still owes the
// middleware: its place in its token's count of streams until it really
// ends, and its access-log line at that end, with status 200.
func TestStreamThatOutlivesItsHandlerEndsAsARequest(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	d := &detachingStreamer{release: make(chan struct{}), ended: make(chan struct{})}
	s := mustOpenServer(t, func(s *presencehttp.Server) {
		s.Events = d
		s.Security.MaxStreamsPerToken = 1
		s.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	req, _ := http.NewRequest("GET", s.URL()+"/v1/events?topic=statuses", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if line, _ := bufio.NewReader(res.Body).ReadString('\n'); res.StatusCode != 200 || line != ": ping\n" {
		t.Fatalf("stream: %d %q", res.StatusCode, line)
	}

	// The handler has returned, the stream goes on: it still counts.
	if code, _, _ := s.do("GET", "/v1/events?topic=statuses", ""); code != http.StatusTooManyRequests {
		t.Fatalf("second stream of a token allowed one: %d", code)
	}
	for _, l := range logs.lines(t, "http request") {
		if l["status"] == 200.0 && l["route"] == "GET /v1/events" {
			t.Fatalf("stream logged before it ended: %v", l)
		}
	}

	close(d.release)
	<-d.ended
	var line map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for line == nil && time.Now().Before(deadline) {
		for _, l := range logs.lines(t, "http request") {
			if l["status"] == 200.0 && l["route"] == "GET /v1/events" {
				line = l
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if line == nil || line["stream"] != true || line["bytes"].(float64) == 0 {
		t.Fatalf("access log of the stream: %v", line)
	}
	// Its place is free again.
	d.release, d.ended = make(chan struct{}), make(chan struct{})
	close(d.release)
	res2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != http.StatusOK {
		t.Fatalf("stream after the first ended: %d", res2.StatusCode)
	}
	<-d.ended
}
