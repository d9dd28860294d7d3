package sse

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/internal/presencetest"
)

// rawStream opens a stream over a raw connection and reads the answer's
// header.
func rawStream(t *testing.T, f *fixture, path string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	return conn, br, res
}

// TestHijackedStream_Header checks the answer a hijacked stream writes
// itself: what r3labs and the broker set, chunked, and closing.
func TestHijackedStream_Header(t *testing.T) {
	f := newFixture(t, Config{})
	_, br, res := rawStream(t, f, "/v1/events?topic=statuses")
	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !res.Close || res.Header.Get("Date") == "" {
		t.Errorf("Connection: close and Date expected: %v", res.Header)
	}
	// ReadResponse takes Transfer-Encoding out of the header: read the
	// first chunk's size line instead.
	ev := f.emit("statuses", "status", `{}`)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasSuffix(line, "\r\n") {
		t.Fatalf("chunk size line %q: %v", line, err)
	}
	body, _ := br.Peek(br.Buffered())
	if !bytes.Contains(body, []byte("id: "+ev.Position.String()+"\n")) {
		t.Errorf("first chunk %q", body)
	}
}

// TestHijackedStream_ClientCloseEndsIt checks that a stream notices at once
// that its client closed the connection, with no write to fail.
func TestHijackedStream_ClientCloseEndsIt(t *testing.T) {
	f := newFixture(t, Config{Heartbeat: time.Hour})
	conn, _, _ := rawStream(t, f, "/v1/events?topic=statuses")
	waitFor(t, "the subscriber", func() bool { return f.b.Subscribers() == 1 })
	start := time.Now()
	conn.Close()
	waitFor(t, "the stream to end", func() bool { return f.b.Subscribers() == 0 })
	if d := time.Since(start); d > time.Second {
		t.Errorf("the stream ended %v after its client closed", d)
	}
}

// TestHijackedStream_BrokerCloseEndsIt checks that Close ends a hijacked
// stream, waits for it, and that the client gets a whole answer: the
// events written and the end of the chunked body.
func TestHijackedStream_BrokerCloseEndsIt(t *testing.T) {
	f := newFixture(t, Config{Heartbeat: time.Hour})
	conn, br, _ := rawStream(t, f, "/v1/events?topic=statuses")
	ev := f.emit("statuses", "status", `{}`)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "id: "+ev.Position.String()+"\n" {
			break
		}
	}
	f.b.Close()
	if n := f.b.Subscribers(); n != 0 {
		t.Errorf("Subscribers() = %d after Close", n)
	}
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(rest, []byte("\r\n0\r\n\r\n")) {
		t.Errorf("the stream's end: %q", rest)
	}
}

// TestStream_HTTP2KeepsTheNetHTTPPath checks the fallback: an HTTP/2
// connection cannot be hijacked, and its streams work as before.
func TestStream_HTTP2KeepsTheNetHTTPPath(t *testing.T) {
	b := New(Config{Log: &presencetest.EventLog{}, Logger: quiet})
	if err := b.Open(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(b.ServeEvents))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { b.Close() })
	client := srv.Client()
	t.Cleanup(client.CloseIdleConnections)

	res, err := client.Get(srv.URL + "/v1/events?topic=statuses")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.ProtoMajor != 2 || res.StatusCode != 200 {
		t.Fatalf("%s %d", res.Proto, res.StatusCode)
	}
	waitFor(t, "the subscriber", func() bool { return b.Subscribers() == 1 })
	for i := range 3 {
		b.Publish(presence.Event{Position: presence.Position{Xid: 1, ID: int64(i + 1)}, Topic: "statuses", Kind: "status", Body: []byte(`{}`)})
	}
	br := bufio.NewReader(res.Body)
	for n := 0; n < 3; {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "id: ") {
			n++
		}
	}
}

// countingConns wraps a test server's listener: on the connections it
// accepts it counts the writes and the write deadlines set, and makes
// every write take writeDelay, so that events queue up behind the writer.
type countingConns struct {
	net.Listener
	writeDelay        time.Duration
	writes, deadlines atomic.Int64
}

