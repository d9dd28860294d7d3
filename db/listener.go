package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

// NotifyChannel is the channel the event triggers notify.
const NotifyChannel = "presenced_events"

// Listener feeds a node from the event log. It holds one LISTEN connection
// of its own (not borrowed from the pool for good); a notification is only a
// doorbell, so on every notification, on every reconnect and on a timer it
// reads the log after the last position it delivered, in order, and hands
// each event to Publish. A node started later, or cut off for a while,
// catches up and loses nothing.
//
// It reads the log on the LISTEN connection itself, one statement a read:
// a node busy writing would otherwise make its own event delivery queue for
// a pooled connection behind its writers.
type Listener struct {
	db      *DB
	publish func(presence.Event)
	Logger  *slog.Logger

	// PollInterval bounds how long the listener waits without a
	// notification before it reads the log anyway and pings its connection.
	PollInterval time.Duration
	// HeldBackInterval bounds how soon it re-reads while committed events
	// wait behind an older open transaction, which may never ring the bell.
	// It re-reads after minHeldBack first and doubles the wait up to this:
	// most such transactions end within a millisecond or two.
	HeldBackInterval time.Duration
	// MaxBackoff caps the wait between reconnect attempts. It bounds how
	// long the node stays not ready after the database is back, or after
	// a failover's promotion (readiness needs the listener), so it is
	// short: an attempt against a database that is down costs it one
	// refused connection.
	MaxBackoff time.Duration
	// OnRewind, when set, is called from the listener's goroutine when a
	// reconnect finds that events this node served are not in the log
	// (with their epoch): the database is a new primary that never
	// received them (asynchronous replication), or another database.
	// When the last event the listener delivered is among them it goes on
	// from the log's head, given as head; else from where it was. Whoever
	// got events from it must drop what it holds and resume by id, which
	// resets every reader that may have seen a lost event (node.Node ends
	// every stream).
	OnRewind func(head presence.Position)

	position   atomic.Pointer[presence.Position]
	connected  atomic.Bool
	reconnects atomic.Int64
	rewinds    atomic.Int64
	server     string // the address and epoch of the last connection (listener goroutine only)

	// Sync's bookkeeping: rounds counts the catch-up reads begun; settled
	// is the newest round that found nothing held back, so that every
	// event committed before it began has been published.
	rounds    atomic.Uint64
	syncMu    sync.Mutex
	settled   uint64
	settledCh chan struct{} // closed when settled moves; nil until a Sync waits
	woken     bool          // a Sync wants a new round at once
	waitStop  context.CancelFunc

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// DefaultMaxBackoff is the default Listener.MaxBackoff: with jitter, the
// listener is back within half a second of the database.
const DefaultMaxBackoff = 500 * time.Millisecond

// NewListener returns a listener that publishes to publish, one event at a
// time, in position order, from a single goroutine.
func NewListener(db *DB, publish func(presence.Event)) *Listener {
	return &Listener{
		db: db, publish: publish, Logger: db.Logger,
		PollInterval: 5 * time.Second, HeldBackInterval: 20 * time.Millisecond, MaxBackoff: DefaultMaxBackoff,
	}
}

// Open starts listening after the newest event in the log: a stream that
// wants older events asks the log itself (Last-Event-ID).
func (l *Listener) Open(ctx context.Context) error {
	head, err := l.db.HeadPosition(ctx)
	if err != nil {
		return err
	}
	l.position.Store(&head)
	ctx, l.cancel = context.WithCancel(context.Background())
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		l.run(ctx)
	}()
	return nil
}

// Close stops the listener and waits for it.
func (l *Listener) Close() error {
	if l.cancel != nil {
		l.cancel()
		l.done.Wait()
	}
	return nil
}

// Connected reports whether the LISTEN connection is up (readiness).
func (l *Listener) Connected() bool { return l.connected.Load() }

// Position is the newest position delivered.
func (l *Listener) Position() presence.Position { return *l.position.Load() }

// Reconnects counts connections lost and re-made.
func (l *Listener) Reconnects() int64 { return l.reconnects.Load() }

func (l *Listener) run(ctx context.Context) {
	backoff := 50 * time.Millisecond
	var failed int // connection attempts failed in a row
	var downSince time.Time
	for ctx.Err() == nil {
		conn, err := l.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// Logged once per outage: retries come every MaxBackoff.
			if failed == 0 {
				downSince = time.Now()
				l.Logger.Warn("event listener cannot connect; retrying until it can", "err", err)
			}
			failed++
			sleep(ctx, jitter(backoff))
			backoff = min(2*backoff, l.MaxBackoff)
			continue
		}
		if failed > 0 {
			l.Logger.Info("event listener connected again", "attempts", failed+1,
				"down_for", time.Since(downSince).Round(time.Millisecond).String())
			failed = 0
		}
		backoff = 50 * time.Millisecond
		if err = l.checkHistory(ctx, conn); err != nil {
			_ = conn.Close(context.Background())
			l.Logger.Warn("event listener cannot check its position; reconnecting", "err", err)
			sleep(ctx, jitter(backoff))
			continue
		}
		l.connected.Store(true)
		err = l.serve(ctx, conn)
		l.connected.Store(false)
		_ = conn.Close(context.Background())
		if ctx.Err() != nil {
			return
		}
		l.reconnects.Add(1)
		l.Logger.Warn("event listener lost its connection; reconnecting", "err", err)
	}
}

