package db_test

import (
	"errors"
	"io"
	"net"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
)

// cutProxy forwards TCP connections to a PostgreSQL server and can cut
// them all at once, as a network fault or a dying server would.
type cutProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu      sync.Mutex
	conns   []net.Conn
	down    bool        // connections are closed as soon as accepted
	attempt []time.Time // when each connection was accepted
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ok(t, err)
	p := &cutProxy{ln: ln, target: target}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.attempt = append(p.attempt, time.Now())
			down := p.down
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.down { // it went down while we dialled
				p.mu.Unlock()
				c.Close()
				up.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(up, c); up.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut(false); p.wg.Wait() })
	return p
}

// cut closes every connection; reset makes the client side see a TCP
// reset instead of an orderly end.
func (p *cutProxy) cut(reset bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok && reset {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
	p.conns = nil
}

// setDown makes the server look down (every connection cut, new ones
// closed at once) or up again.
func (p *cutProxy) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.cut(false)
	}
}

// attempts returns when connections were accepted, since start.
func (p *cutProxy) attempts(since time.Time) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []time.Time
	for _, a := range p.attempt {
		if !a.Before(since) {
			out = append(out, a)
		}
	}
	return out
}

// through returns dbURL with its host replaced by the proxy's.
func (p *cutProxy) through(t *testing.T, dbURL string) string {
	u, err := url.Parse(dbURL)
	ok(t, err)
	u.Host = p.ln.Addr().String()
	return u.String()
}

// A write whose connection dies mid-statement (the backend killed, the
// connection cut or reset) is unavailable, to be retried (HTTP 503 with
// Retry-After), not an internal error.
func TestWriteWhoseBackendDiesIsUnavailable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault func(p *cutProxy, d *db.DB, pid uint32) error
	}{
		{"BackendTerminated", func(_ *cutProxy, d *db.DB, pid uint32) error {
			_, err := d.Pool().Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
			return err
		}},
		{"ConnectionEnds", func(p *cutProxy, _ *db.DB, _ uint32) error { p.cut(false); return nil }},
		{"ConnectionReset", func(p *cutProxy, _ *db.DB, _ uint32) error { p.cut(true); return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := dbtest.MustOpenDB(t)
			mustAgent(t, d, "a1")
			u, err := url.Parse(d.URL)
			ok(t, err)
			p := startCutProxy(t, u.Host)
			w := db.NewDB(p.through(t, d.URL))
			w.Logger = d.Logger
			ok(t, w.Open(ctx))
			defer w.Close()

			// The write waits for the agent's row lock: a slow statement.
			blocker, err := d.Pool().Begin(ctx)
			ok(t, err)
			defer blocker.Rollback(ctx)
			_, err = blocker.Exec(ctx, "SELECT 1 FROM agents WHERE id = 'a1' FOR UPDATE")
			ok(t, err)
			done := make(chan error, 1)
			go func() {
				_, err := w.SetPresence(ctx, "a1", presence.PresenceChange{Status: "busy"})
				done <- err
			}()
			var pid uint32
			for deadline := time.Now().Add(10 * time.Second); pid == 0; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the write never waited for the lock")
				}
				err := d.Pool().QueryRow(ctx, `SELECT coalesce(max(pid), 0) FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&pid)
				ok(t, err)
			}
			ok(t, tc.fault(p, d, pid))
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the write did not end")
			}
			if code := presence.ErrorCode(err); code != presence.EUNAVAILABLE {
				var perr *presence.Error
				t.Fatalf("write whose backend died: %v (code %q, presence error %v), want %q",
					err, code, errors.As(err, &perr), presence.EUNAVAILABLE)
			}
		})
	}
}

// While the database is down the listener retries at least every second
// (its backoff is capped low), so that it, and the node's readiness with
// it, is back within a second of the database, however long it was down.
func TestListenerRetriesWithinASecond(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	u, err := url.Parse(d.URL)
	ok(t, err)
	p := startCutProxy(t, u.Host)
	viaProxy := db.NewDB(p.through(t, d.URL))
	viaProxy.Logger = d.Logger
	ok(t, viaProxy.Open(ctx))
	defer viaProxy.Close()
	c := newCollector()
	l := mustListen(t, viaProxy, c)
	for start := time.Now(); !l.Connected(); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("the listener did not connect")
		}
	}

	downAt := time.Now()
	p.setDown(true)
	// Long enough for a backoff that doubles from 50 ms (with jitter of
	// half) to have waited at least 1.6 s once.
	time.Sleep(7 * time.Second)
	var gaps []time.Duration
	tries := p.attempts(downAt)
	for i := 1; i < len(tries); i++ {
		gaps = append(gaps, tries[i].Sub(tries[i-1]))
	}
	if len(tries) < 5 || slices.Max(gaps) > time.Second {
		t.Fatalf("%d connection attempts in 7 s, gaps %v: want one at least every second", len(tries), gaps)
	}
	p.setDown(false)
	upAt := time.Now()
	for !l.Connected() {
		if time.Since(upAt) > 5*time.Second {
			t.Fatal("the listener did not reconnect")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if took := time.Since(upAt); took > time.Second {
		t.Fatalf("the listener reconnected %v after the database was back, want within 1 s", took)
	}
}
