package sse

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// stalledClient opens a stream over a raw connection with a tiny receive
// buffer and never reads from it.
func stalledClient(t *testing.T, f *fixture, path string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.(*net.TCPConn).SetReadBuffer(1024); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path)
	return conn
}

// connStates records the state of the server's connections by client
// address, and gives them tiny send buffers so that a client that does not
// read blocks the server's writes quickly.
type connStates struct {
	mu     sync.Mutex
	states map[string]http.ConnState
}

func (c *connStates) setup(srv *httptest.Server) {
	c.states = map[string]http.ConnState{}
	srv.Config.ConnState = func(conn net.Conn, st http.ConnState) {
		if st == http.StateNew {
			_ = conn.(*net.TCPConn).SetWriteBuffer(1024)
		}
		c.mu.Lock()
		c.states[conn.RemoteAddr().String()] = st
		c.mu.Unlock()
	}
}

func (c *connStates) of(conn net.Conn) http.ConnState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.states[conn.LocalAddr().String()]
}

// expectClosed reads what the server sent on conn until the server closes
// it. A hijacked connection closes without net/http knowing (its state
// stays StateHijacked), so this is seen from the client's side.
func expectClosed(t *testing.T, conn net.Conn) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server did not close the connection")
	}
}

// TestStalledClient puts a client that never reads next to a healthy one:
// the healthy one gets every event, Publish never waits, and the stalled
// one is dropped and its handler ends.
func TestStalledClient(t *testing.T) {
	var conns connStates
	f := newFixture(t, Config{BufferSize: 16, WriteTimeout: time.Minute}, conns.setup)
	stalled := stalledClient(t, f, "/v1/events?topic=agents.*.presence")
	healthy := f.stream("/v1/events?topic=agents.*.presence", "")
	waitFor(t, "two subscribers", func() bool { return f.b.Subscribers() == 2 })

	body := `{"pad":"` + strings.Repeat("x", 2000) + `"}`
	var slowest time.Duration
	for i := range 500 {
		start := time.Now()
		ev := f.emit(fmt.Sprintf("agents.a%d.presence", i), "presence", body)
		slowest = max(slowest, time.Since(start))
		healthy.expectEvents(ev) // in step, so that the healthy one never lags
	}
	// A Publish that waited on the stalled client would have waited for the
	// write timeout, a minute.
	if slowest > time.Second {
		t.Errorf("the slowest Publish took %v", slowest)
	}
	if n := f.b.Subscribers(); n != 1 {
		t.Errorf("Subscribers() = %d, want the healthy one only", n)
	}
	expectClosed(t, stalled)
	t.Logf("slowest Publish: %v", slowest)
}

// TestWriteTimeout checks that a client that stops reading loses its
// stream after WriteTimeout even when its buffer never fills.
func TestWriteTimeout(t *testing.T) {
	var conns connStates
	f := newFixture(t, Config{BufferSize: 1000, WriteTimeout: 200 * time.Millisecond}, conns.setup)
	stalled := stalledClient(t, f, "/v1/events?topic=statuses")
	waitFor(t, "the subscriber", func() bool { return f.b.Subscribers() == 1 })

	body := `{"pad":"` + strings.Repeat("x", 64<<10) + `"}`
	for range 20 { // 1.3 MB: more than the sockets hold, fewer events than the buffer
		f.emit("statuses", "status", body)
	}
	start := time.Now()
	waitFor(t, "the stream to end", func() bool { return f.b.Subscribers() == 0 })
	expectClosed(t, stalled)
	t.Logf("ended %v after the last publish", time.Since(start))
}
