package sse

// Figures for monitoring (package metrics reads them). They are plain
// counters, so that this package needs no metrics library.

// EventsDelivered counts events queued on streams, once per stream:
// live events and the backlog of resumed streams. Pings and reset events
// are not counted.
func (b *Broker) EventsDelivered() uint64 { return b.delivered.Load() }

// EventsDropped counts events a subscriber could not take because it had
// fallen BufferSize events behind. Each one ended that subscriber's
// stream; its client resumes from the log by id, so nothing is lost.
func (b *Broker) EventsDropped() uint64 { return b.dropped.Load() }
