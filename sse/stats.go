package sse

// Figures for monitoring (package metrics reads them). They are plain
// counters, so that this package needs no metrics library.

// EventsDelivered counts events queued on streams, once per stream:
// live events and the backlog of resumed streams. Pings and reset events
// are not counted.
func (b *Broker) EventsDelivered() uint64 { return b.delivered.Load() }

// Deliverers is the number of deliverer goroutines (Config.Deliverers,
// or its default), once the broker is open.
func (b *Broker) Deliverers() int { return len(b.deliverers) }

// EventsWrittenDirect counts the delivered live events that a deliverer
// wrote to their stream's socket itself (deliver.go); the others went
// through the stream's writer: resumed streams' backlogs, clients that
// read slowly, streams served by net/http (HTTP/2) or over TLS.
func (b *Broker) EventsWrittenDirect() uint64 { return b.direct.Load() }

// EventsDropped counts events a subscriber could not take because it had
// fallen BufferSize events behind. Each one ended that subscriber's
// stream; its client resumes from the log by id, so nothing is lost.
func (b *Broker) EventsDropped() uint64 { return b.dropped.Load() }