func (l *Listener) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg := l.db.pool.Config().ConnConfig.Copy()
	if l.db.ListenURL != "" {
		// Straight to the primary: a pooler in transaction mode would
		// hand LISTEN's session to other clients.
		direct, err := pgx.ParseConfig(l.db.ListenURL)
		if err != nil {
			return nil, fmt.Errorf("listen database URL: %w", err)
		}
		if direct.ConnectTimeout == 0 {
			direct.ConnectTimeout = DefaultConnectTimeout
		}
		direct.RuntimeParams["timezone"] = "UTC"
		direct.DialFunc = dialer().DialContext
		cfg = direct
	}
	// A wait that times out must leave the connection usable: set a
	// deadline rather than send a cancel request.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	cfg.RuntimeParams["application_name"] = "presenced-listener"
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return nil, err
	}
	// The log read runs after every doorbell, and again every few
	// milliseconds while an open transaction holds events back: hundreds
	// of times a second under write load. Left to choose, PostgreSQL plans
	// it afresh each time (its generic plan's estimate never wins), and
	// planning cost five times the read (230 against 45 µs). The generic
	// plan is the same two index scans (TestListenerReadsWithGenericPlan). A
	// SET, not a startup parameter, which a pooler in between may refuse.
	for _, stmt := range []string{"SET plan_cache_mode = force_generic_plan", "LISTEN " + NotifyChannel} {
		if _, err := conn.Exec(cctx, stmt); err != nil {
			_ = conn.Close(context.Background())
			return nil, err
		}
	}
	return conn, nil
}

// minHeldBack is the first re-read's delay while events are held back.
const minHeldBack = time.Millisecond

// serve catches up, then waits for doorbells until the connection fails.
func (l *Listener) serve(ctx context.Context, conn *pgx.Conn) error {
	var heldBackWait time.Duration
	for {
		drainNotifications(conn)
		heldBack, err := l.catchUp(ctx, conn)
		if err != nil {
			return err
		}
		wait := l.PollInterval
		if heldBack {
			heldBackWait = min(max(2*heldBackWait, minHeldBack), l.HeldBackInterval)
			wait = heldBackWait
		} else {
			heldBackWait = 0
		}
		woken, err := l.waitForDoorbell(ctx, conn, wait)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case woken && err == nil:
			continue
		case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
			if heldBack {
				continue
			}
			// Quiet for a while: make sure the connection still works, as a
			// half-open TCP connection would otherwise hide lost doorbells.
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
		case err != nil:
			return err
		}
	}
}

// drainNotifications drops the doorbells already received: the read that
// follows starts after them, so it sees what they rang for. Doorbells that
// arrive during that read stay for the next round (their commits may be
// later than its snapshot).
func drainNotifications(conn *pgx.Conn) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for {
		// With a done context pgx returns a buffered notification, or
		// an error without touching the connection.
		if _, err := conn.WaitForNotification(done); err != nil {
			return
		}
	}
}

// catchUp publishes every final event after the current position and
// reports whether committed events wait behind an open transaction.
func (l *Listener) catchUp(ctx context.Context, conn *pgx.Conn) (bool, error) {
	const page = 1000
	// Counted before the first read, so its snapshot is later than any
	// Sync that saw the round before this one.
	round := l.rounds.Add(1)
	pos := l.Position()
	for {
		rows, err := l.db.q.EventListVisibleAfter(ctx, conn, dbsqlc.EventListVisibleAfterParams{
			AfterXid: int64(pos.Xid), AfterID: pos.ID, MaxRows: page})
		if err != nil {
			return false, err
		}
		delivered, heldBack := 0, false
		for _, r := range rows {
			if r.Xid >= r.Horizon {
				// Committed, but an older transaction is still open and
				// may yet write events before it.
				heldBack = true
				break
			}
			ev := presence.Event{Position: presence.Position{Epoch: uint32(r.Epoch), Xid: uint64(r.Xid), ID: r.ID},
				Topic: r.Topic, Kind: r.Kind, At: r.At, Body: r.Body}
			l.publish(ev)
			l.db.served.add(time.Now(), ev.Position)
			pos = ev.Position
			// A copy per store: Position readers dereference the pointer
			// while the next event overwrites pos (a data race).
			stored := pos
			l.position.Store(&stored)
			delivered++
		}
		if delivered < page {
			if !heldBack {
				l.settle(round)
			}
			return heldBack, nil
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// jitter spreads reconnects of many nodes: d/2 .. d.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}
