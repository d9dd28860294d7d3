package sse

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/internal/presencetest"
)

func TestMain(m *testing.M) { presencetest.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

// fixture is a broker behind an httptest server, with an in-memory log.
type fixture struct {
	t        testing.TB
	log      *presencetest.EventLog
	channels *memChannels
	b        *Broker
	srv      *httptest.Server
	client   *http.Client

	pubMu sync.Mutex // emit appends and publishes as one step, like the listener
}

// newFixture starts a broker; setup, when given, may change the server
// before it starts.
func newFixture(t testing.TB, cfg Config, setup ...func(*httptest.Server)) *fixture {
	t.Helper()
	f := &fixture{t: t, log: &presencetest.EventLog{}}
	f.channels = &memChannels{channels: map[string]*presence.Channel{}, emit: f.emit}
	if cfg.Log == nil {
		cfg.Log = f.log
	}
	if cfg.Channels == nil {
		cfg.Channels = f.channels
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	f.b = New(cfg)
	if err := f.b.Open(); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/events", f.b.ServeEvents)
	mux.HandleFunc("GET /v1/channels/{id}/events", func(w http.ResponseWriter, r *http.Request) {
		f.b.ServeChannel(w, r, r.PathValue("id"))
	})
	f.srv = httptest.NewUnstartedServer(mux)
	for _, fn := range setup {
		fn(f.srv)
	}
	f.srv.Start()
	tr := &http.Transport{}
	f.client = &http.Client{Transport: tr}
	// Cleanups run last first: the broker ends its streams, then the server
	// can close without waiting for them.
	t.Cleanup(f.srv.Close)
	t.Cleanup(tr.CloseIdleConnections)
	t.Cleanup(func() { f.b.Close() })
	return f
}

// emit appends an event to the log and publishes it, in order.
func (f *fixture) emit(topic, kind, body string) presence.Event {
	f.pubMu.Lock()
	defer f.pubMu.Unlock()
	ev := f.log.Add(topic, kind, body)
	f.b.Publish(ev)
	return ev
}

// get does a plain GET, for error answers.
func (f *fixture) get(path string, header http.Header) *http.Response {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}

// waitFor polls cond until it holds or the test times out.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// frame is one SSE block as read off the wire.
type frame struct {
	ID, Event, Data string
	Ping            bool // a ": ping" comment
}

// testStream reads an SSE response into frames.
type testStream struct {
	t      testing.TB
	resp   *http.Response
	frames chan frame
	done   chan struct{}
	cancel context.CancelFunc
	once   sync.Once
}

// stream opens path as an SSE stream, resuming after lastID if set.
func (f *fixture) stream(path, lastID string) *testStream {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+path, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		cancel()
		f.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		f.t.Fatalf("GET %s: %s %s", path, resp.Status, b)
	}
	ts := &testStream{t: f.t, resp: resp, frames: make(chan frame, 1024), done: make(chan struct{}), cancel: cancel}
	go ts.read()
	f.t.Cleanup(ts.close)
	return ts
}

func (ts *testStream) close() {
	ts.once.Do(func() {
		close(ts.done)
		ts.cancel()
		ts.resp.Body.Close()
	})
}

func (ts *testStream) read() {
	defer close(ts.frames)
	br := bufio.NewReader(ts.resp.Body)
	var fr frame
	var has bool
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return // an unfinished block is dropped, as the SSE spec says
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if has {
				select {
				case ts.frames <- fr:
				case <-ts.done:
					return
				}
			}
			fr, has = frame{}, false
		case strings.HasPrefix(line, ":"):
			fr.Ping, has = line == ": ping", true
		default:
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimPrefix(v, " ")
			switch k {
			case "id":
				fr.ID = v
			case "event":
				fr.Event = v
			case "data":
				if fr.Data != "" {
					fr.Data += "\n"
				}
				fr.Data += v
			}
			has = true
		}
	}
}

// next returns the next event, skipping pings.
func (ts *testStream) next() frame {
	ts.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case fr, ok := <-ts.frames:
			if !ok {
				ts.t.Fatal("the stream ended")
			}
			if fr.Ping {
				continue
			}
			return fr
		case <-timeout:
			ts.t.Fatal("timed out waiting for an event")
		}
	}
}

// expectEvents reads len(want) events and checks that they are want.
func (ts *testStream) expectEvents(want ...presence.Event) {
	ts.t.Helper()
	for i, ev := range want {
		fr := ts.next()
		if fr.ID != ev.Position.String() || fr.Event != ev.Kind || fr.Data != string(ev.Data()) {
			ts.t.Fatalf("event %d: got id=%s event=%s data=%s\nwant id=%s event=%s data=%s",
				i, fr.ID, fr.Event, fr.Data, ev.Position, ev.Kind, ev.Data())
		}
	}
}

// expectQuiet checks that no event arrives for a while.
func (ts *testStream) expectQuiet(d time.Duration) {
	ts.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case fr, ok := <-ts.frames:
			if ok && fr.Ping {
				continue
			}
			ts.t.Fatalf("unexpected frame %+v (open=%v)", fr, ok)
		case <-timeout:
			return
		}
	}
}

// expectEnd waits for the stream to end.
func (ts *testStream) expectEnd() {
	ts.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ts.frames:
			if !ok {
				return
			}
		case <-timeout:
			ts.t.Fatal("the stream did not end")
		}
	}
}

// apiError decodes the JSON error body of resp.
func apiError(t testing.TB, resp *http.Response) (code, message string) {
	t.Helper()
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Error.Code, body.Error.Message
}
