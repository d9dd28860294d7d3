package sse

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	presence "github.com/presenced/presenced"
)

// A deliverer writes a live stream's events to its socket while the
// stream's writer has nothing in hand (deliver.go).
func TestDeliverers(t *testing.T) {
	t.Run("InStep", func(t *testing.T) {
		// A client that keeps up gets every event from its deliverer.
		f := newFixture(t, Config{Heartbeat: time.Hour})
		s := live(t, f, "/v1/events?topic=agents.*.presence")
		d0, all0 := f.b.direct.Load(), f.b.EventsDelivered()
		for i := range 20 {
			s.expectEvents(f.emit(fmt.Sprintf("agents.a%d.presence", i), "presence", `{"n":1}`))
		}
		// Counted before they are written: what the client read is in.
		if d, all := f.b.direct.Load()-d0, f.b.EventsDelivered()-all0; d != 20 || all != 20 {
			t.Fatalf("%d of %d events written by the deliverer, want 20 of 20", d, all)
		}
	})
	t.Run("Several", func(t *testing.T) {
		// Three deliverers share seven streams; each stream gets every
		// event once, in order, from its own deliverer.
		f := newFixture(t, Config{Heartbeat: time.Hour, Deliverers: 3})
		var streams []*testStream
		for range 7 {
			streams = append(streams, f.stream("/v1/events?topic=agents.*.presence", ""))
		}
		waitFor(t, "the subscribers", func() bool { return f.b.Subscribers() == 7 })
		first := f.emit("agents.first.presence", "presence", `{"first":true}`)
		for _, s := range streams {
			s.expectEvents(first)
		}
		waitLive(t, f)
		d0 := f.b.direct.Load()
		var want []presence.Event
		for i := range 50 {
			want = append(want, f.emit(fmt.Sprintf("agents.a%d.presence", i), "presence", `{"n":1}`))
		}
		for _, s := range streams {
			s.expectEvents(want...)
		}
		if d := f.b.direct.Load() - d0; d != 7*50 {
			t.Fatalf("%d of %d events written by the deliverers", d, 7*50)
		}
		used := map[*deliverer]bool{}
		f.b.mu.Lock()
		for s := range f.b.subs {
			used[s.worker] = true
		}
		f.b.mu.Unlock()
		if len(used) != 3 {
			t.Fatalf("%d deliverers served the streams, want 3", len(used))
		}
	})
	t.Run("SocketFull", func(t *testing.T) {
		// Events of 30 KB published to a client that does not read until
		// the last: a write stops part way once the socket is full, its
		// rest and the events behind it go through the writer, and the
		// body the client reads at the end is whole and in order.
		var conns connStates
		f := newFixture(t, Config{Heartbeat: time.Hour, WriteTimeout: time.Minute, BufferSize: 1000}, conns.setup)
		resp := pausedStream(t, f, "/v1/events?topic=agents.*.presence")
		waitFor(t, "the subscriber", func() bool { return f.b.Subscribers() == 1 })
		const n = 200 // 6 MB: more than the sockets hold; fewer events than the buffer
		var want []presence.Event
		for i := range n {
			want = append(want, f.emit(fmt.Sprintf("agents.a%d.presence", i), "presence",
				fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("x", 30_000))))
		}
		// The body, read through the chunked encoding, must be exactly the
		// events' frames: a rest written as a chunk of its own would show.
		var frames []byte
		for _, fr := range f.b.framers.backlog(want) {
			frames = append(frames, fr...)
		}
		got := make([]byte, len(frames))
		if _, err := io.ReadFull(resp.Body, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, frames) {
			i := 0
			for i < len(got) && got[i] == frames[i] {
				i++
			}
			t.Fatalf("the body differs from the frames at byte %d: %q", i, got[i:min(len(got), i+80)])
		}
		d, all := f.b.direct.Load(), f.b.EventsDelivered()
		// The deliverer's first write has nothing in the writer's hands,
		// so it writes what the socket takes and passes the rest on; how
		// many events went whole depends on how many it took at once.
		if all != n || d == n {
			t.Fatalf("%d of %d events written by the deliverer; want %d delivered, not all by it", d, all, n)
		}
		t.Logf("%d of %d events written by the deliverer", d, n)
	})
	t.Run("QuietPastWriteTimeout", func(t *testing.T) {
		// A stream whose writer has written nothing for longer than the
		// write timeout (every event went through the deliverer, no
		// heartbeat yet) still gets its events.
		f := newFixture(t, Config{Heartbeat: time.Hour, WriteTimeout: 500 * time.Millisecond})
		s := live(t, f, "/v1/events?topic=agents.*.presence")
		d0 := f.b.direct.Load()
		for i := range 3 {
			time.Sleep(700 * time.Millisecond)
			s.expectEvents(f.emit(fmt.Sprintf("agents.a%d.presence", i), "presence", `{"n":1}`))
		}
		if d := f.b.direct.Load() - d0; d != 3 {
			t.Fatalf("%d of 3 events written by the deliverer", d)
		}
	})
	t.Run("WithPings", func(t *testing.T) {
		// Pings written while the deliverer writes: a deliverer that finds
		// the writer writing hands its events over instead.
		f := newFixture(t, Config{Heartbeat: time.Millisecond})
		s := f.stream("/v1/events?topic=agents.*.presence", "")
		waitFor(t, "the subscriber", func() bool { return f.b.Subscribers() == 1 })
		var want []presence.Event
		for i := range 2000 {
			want = append(want, f.emit(fmt.Sprintf("agents.a%d.presence", i), "presence", `{"n":1}`))
			if i%100 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
		}
		s.expectEvents(want...)
	})
}

// live opens a stream on path and waits until it is live: an event
// published before that goes through its writer, after the backlog.
func live(t *testing.T, f *fixture, path string) *testStream {
	t.Helper()
	s := f.stream(path, "")
	waitFor(t, "the subscriber", func() bool { return f.b.Subscribers() == 1 })
	s.expectEvents(f.emit("agents.first.presence", "presence", `{"first":true}`))
	waitLive(t, f)
	return s
}

// waitLive waits until every stream of f is live.
func waitLive(t *testing.T, f *fixture) {
	t.Helper()
	waitFor(t, "the streams to go live", func() bool {
		f.b.mu.Lock()
		defer f.b.mu.Unlock()
		for sub := range f.b.subs {
			sub.mu.Lock()
			live := sub.live
			sub.mu.Unlock()
			if !live {
				return false
			}
		}
		return true
	})
}

// pausedStream opens path over a connection of its own and reads the
// answer's header, not its body: the server's writes fill the socket.
func pausedStream(t *testing.T, f *fixture, path string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(time.Minute)) // no test hangs for ever
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %v", path, resp, err)
	}
	return resp
}
