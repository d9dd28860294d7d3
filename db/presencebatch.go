package db

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

// DefaultPresenceBatch is the most presence changes one transaction
// carries unless DB.PresenceBatch says otherwise.
const DefaultPresenceBatch = 256

// presenceBatchesInFlight is how many batches may be in flight at once:
// one per core, at least two. A batch runs in one backend, on one core;
// with one batch at a time the database could not use the other cores for
// presence changes, and on a busy machine the one backend got one share
// of the CPU where sixteen single-change transactions had had sixteen.
// Batches of the same agents wait for each other's locks as single
// changes do.
func presenceBatchesInFlight() int { return max(2, runtime.NumCPU()) }

// presenceBatchLinger bounds how long a formed batch waits for more
// changes while another batch is in flight: longer than a batch of a few
// dozen changes takes, so that under load it does not fire, and short
// enough that a batch stuck behind a lock (until presenceBatchTimeout)
// does not hold up the changes that come after it.
const presenceBatchLinger = 20 * time.Millisecond

// presenceBatchTimeout bounds one batch: it carries other callers'
// changes, so it does not end when one of them goes away.
const presenceBatchTimeout = 30 * time.Second

// presenceBatcher is group commit for presence changes (docs/groupcommit.md).
//
// Every notifying commit in the cluster takes NOTIFY's lock and, in
// PostgreSQL 15, holds it through its WAL flush, so a node made no more
// changes per second than the cluster made commits, ~2,000/s here, however
// many clients it had. The batcher puts the changes that arrive together
// into one statement, presence_change_many (migrations/00015): one
// transaction, one commit, one NOTIFY for all of them.
//
// A few goroutines run the batches (presenceBatchesInFlight), each one
// batch at a time, and one at a time forms the next batch: it takes the
// changes that arrive until no batch is in flight, or until it holds as
// many as the batches in flight do on average (or max), or for 20 ms at
// most, and goes. Under low load a batch is one change, which goes at
// once as it did before group commit (one presence_apply statement), so
// latency does not rise by more than the hand-off to the goroutine. Under
// load the batches stay large. (When a free goroutine took whatever
// waited and went, with a batch in flight it mostly went with one change:
// 3 in 10 changes at 16 clients went alone, each with its own commit and
// doorbell, and a change cost 13-21 % more CPU.)
//
// Each item has its own answer: the record it left, or its own error for
// an unknown agent or status while its neighbours are applied. If the
// statement fails (a deadlock with another transaction, a status deleted
// under the batch, a value PostgreSQL refuses), nothing of it was written
// and each item is then applied alone, in order, with its own answer. If
// the outcome is unknown (the connection broke, the server went away, the
// batch timed out) every item answers 503 (retryable; the same change
// again is harmless): an item is never reported done unless its commit was
// confirmed.
type presenceBatcher struct {
	db   *DB
	max  int
	reqs chan *presenceRequest // unbuffered: a request waits in its sender until taken
	quit chan struct{}
	stop sync.Once
	wg   sync.WaitGroup

	linger   time.Duration // the longest a formed batch waits for company (presenceBatchLinger)
	forming  chan struct{} // holds a token while a goroutine forms a batch
	inFlight struct {
		sync.Mutex
		batches, changes int
	}
	finished chan struct{} // a batch ended; buffered, a wake-up may be dropped when one waits
}

type presenceRequest struct {
	ctx   context.Context
	agent string
	ch    presence.PresenceChange
	res   chan presenceResult // buffered
}

type presenceResult struct {
	rec *presence.Record
	err error
}

func newPresenceBatcher(db *DB, max int) *presenceBatcher {
	return &presenceBatcher{db: db, max: max, reqs: make(chan *presenceRequest), quit: make(chan struct{}),
		linger: presenceBatchLinger, forming: make(chan struct{}, 1), finished: make(chan struct{}, 1)}
}

func (b *presenceBatcher) open() {
	for range presenceBatchesInFlight() {
		b.wg.Add(1)
		go b.loop()
	}
}

