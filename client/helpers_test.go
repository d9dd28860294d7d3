package client_test

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/internal/presencetest"
	presencesse "github.com/presenced/presenced/sse"
)

func TestMain(m *testing.M) { presencetest.Main(m) }

// server is a broker behind an httptest server.
type server struct {
	log    *presencetest.EventLog
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
	s := &server{log: &presencetest.EventLog{}}
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
	ev := s.log.Add(topic, kind, body)
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
