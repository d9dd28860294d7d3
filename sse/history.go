package sse

import presence "github.com/presenced/presenced"

// Rewind ends every open stream and moves the broker's position to p, which
// may be before the current one. The listener calls it when the database
// turns out not to hold the events it last published (a failover lost
// them): what the streams were sent is not the database's history, so each
// client reconnects with its Last-Event-ID and is either resumed (its last
// event is in the log) or reset (it is not). Streams opened after Rewind
// start from p.
func (b *Broker) Rewind(p presence.Position) {
	b.mu.Lock()
	var ended []*subscriber
	for s := range b.subs {
		ended = append(ended, s)
	}
	for _, s := range ended {
		b.unregisterLocked(s)
	}
	b.pos = p
	b.head.Store(&p)
	b.mu.Unlock()
	for _, s := range ended {
		s.cancel()
	}
	if len(ended) > 0 {
		b.logger.Warn("sse: every stream ended: the log does not hold the events they were sent; they resume by id",
			"streams", len(ended), "position", p.String())
	}
}