// close stops taking changes and waits for the batches in flight. A
// second call waits too.
func (b *presenceBatcher) close() {
	b.stop.Do(func() { close(b.quit) })
	b.wg.Wait()
}

// change applies one validated change in the next batch.
func (b *presenceBatcher) change(ctx context.Context, agentID string, ch presence.PresenceChange) (*presence.Record, error) {
	r := &presenceRequest{ctx: ctx, agent: agentID, ch: ch, res: make(chan presenceResult, 1)}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.quit:
		return nil, presence.Errorf(presence.EUNAVAILABLE, "The server is shutting down; retry.")
	}
	res := <-r.res // bounded by presenceBatchTimeout
	return res.rec, res.err
}

func (b *presenceBatcher) loop() {
	defer b.wg.Done()
	batch := make([]*presenceRequest, 0, b.max)
	for {
		batch = b.form(batch[:0])
		if len(batch) == 0 {
			return // quit
		}
		b.run(batch)
		b.ended(len(batch))
		clear(batch)
	}
}

// form takes the next batch and counts it in flight: the first change to
// arrive, every change waiting behind it, and those that arrive while the
// batch is not ready to go (ready), for at most linger. One goroutine
// forms at a time, so the changes that wait make one batch, not one
// each. It returns an empty batch on quit.
func (b *presenceBatcher) form(batch []*presenceRequest) []*presenceRequest {
	select {
	case b.forming <- struct{}{}:
	case <-b.quit:
		return batch
	}
	defer func() { <-b.forming }()
	select {
	case r := <-b.reqs:
		batch = append(batch, r)
	case <-b.quit:
		return batch
	}
	var timeout <-chan time.Time
wait:
	for len(batch) < b.max {
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
			continue
		default:
		}
		if b.ready(len(batch)) {
			break
		}
		if timeout == nil {
			t := time.NewTimer(b.linger)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
		case <-b.finished:
		case <-timeout:
			break wait
		case <-b.quit:
			break wait // taken, so to be answered: run them first
		}
	}
	// Counted before the next goroutine may form, which would otherwise
	// see none in flight and go with one change.
	b.started(len(batch))
	return batch
}

// ready reports whether a batch of n changes goes now: when no batch is
// in flight (the database would otherwise wait for it), or when it is as
// large as the batches in flight on average (two of that size take the
// cores the database has, and each change costs about what it costs in
// theirs).
func (b *presenceBatcher) ready(n int) bool {
	b.inFlight.Lock()
	defer b.inFlight.Unlock()
	return b.inFlight.batches == 0 || n*b.inFlight.batches >= b.inFlight.changes
}

func (b *presenceBatcher) started(n int) {
	b.inFlight.Lock()
	b.inFlight.batches++
	b.inFlight.changes += n
	b.inFlight.Unlock()
}

