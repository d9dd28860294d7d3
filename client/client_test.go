package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/client"
)

func fastBackoff(int) time.Duration { return 5 * time.Millisecond }

// next receives one event or fails.
func next(t *testing.T, events <-chan client.Event) client.Event {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the channel closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for an event")
	}
	panic("unreachable")
}

func TestSubscribe_Decodes(t *testing.T) {
	s := newServer(t)
	events := client.Subscribe(t.Context(), client.Options{BaseURL: s.srv.URL}, []string{"agents.*.presence"}, "")
	s.waitSubscribers(t, 1)
	want := s.emit("agents.john.doe.presence", "presence", `{"status_id": "available"}`)

	ev := next(t, events)
	if ev.ID != want.Position.String() || ev.Kind != "presence" || ev.Topic != want.Topic || !ev.At.Equal(want.At) {
		t.Errorf("got %+v", ev)
	}
	if string(ev.Body) != `{"status_id":"available"}` {
		t.Errorf("body = %s", ev.Body)
	}
}

// TestSubscribe_ResumesAfterDisconnect cuts the connection while events are
// published and checks that every event arrives once, in order.
func TestSubscribe_ResumesAfterDisconnect(t *testing.T) {
	s := newServer(t)
	var errs []error
	var mu sync.Mutex
	events := client.Subscribe(t.Context(), client.Options{
		BaseURL: s.srv.URL,
		Backoff: fastBackoff,
		OnError: func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() },
	}, []string{"agents.a1.presence"}, "")
	s.waitSubscribers(t, 1)

	const n = 600
	var want []presence.Event
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			want = append(want, s.emit("agents.a1.presence", "presence", fmt.Sprintf(`{"n":%d}`, i)))
			s.emit("agents.a2.presence", "presence", `{}`) // not subscribed
			if i%100 == 50 {
				s.cut()
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	var got []client.Event
	for i := range n {
		ev := next(t, events)
		var body struct{ N int }
		if err := json.Unmarshal(ev.Body, &body); err != nil || body.N != i {
			t.Fatalf("event %d: got %s (%s)", i, ev.Body, ev.ID)
		}
		got = append(got, ev)
	}
	<-done
	for i := range want {
		if got[i].ID != want[i].Position.String() {
			t.Fatalf("event %d: id %s, want %s", i, got[i].ID, want[i].Position)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) < 5 {
		t.Errorf("%d disconnects reported, want at least 5", len(errs))
	}
	select {
	case ev := <-events:
		t.Errorf("extra event %v", ev)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestSubscribe_LastID(t *testing.T) {
	s := newServer(t)
	var evs []presence.Event
	for i := range 5 {
		evs = append(evs, s.emit("statuses", "status", fmt.Sprintf(`{"n":%d}`, i)))
	}
	events := client.Subscribe(t.Context(), client.Options{BaseURL: s.srv.URL}, []string{"statuses"}, evs[1].Position.String())
	for _, want := range evs[2:] {
		if ev := next(t, events); ev.ID != want.Position.String() {
			t.Fatalf("got %s, want %s", ev.ID, want.Position)
		}
	}
}

func TestSubscribe_Reset(t *testing.T) {
	s := newServer(t)
	var evs []presence.Event
	for range 5 {
		evs = append(evs, s.emit("statuses", "status", `{}`))
	}
	s.log.Prune(evs[3].Position)
	events := client.Subscribe(t.Context(), client.Options{BaseURL: s.srv.URL}, []string{"statuses"}, evs[0].Position.String())
	ev := next(t, events)
	if ev.Kind != client.KindReset || ev.ID != evs[4].Position.String() {
		t.Fatalf("got %+v, want a reset at %s", ev, evs[4].Position)
	}
	live := s.emit("statuses", "status", `{}`)
	if ev := next(t, events); ev.ID != live.Position.String() {
		t.Fatalf("got %+v after the reset", ev)
	}
}

func TestSubscribe_RefusedForGood(t *testing.T) {
	s := newServer(t)
	errc := make(chan error, 10)
	events := client.Subscribe(t.Context(), client.Options{
		BaseURL: s.srv.URL,
		Backoff: fastBackoff,
		OnError: func(err error) { errc <- err },
	}, []string{"agents.nope"}, "")
	select {
	case _, ok := <-events:
		if ok {
			t.Fatal("got an event")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the channel stayed open")
	}
	err := <-errc
	if presence.ErrorCode(err) != presence.EINVALID || presence.ErrorMessage(err) == "" {
		t.Errorf("error = %v", err)
	}
}

// The server's precise code (token_expired, channel_not_found) does not
// hide the class of its status: a 401 or a 404 is final whatever its code,
// and OnError gets both.
func TestSubscribe_RefusedForGoodWithReason(t *testing.T) {
	for _, c := range []struct {
		status       int
		code, reason string
	}{
		{http.StatusUnauthorized, presence.EUNAUTHORIZED, "token_expired"},
		{http.StatusNotFound, presence.ENOTFOUND, "channel_not_found"},
		{http.StatusForbidden, presence.EFORBIDDEN, presence.EFORBIDDEN},
	} {
		t.Run(c.reason, func(t *testing.T) {
			var calls int
			var mu sync.Mutex
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				calls++
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(c.status)
				fmt.Fprintf(w, `{"error":{"code":%q,"message":"No."}}`, c.reason)
			}))
			defer srv.Close()
			errc := make(chan error, 1) // the first error; a client that retries must not block on it
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			events := client.SubscribeChannel(ctx, client.Options{BaseURL: srv.URL, Backoff: fastBackoff,
				OnError: func(err error) {
					select {
					case errc <- err:
					default:
					}
				}}, "c1", "")
			for range events {
				t.Fatal("got an event")
			}
			if ctx.Err() != nil {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("still retrying after %d requests", calls)
			}
			err := <-errc
			if presence.ErrorCode(err) != c.code || presence.ErrorReason(err) != c.reason || presence.ErrorMessage(err) != "No." {
				t.Errorf("error = %v; want code %s, reason %s", err, c.code, c.reason)
			}
		})
	}
}

func TestSubscribe_RetriesUnavailable(t *testing.T) {
	var calls int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		c := calls
		mu.Unlock()
		if c < 3 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":{"code":"unavailable","message":"Try later."}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: 1-1\nevent: presence\ndata: {\"topic\":\"statuses\",\"version\":1,\"body\":{}}\n\n")
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	events := client.Subscribe(ctx, client.Options{BaseURL: srv.URL, Backoff: fastBackoff}, []string{"statuses"}, "")
	if ev := next(t, events); ev.ID != "1-1" || ev.Topic != "statuses" {
		t.Errorf("got %+v", ev)
	}
}

