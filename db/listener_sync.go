package db

// The listener's Sync: read-your-writes for the node's own answers.

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Sync returns once every event committed before the call has been
// published (and Position has passed it), or with ctx's error. It wakes
// the listener for a fresh read of the log and waits for a read that began
// after the call and found nothing held back behind an open transaction.
// The HTTP layer calls it so that a node's reads reflect the writes it has
// answered (read-your-writes); it costs one log read, shared by every
// caller waiting at the time.
func (l *Listener) Sync(ctx context.Context) error {
	mark := l.rounds.Load()
	l.wake()
	for {
		l.syncMu.Lock()
		if l.settled > mark {
			l.syncMu.Unlock()
			return nil
		}
		if l.settledCh == nil {
			l.settledCh = make(chan struct{})
		}
		ch := l.settledCh
		l.syncMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// wake makes the listener read the log now: it cuts short the wait for a
// doorbell, or, between waits, skips the next one.
func (l *Listener) wake() {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.woken = true
	if l.waitStop != nil {
		l.waitStop()
	}
}

// settle records that round n found nothing held back.
func (l *Listener) settle(n uint64) {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if n <= l.settled {
		return
	}
	l.settled = n
	if l.settledCh != nil {
		close(l.settledCh)
		l.settledCh = nil
	}
}

// waitForDoorbell waits up to d for a notification, or less when a Sync
// wakes the listener; woken reports the latter.
func (l *Listener) waitForDoorbell(ctx context.Context, conn *pgx.Conn, d time.Duration) (woken bool, err error) {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	l.syncMu.Lock()
	woken, l.woken = l.woken, false
	if !woken {
		l.waitStop = cancel
	}
	l.syncMu.Unlock()
	if woken {
		return true, nil
	}
	_, err = conn.WaitForNotification(wctx)
	l.syncMu.Lock()
	woken, l.woken = l.woken, false
	l.waitStop = nil
	l.syncMu.Unlock()
	if woken && ctx.Err() == nil && (errors.Is(err, context.Canceled) || pgconn.Timeout(err)) {
		return true, nil
	}
	return woken, err
}