func (b *presenceBatcher) ended(n int) {
	b.inFlight.Lock()
	b.inFlight.batches--
	b.inFlight.changes -= n
	b.inFlight.Unlock()
	select {
	case b.finished <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// run applies a batch and answers every request in it.
func (b *presenceBatcher) run(batch []*presenceRequest) {
	live := make([]*presenceRequest, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.res <- presenceResult{err: err} // the caller left before its turn
			continue
		}
		live = append(live, r)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		r := live[0]
		rec, err := b.db.setPresenceNow(r.ctx, r.agent, r.ch)
		r.res <- presenceResult{rec, err}
		return
	}
	// Agent id order, so the rows are locked in the order every batch
	// locks them; a stable sort keeps one agent's changes in the order
	// they arrived.
	slices.SortStableFunc(live, func(x, y *presenceRequest) int { return strings.Compare(x.agent, y.agent) })
	results, err := b.apply(live)
	switch {
	case err == nil:
		b.db.outage.write(context.Background(), b.db.Logger, nil, len(live))
		for i, r := range live {
			r.res <- results[i]
		}
	case committedOrNot(err):
		// The commit may or may not have happened: not one is reported
		// done, nor failed for good.
		b.db.Logger.Warn("presence batch: outcome unknown, every change answers 503", "changes", len(live), "err", err)
		b.db.outage.write(context.Background(), b.db.Logger, err, len(live))
		unknown := presence.Errorf(presence.EUNAVAILABLE, "The database did not confirm the change; retry.")
		for _, r := range live {
			r.res <- presenceResult{err: unknown}
		}
	default:
		// Rolled back, nothing written: each change alone, in the same
		// order, with its own answer.
		b.db.Logger.Info("presence batch failed, applying its changes one at a time", "changes", len(live), "err", err)
		for _, r := range live {
			rec, err := b.db.setPresenceNow(r.ctx, r.agent, r.ch)
			r.res <- presenceResult{rec, err}
		}
	}
}

// apply runs the batch in one statement. A nil error means it committed;
// the results are then each item's answer.
func (b *presenceBatcher) apply(batch []*presenceRequest) ([]presenceResult, error) {
	n := len(batch)
	agents, statuses, sources := make([]string, n), make([]string, n), make([]string, n)
	reasons, messages, ats := make([]*string, n), make([]*string, n), make([]*time.Time, n)
	tokens := make([]*string, n)
	for i, r := range batch {
		agents[i], statuses[i], sources[i] = r.agent, r.ch.Status, r.ch.Source
		reasons[i], messages[i], ats[i] = r.ch.ReasonCode, r.ch.Message, r.ch.At
		tokens[i] = requestToken(r.ctx)
	}
	ctx, cancel := context.WithTimeout(context.Background(), presenceBatchTimeout)
	defer cancel()
	// The generated PresenceChangeMany cannot pass NULL array elements;
	// the arguments follow its parameters.
	rows, err := b.db.pool.Query(ctx, dbsqlc.PresenceChangeMany, agents, statuses, sources, reasons, messages, ats, tokens)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	results := make([]presenceResult, n)
	answered := 0
	for rows.Next() {
		var ord int32
		var code string
		var record []byte
		if err := rows.Scan(&ord, &code, &record); err != nil {
			return nil, err
		}
		if ord < 1 || int(ord) > n {
			return nil, fmt.Errorf("presence batch: item %d of %d", ord, n)
		}
		r, res := batch[ord-1], &results[ord-1]
		if code == codeTokenRefused {
			res.err = b.db.refusedToken(tokens[ord-1])
		} else if code != "" {
			if res.err = presenceChangeErrorCode(code, r.agent, r.ch); res.err == nil {
				res.err = fmt.Errorf("presence batch: error code %q", code)
			}
		} else if res.rec, res.err = recordFromJSON(record); res.err != nil {
			// Written, but this answer cannot say so: a bug, not the
			// client's to retry.
			res.err = fmt.Errorf("presence batch: record of %s: %w", r.agent, res.err)
		}
		answered++
	}
	// Err reports the statement's end, its commit included.
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if answered != n {
		return nil, fmt.Errorf("presence batch: %d answers for %d items", answered, n)
	}
	return results, nil
}

// committedOrNot reports whether after err the batch may have committed:
// anything but an error the server reported and rolled back (severity
// ERROR) or a request that never left. An error found in the answers
// comes after the statement ran, so it counts as may-have-committed too.
func committedOrNot(err error) bool {
	if pgconn.SafeToRetry(err) {
		return false
	}
	if pgErr := asPgError(err); pgErr != nil {
		severity := pgErr.SeverityUnlocalized
		if severity == "" {
			severity = pgErr.Severity
		}
		return severity != "ERROR" // FATAL, PANIC: the session ended, maybe after the commit
	}
	return true
}

// recordFromJSON reads a record in its JSON form (presence_record_json,
// the body of its event).
func recordFromJSON(b []byte) (*presence.Record, error) {
	var rec presence.Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, err
	}
	if rec.Since != nil {
		since := rec.Since.UTC()
		rec.Since = &since
	}
	if rec.Queues == nil {
		rec.Queues = []string{}
	}
	return &rec, nil
}
