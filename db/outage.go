package db

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// outage logs a database outage once when it starts and once when it ends,
// with the number of requests that failed meanwhile, instead of a line per
// failed request (hundreds a second on a busy node). Every authenticated
// request looks its token up first, so Authenticate reports to it: each
// lookup that failed because the database is unreachable, and each that
// succeeded (one atomic load while all is well). A presence change may
// skip the lookup (AuthenticateForWrite), so its write reports too.
type outage struct {
	down   atomic.Bool
	mu     sync.Mutex // guards the fields below and the changes of down
	since  time.Time
	failed int64
}

// fail counts a request that failed because the database is unreachable;
// the first of an outage is logged, with its error.
func (o *outage) fail(logger *slog.Logger, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failed++
	if o.down.Load() {
		return
	}
	o.down.Store(true)
	o.since = time.Now()
	logger.Error("database unreachable: requests fail with 503 until it is back", "err", err)
}

// write counts the requests of a write by its error: failed because the
// database is unreachable, or served (nil, or any other answer). A write
// whose caller left reports nothing.
func (o *outage) write(ctx context.Context, logger *slog.Logger, err error, requests int) {
	switch {
	case err == nil:
		o.ok(logger)
	case ctx.Err() != nil:
	case isUnavailable(err):
		for range requests {
			o.fail(logger, err)
		}
	default:
		o.ok(logger)
	}
}

// ok records a request the database served; the first after an outage
// logs its end.
func (o *outage) ok(logger *slog.Logger) {
	if !o.down.Load() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.down.Load() {
		return
	}
	logger.Warn("database reachable again", "down_for", time.Since(o.since).Round(time.Millisecond).String(),
		"failed_requests", o.failed)
	o.down.Store(false)
	o.failed = 0
}
