package db

import (
	"context"
	"sync"
	"time"

	"github.com/presenced/presenced/db/internal/dbsqlc"
)

// maxBeatBatch bounds the beats one statement carries.
const maxBeatBatch = 1000

// beatBatcher coalesces heartbeats that arrive together into one UPDATE,
// as a database coalesces commits ("group commit"): one statement and one
// commit for many beats costs the database a fraction of one each, which is
// what lets a node absorb thousands of beats per second. It adds no delay:
// a beat that finds a free slot runs at once (a batch of one); beats that
// arrive while the slots are busy queue up and go in the next batch.
//
// It runs no goroutine of its own. The callers lead: up to maxLeaders
// batches are in flight, each run by the goroutine of one waiting beat;
// when a leader's batch is done it hands the lead to the first queued beat,
// or gives the slot back when none waits. So no caller runs more than one
// batch per turn, and there is nothing to start or stop.
type beatBatcher struct {
	mu         sync.Mutex
	queue      []*beatRequest
	leaders    int
	maxLeaders int // half the pool, so beats never take every connection; set on first use
}

type beatRequest struct {
	id   string
	idle *bool
	done chan beatResult // buffered: the batch that carried the beat
	lead chan struct{}   // buffered: this beat's goroutine runs the next batch
	// leading is set, under mu, while a lead waits in the lead channel, so
	// that no two leaders hand it on to the same beat.
	leading bool
}

type beatResult struct {
	ok  bool // beaten; false: take the slow path
	err error
}

// beat runs the fast path for one beat and reports whether it applied.
func (b *beatBatcher) beat(ctx context.Context, db *DB, id string, idle *bool) (bool, error) {
	r := &beatRequest{id: id, idle: idle, done: make(chan beatResult, 1), lead: make(chan struct{}, 1)}
	b.mu.Lock()
	if b.maxLeaders == 0 {
		b.maxLeaders = max(1, int(db.pool.Stat().MaxConns())/2)
	}
	b.queue = append(b.queue, r)
	if b.leaders < b.maxLeaders {
		b.leaders++
		r.leading = true
		r.lead <- struct{}{}
	}
	b.mu.Unlock()
	for {
		select {
		case res := <-r.done:
			return res.ok, res.err
		case <-r.lead:
			b.runBatch(ctx, db, r)
		}
	}
}

// runBatch takes the queued beats (at most maxBeatBatch), applies them in
// one statement, answers each, and passes the lead on. self is the beat
// whose goroutine runs it.
//
// Invariant, under mu: while beats queue, leaders counts the batches in
// flight plus the leads waiting in a lead channel, and is at least one, so
// every queued beat is carried by some batch.
func (b *beatBatcher) runBatch(ctx context.Context, db *DB, self *beatRequest) {
	b.mu.Lock()
	self.leading = false
	n := min(len(b.queue), maxBeatBatch)
	batch := b.queue[:n:n]
	b.queue = b.queue[n:]
	b.mu.Unlock()

	// The batch carries other callers' beats: it must not fail because
	// this caller went away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	p := dbsqlc.SessionBeatManyParams{
		Ids: make([]string, 0, n), IdleGiven: make([]bool, 0, n), Idle: make([]bool, 0, n)}
	first := make(map[string]bool, n) // a session beaten twice in one batch
	for _, r := range batch {
		if first[r.id] {
			continue // answered false below: the slow path applies it in turn
		}
		first[r.id] = true
		p.Ids = append(p.Ids, r.id)
		p.IdleGiven = append(p.IdleGiven, r.idle != nil)
		p.Idle = append(p.Idle, r.idle != nil && *r.idle)
	}
	beaten, err := db.q.SessionBeatMany(ctx, db.pool, p)
	cancel()
	ok := make(map[string]bool, len(beaten))
	for _, id := range beaten {
		ok[id] = true
	}
	for _, r := range batch {
		if first[r.id] {
			r.done <- beatResult{ok: ok[r.id], err: err}
			first[r.id] = false
		} else {
			r.done <- beatResult{err: err}
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, next := range b.queue {
		if !next.leading {
			next.leading = true
			next.lead <- struct{}{} // the slot stays taken, by the next leader
			return
		}
	}
	// Nothing queued, or every queued beat holds a lead already.
	b.leaders--
}
