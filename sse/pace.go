package sse

import (
	"sync"
	"time"
)

// Pacing. Publish drops a subscriber whose buffer is full rather than wait
// for it. But a burst (the listener catching up on the log after an outage
// or a reconnect, a batch of thousands of changes in one transaction) comes
// faster than any client reads, and would fill every buffer at once and
// drop every subscriber, healthy or not. So Publish goes at the pace of the
// streams that keep up: when an event leaves a subscriber's buffer (or
// pending queue) three quarters full, Publish, after it has released the
// broker's lock, waits for it to drain to a quarter before it returns; the
// listener publishes the next event only then.
//
// Keeping up means draining half a buffer (128 events by default) within
// maxPaceWait, 512 events a second. A subscriber that does not is not waited for again for
// paceForget: it is dropped when its buffer overflows, as before, and
// resumes by id. The subscribers found full by one Publish share that
// deadline, so a stalled client delays the node's events by maxPaceWait at
// most, once, and a burst reaches the clients that keep up whole.
//
// It reads how many events wait for a subscriber (fill) and polls it. A
// subscriber that is not live yet (its writer has not caught up with the
// backlog) is paced by its pending queue, bounded by the same buffer size.
const (
	maxPaceWait  = 250 * time.Millisecond
	paceForget   = 10 * time.Second
	pacePollStep = 200 * time.Microsecond
)

// pacer is the state of pacing; Publish uses it after releasing Broker.mu.
type pacer struct {
	mu     sync.Mutex                // serializes pacing, should Publish ever have two callers
	gaveUp map[*subscriber]time.Time // subscribers not waited for, since when
	pruned time.Time                 // when gaveUp was last rid of old entries
}

// fill returns how many events wait for s: queued for its writer or its
// deliverer and not yet taken once it is live, in its pending queue before
// (its writer drains that queue after the backlog). A stream that is not live may not
// have its writer yet: live, read under s.mu, says that it is.
func (s *subscriber) fill() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fillLocked()
}

// fillLocked is fill with s.mu held.
func (s *subscriber) fillLocked() int64 {
	if !s.live {
		return int64(len(s.pending))
	}
	return int64(len(s.out) + len(s.queue))
}

// overPace reports whether a subscriber's buffer, fill events full, is
// full enough (three quarters) that Publish should wait for it to drain.
func (b *Broker) overPace(fill int64) bool {
	return fill >= int64(b.cfg.BufferSize-b.cfg.BufferSize/4)
}

// pace waits for the buffers of full to drain to a quarter, within
// maxPaceWait in all, and gives up on those that did not.
func (b *Broker) pace(full []*subscriber) {
	if len(full) == 0 {
		return
	}
	p := &b.pacer
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.pruned) > time.Second {
		p.pruned = now
		for s, at := range p.gaveUp {
			if now.Sub(at) > paceForget {
				delete(p.gaveUp, s)
			}
		}
	}
	low, deadline := int64(b.cfg.BufferSize/4), now.Add(maxPaceWait)
	for _, s := range full {
		if at, ok := p.gaveUp[s]; ok && now.Sub(at) <= paceForget {
			continue
		}
		for s.fill() > low {
			if b.ctx.Err() != nil {
				return
			}
			if time.Now().After(deadline) {
				if p.gaveUp == nil {
					p.gaveUp = make(map[*subscriber]time.Time)
				}
				p.gaveUp[s] = now
				break
			}
			time.Sleep(pacePollStep)
		}
	}
}