// TestSubscribe_IdleTimeout: a server that goes silent, pings included, is
// left; the client reconnects from the last id.
func TestSubscribe_IdleTimeout(t *testing.T) {
	lastIDs := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastIDs <- r.Header.Get("Last-Event-ID")
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "id: 7-%d\ndata: {}\n\n", len(lastIDs))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // then silence
	}))
	defer srv.Close()
	defer srv.CloseClientConnections()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	events := client.Subscribe(ctx, client.Options{BaseURL: srv.URL, Backoff: fastBackoff, IdleTimeout: 100 * time.Millisecond}, []string{"statuses"}, "")
	first := next(t, events)
	second := next(t, events)
	if first.ID == second.ID || first.Kind != "message" {
		t.Errorf("got %+v then %+v", first, second)
	}
	if id := <-lastIDs; id != "" {
		t.Errorf("first connect sent Last-Event-ID %q", id)
	}
	if id := <-lastIDs; id != first.ID {
		t.Errorf("reconnect sent Last-Event-ID %q, want %q", id, first.ID)
	}
}

func TestSubscribe_ContextEnds(t *testing.T) {
	s := newServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	events := client.Subscribe(ctx, client.Options{BaseURL: s.srv.URL}, []string{"statuses"}, "")
	s.waitSubscribers(t, 1)
	cancel()
	for range events { // drains, then ends
	}
	s.waitSubscribers(t, 0)
}

func TestSubscribe_Token(t *testing.T) {
	auth := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth <- r.Header.Get("Authorization")
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	events := client.Subscribe(t.Context(), client.Options{BaseURL: srv.URL, Token: "s3cret"}, []string{"statuses"}, "")
	for range events { // 401 is final
	}
	if got := <-auth; got != "Bearer s3cret" {
		t.Errorf("Authorization = %q", got)
	}
}
