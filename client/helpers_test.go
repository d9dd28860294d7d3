package client_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	presence "github.com/presenced/presenced"
	presencesse "github.com/presenced/presenced/sse"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memLog is an in-memory presence.EventLog.
type memLog struct {
	mu     sync.Mutex
	events []presence.Event
	pruned presence.Position
	n      int64
}

func (l *memLog) add(topic, kind, body string) presence.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	ev := presence.Event{
		Position: presence.Position{Xid: 900 + uint64(l.n), ID: l.n},
		Topic:    topic,
		Kind:     kind,
		At:       time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(l.n) * time.Second),
		Body:     json.RawMessage(body),
	}
	l.events = append(l.events, ev)
	return ev
}

func (l *memLog) prune(p presence.Position) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruned = p
	i := sort.Search(len(l.events), func(i int) bool { return p.Less(l.events[i].Position) })
	l.events = slices.Clone(l.events[i:])
}

func (l *memLog) ReadEvents(ctx context.Context, after presence.Position, limit int) ([]presence.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if after.Less(l.pruned) {
		return nil, presence.Errorf(presence.ERESET, "Position %s is past the retention window.", after)
	}
	i := sort.Search(len(l.events), func(i int) bool { return after.Less(l.events[i].Position) })
	return slices.Clone(l.events[i:min(len(l.events), i+limit)]), nil
}

func (l *memLog) HeadPosition(ctx context.Context) (presence.Position, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) == 0 {
		return l.pruned, nil
	}
	return l.events[len(l.events)-1].Position, nil
}

// server is a broker behind an httptest server.
type server struct {
	log    *memLog
	broker *presencesse.Broker
	srv    *httptest.Server
	mu     sync.Mutex // emit appends and publishes in one step, like the listener

	connMu sync.Mutex
	conns  map[net.Conn]struct{} // open connections, hijacked streams included
}

// cut closes every client connection. httptest's CloseClientConnections
// misses the streams, which hijack their connections.
func (s *server) cut() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

func newServer(tb testing.TB) *server {
	s := &server{log: &memLog{}}
	s.broker = presencesse.New(presencesse.Config{Log: s.log, Logger: slog.New(slog.DiscardHandler)})
	if err := s.broker.Open(); err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/events", s.broker.ServeEvents)
	s.srv = httptest.NewUnstartedServer(mux)
	s.conns = map[net.Conn]struct{}{}
	s.srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		s.connMu.Lock()
		defer s.connMu.Unlock()
		switch st {
		case http.StateNew:
			s.conns[c] = struct{}{}
		case http.StateClosed:
			delete(s.conns, c)
		}
	}
	s.srv.Start()
	tb.Cleanup(s.srv.Close)
	tb.Cleanup(func() { s.broker.Close() })
	return s
}

func (s *server) emit(topic, kind, body string) presence.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := s.log.add(topic, kind, body)
	s.broker.Publish(ev)
	return ev
}

// waitSubscribers waits until the broker has n streams.
func (s *server) waitSubscribers(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.broker.Subscribers() != n {
		if time.Now().After(deadline) {
			tb.Fatalf("Subscribers() = %d, want %d", s.broker.Subscribers(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