func (l *countingConns) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, l: l}, nil
}

type countingConn struct {
	net.Conn
	l *countingConns
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.l.writes.Add(1)
	time.Sleep(c.l.writeDelay)
	return c.Conn.Write(p)
}

func (c *countingConn) SetWriteDeadline(t time.Time) error {
	c.l.deadlines.Add(1)
	return c.Conn.SetWriteDeadline(t)
}

// TestCoalescedWritesNeverHoldBackTheLastEvent publishes a burst to a
// stream whose writes are slow: the events queued behind a write go out
// together, in fewer writes than events, and the last one is not held
// back waiting for an event that never comes.
func TestCoalescedWritesNeverHoldBackTheLastEvent(t *testing.T) {
	var slow *countingConns
	f := newFixture(t, Config{Heartbeat: time.Hour}, func(s *httptest.Server) {
		slow = &countingConns{Listener: s.Listener, writeDelay: 5 * time.Millisecond}
		s.Listener = slow
	})
	ts := f.stream("/v1/events?topic=statuses", "")
	waitFor(t, "the subscriber", func() bool { return f.b.Subscribers() == 1 })
	before := slow.writes.Load()
	const n = 200
	var want []presence.Event
	for i := range n {
		want = append(want, f.emit("statuses", "status", fmt.Sprintf(`{"n":%d}`, i)))
	}
	ts.expectEvents(want...)
	w := slow.writes.Load() - before
	if w >= n/2 {
		t.Errorf("%d events took %d writes", n, w)
	}
	t.Logf("%d events in %d writes", n, w)

	// And one event alone, after the burst, goes out at once.
	ev := f.emit("statuses", "status", `{"last":true}`)
	ts.expectEvents(ev)
}

// TestHijackedStream_DeadlineNotMovedOnEveryWrite: events written one by
// one within a tenth of WriteTimeout share one write deadline (setting it
// was 4 % of a fan-out node's CPU); a stuck client still loses its stream
// (TestWriteTimeout).
func TestHijackedStream_DeadlineNotMovedOnEveryWrite(t *testing.T) {
	var conns *countingConns
	f := newFixture(t, Config{Heartbeat: time.Hour, WriteTimeout: time.Minute}, func(s *httptest.Server) {
		conns = &countingConns{Listener: s.Listener}
		s.Listener = conns
	})
	ts := f.stream("/v1/events?topic=statuses", "")
	waitFor(t, "the subscriber", func() bool { return f.b.Subscribers() == 1 })
	const n = 50
	for i := range n {
		ts.expectEvents(f.emit("statuses", "status", fmt.Sprintf(`{"n":%d}`, i)))
	}
	if got := conns.deadlines.Load(); got > 3 {
		t.Errorf("%d separate writes set the write deadline %d times", n, got)
	}
}

// TestHijackedStream_TwoGoroutines: once its handler has returned, an open
// stream holds two goroutines, its writer and the one that notices its
// client's close, and every event reaches it. (Streams driven by r3labs
// held four: its stream goroutine, its handler, its context watcher, and
// ours that watched the client.)
func TestHijackedStream_TwoGoroutines(t *testing.T) {
	f := newFixture(t, Config{Heartbeat: time.Hour})
	base := runtime.NumGoroutine()
	const n = 50
	var readers []*bufio.Reader
	for range n {
		conn, br, _ := rawStream(t, f, "/v1/events?topic=statuses")
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		readers = append(readers, br)
	}
	waitFor(t, "the subscribers", func() bool { return f.b.Subscribers() == n })
	var got int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		// net/http's connection goroutines end after their handler returns.
		if got = runtime.NumGoroutine() - base; got <= 2*n || time.Now().After(deadline) {
			break
		}
	}
	if got > 2*n {
		t.Errorf("%d open streams hold %d goroutines, want at most %d", n, got, 2*n)
	}
	ev := f.emit("statuses", "status", `{}`)
	for i, br := range readers {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("stream %d: %v", i, err)
			}
			if line == "id: "+ev.Position.String()+"\n" {
				break
			}
		}
	}
}
