package sse

import (
	"context"
	"sync"
	"sync/atomic"

	presence "github.com/presenced/presenced"
)

// subscriber is one SSE connection. Until its backlog is written it is not
// live: published events wait in pending (bounded) and its writer writes
// them after the backlog. Once live, Publish queues their frames on out,
// which its writer takes. Either way Publish never waits for it: when it
// cannot take an event it is evicted, its stream ends and the client
// resumes by id.
type subscriber struct {
	out       chan *wire                // live frames for the writer; BufferSize of them
	cancel    context.CancelFunc        // ends the connection
	done      <-chan struct{}           // closed when the connection's context ends
	channelID string                    // "" for a /v1/events stream
	allow     func(presence.Topic) bool // nil: every topic; else Config.Authorize for this request
	maxQueue  int                       // the bound on pending

	// Guarded by Broker.mu.
	registered     bool
	seen           uint64            // Broker.seq of the last event it was offered: one delivery per event
	channelUpdated bool              // a live channel event set its topics
	regPos         presence.Position // the broker's position at registration

	// topics is the subscriber's set of patterns. It is written with both
	// Broker.mu and mu held and read with either; a set is never changed,
	// only replaced, so a reader may keep using the one it read.
	topics map[presence.Topic]struct{}

	// mu guards the fields below. Lock order: Broker.mu before mu.
	mu      sync.Mutex
	live    bool
	pending []presence.Event
	// floor is the newest position written to the client or read from the
	// log for it. Events at or before it are never written (again): this
	// one comparison makes the hand-over from backlog to live free of
	// duplicates, and drops events a log read saw before the listener did.
	floor presence.Position
	// final is the KindForbidden event of a stream whose channel was
	// widened past its token before it went live: its writer writes it
	// after the pending events and ends the stream (endForbidden).
	final *presence.Event
	// direct, when set, is the stream's socket, which its deliverer
	// writes (deliver.go); worker is that deliverer. Both are set before
	// the stream goes live. Live frames then go to queue, never to out:
	// the deliverer writes them, or passes them to the writer on out.
	direct    directWriter
	worker    *deliverer
	queue     []*wire // live frames for the deliverer, oldest first
	scheduled bool    // s is on its deliverer's ready list
	taken     []*wire // the deliverer's: the queue it took last, for reuse

	// inFlight counts the frames on out that the writer has not finished
	// writing. It rises under mu and falls when a write returns; the
	// deliverer writes to the socket only when it is 0, so that it never
	// overtakes a frame in the writer's hands.
	inFlight atomic.Int64
}

// delivery is what offer did with an event.
type delivery int

const (
	skipped  delivery = iota // already written, read from the log, or the broker is closing
	held                     // pending: the stream is not live yet
	queued                   // on out for the writer, or on queue for a deliverer already due
	schedule                 // on queue: Publish puts s on its deliverer's ready list
	evict                    // s cannot keep up: its buffer is full
)

// setDirect gives s's live frames to deliverer w, which writes them to d.
func (s *subscriber) setDirect(d directWriter, w *deliverer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.direct, s.worker = d, w
}

// offer hands ev to s without blocking. f is ev in wire form, built on
// first use (nil once the broker is closed). A live stream with a
// deliverer gets it on its queue (schedule: Publish must wake the
// deliverer for s); others on out, for their writer. It also returns s's
// fill after the offer (for pacing), read under the same lock.
func (s *subscriber) offer(ev presence.Event, f func() *wire) (delivery, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.offerLocked(ev, f)
	return d, s.fillLocked()
}

func (s *subscriber) offerLocked(ev presence.Event, f func() *wire) delivery {
	if !s.floor.Less(ev.Position) {
		return skipped // already written, or read from the log for s
	}
	if !s.live {
		if len(s.pending) >= s.maxQueue {
			return evict
		}
		s.pending = append(s.pending, ev)
		return held
	}
	fr := f()
	if fr == nil {
		return skipped
	}
	if s.worker != nil {
		if len(s.queue)+len(s.out) >= s.maxQueue {
			return evict
		}
		s.queue = append(s.queue, fr)
		s.floor = ev.Position
		if s.scheduled {
			return queued
		}
		s.scheduled = true
		return schedule
	}
	s.inFlight.Add(1)
	select {
	case s.out <- fr:
	default:
		s.inFlight.Add(-1)
		return evict
	}
	s.floor = ev.Position
	return queued
}

// wants reports whether s is subscribed to a pattern that matches t.
func (s *subscriber) wants(t presence.Topic) bool {
	s.mu.Lock()
	topics := s.topics
	s.mu.Unlock()
	for _, k := range t.MatchKeys() {
		if _, ok := topics[k]; ok {
			return true
		}
	}
	return false
}

// advance records that the log has been read up to p for s: live events
// at or before p are already covered by the backlog, so the ones waiting
// are dropped and later ones are not queued.
func (s *subscriber) advance(p presence.Position) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.floor.Less(p) {
		return
	}
	s.floor = p
	i := 0
	for i < len(s.pending) && !p.Less(s.pending[i].Position) {
		i++
	}
	s.pending = s.pending[i:]
}

// takePending returns the events waiting for s, oldest first, and last
// when the stream's final event ends them. When none wait, s goes live
// instead, in the same critical section, so that no event can slip
// between the last pending one and the first live one.
func (s *subscriber) takePending() (evs []presence.Event, last bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.final != nil {
		evs = append(s.pending, *s.final)
		s.pending, s.final = nil, nil
		return evs, true
	}
	if len(s.pending) == 0 {
		s.live = true
		s.pending = nil
		return nil, false
	}
	evs = s.pending
	s.pending = nil
	return evs, false
}
