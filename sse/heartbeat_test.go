package sse

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/presenced/presenced/internal/presencetest"
)

// recorder is a ResponseWriter that can be read while a handler writes to
// it. It supports Flush but not write deadlines, like many test writers.
type recorder struct {
	mu     sync.Mutex
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.code = code
}
func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.body.Write(p)
}
func (r *recorder) Flush() {}
func (r *recorder) pings() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Count(r.body.String(), ": ping\n\n")
}

// TestHeartbeat checks the heartbeat timing on a fake clock: an idle
// stream gets ": ping" every Heartbeat, not before. The bubble also proves
// that every goroutine of the stream ends with it.
func TestHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const every = 15 * time.Second
		b := New(Config{Log: &presencetest.EventLog{}, Heartbeat: every, Logger: quiet})
		if err := b.Open(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		rec := &recorder{header: http.Header{}}
		done := make(chan struct{})
		go func() {
			defer close(done)
			b.ServeEvents(rec, httptest.NewRequestWithContext(ctx, "GET", "/v1/events?topic=statuses", nil))
		}()

		synctest.Wait()
		if rec.code != http.StatusOK {
			t.Fatalf("status %d", rec.code)
		}
		time.Sleep(every - time.Nanosecond)
		synctest.Wait()
		if n := rec.pings(); n != 0 {
			t.Errorf("%d pings before %v", n, every)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if n := rec.pings(); n != 1 {
			t.Errorf("%d pings at %v, want 1", n, every)
		}
		time.Sleep(2 * every)
		synctest.Wait()
		if n := rec.pings(); n != 3 {
			t.Errorf("%d pings at %v, want 3", n, 3*every)
		}

		cancel()
		<-done
		if n := b.Subscribers(); n != 0 {
			t.Errorf("Subscribers() = %d", n)
		}
		b.Close()
	})
}

// TestHeartbeat_OnTheWire checks the ping's form over real HTTP.
func TestHeartbeat_OnTheWire(t *testing.T) {
	f := newFixture(t, Config{Heartbeat: 20 * time.Millisecond})
	ts := f.stream("/v1/events?topic=statuses", "")
	select {
	case fr := <-ts.frames:
		if !fr.Ping {
			t.Errorf("got %+v, want a ping", fr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ping")
	}
}
