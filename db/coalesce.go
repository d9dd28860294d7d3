package db

import (
	"context"
	"sync"
	"time"
)

// coalescer puts the calls that arrive together into one batch, as a
// database puts commits together ("group commit"): one statement for many
// calls costs the database, and the node its round trip, a fraction of one
// each. It adds no delay: a call that finds a free slot runs at once (a
// batch of one); calls that arrive while the slots are busy queue up and go
// in the next batch. Heartbeats (heartbeats.go) and token lookups
// (tokens.go) go through one.
//
// It runs no goroutine of its own. The callers lead: up to maxLeaders
// batches are in flight, each run by the goroutine of one waiting call;
// when a leader's batch is done it hands the lead to the first queued call,
// or gives the slot back when none waits. So no caller runs more than one
// batch per turn, and there is nothing to start or stop.
//
// A call waits for its batch even when its caller's context ends: the
// batch runs under its own timeout, and a call that left its queue would
// leave its lead with it.
type coalescer[In, Out any] struct {
	// run answers a batch: out[i] for in[i]. Its context is the batch's,
	// not any caller's: the batch carries other callers' calls and must
	// not fail because one went away.
	run      func(ctx context.Context, in []In) []Out
	maxBatch int           // the most calls one batch carries
	timeout  time.Duration // how long a batch may take
	// maxLeaders is the most batches in flight; it is asked on first use.
	maxLeaders func() int

	mu      sync.Mutex
	queue   []*coalescedCall[In, Out]
	leaders int
	limit   int // maxLeaders(), once asked
}

type coalescedCall[In, Out any] struct {
	in   In
	done chan Out      // buffered: the batch that carried the call answers here
	lead chan struct{} // buffered: this call's goroutine runs the next batch
	// leading is set, under mu, while a lead waits in the lead channel, so
	// that no two leaders hand it on to the same call.
	leading bool
}

// call queues in and returns its answer, running batches (its own or
// another's) when it is handed the lead.
func (c *coalescer[In, Out]) call(ctx context.Context, in In) Out {
	r := &coalescedCall[In, Out]{in: in, done: make(chan Out, 1), lead: make(chan struct{}, 1)}
	c.mu.Lock()
	if c.limit == 0 {
		c.limit = max(1, c.maxLeaders())
	}
	c.queue = append(c.queue, r)
	if c.leaders < c.limit {
		c.leaders++
		r.leading = true
		r.lead <- struct{}{}
	}
	c.mu.Unlock()
	for {
		select {
		case out := <-r.done:
			return out
		case <-r.lead:
			c.runBatch(ctx, r)
		}
	}
}

// runBatch runs self's call and the calls queued behind it that no other
// goroutine leads (at most maxBatch in all) as one batch, answers each,
// and passes the lead on.
//
// Invariant, under mu: leaders counts the batches in flight plus the
// leads waiting in a lead channel, and while calls queue it is at least
// one, so every queued call is carried by some batch. A call that holds a
// lead stays out of other batches: it runs its own. (Taken into another
// batch, it could return with its answer and leave its lead unreceived in
// its channel, a slot lost for good; enough of them and no call would
// ever run.)
func (c *coalescer[In, Out]) runBatch(ctx context.Context, self *coalescedCall[In, Out]) {
	c.mu.Lock()
	self.leading = false
	batch := []*coalescedCall[In, Out]{self}
	queue := make([]*coalescedCall[In, Out], 0, len(c.queue))
	for _, r := range c.queue {
		switch {
		case r == self:
		case !r.leading && len(batch) < c.maxBatch:
			batch = append(batch, r)
		default:
			queue = append(queue, r)
		}
	}
	c.queue = queue
	n := len(batch)
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	in := make([]In, n)
	for i, r := range batch {
		in[i] = r.in
	}
	out := c.run(ctx, in)
	cancel()
	for i, r := range batch {
		r.done <- out[i]
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, next := range c.queue {
		if !next.leading {
			next.leading = true
			next.lead <- struct{}{} // the slot stays taken, by the next leader
			return
		}
	}
	// Nothing queued, or every queued call holds a lead already.
	c.leaders--
}
