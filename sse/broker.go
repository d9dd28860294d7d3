// Package sse streams committed events to clients over Server-Sent Events.
//
// The listener reads the event log in position order and calls
// Broker.Publish for each event. The broker finds the subscribers of the
// event's topic through an index keyed by topic pattern and queues the event,
// framed once by github.com/r3labs/sse/v2, for each subscriber: on the
// queue its deliverer writes to the socket (one goroutine per core,
// deliver.go), or on the bounded channel of the stream's own writer
// goroutine (stream.go), which also writes the backlog, the heartbeats and
// whatever a socket does not take at once. A subscriber that cannot keep
// up is dropped, never waited for beyond a short bound (a burst is paced,
// pace.go): its stream ends and the client resumes with Last-Event-ID.
// Resume reads the missing events from presence.EventLog, not from memory,
// so it works on any node.
//
// Callers import it as presencesse.
package sse

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	presence "github.com/presenced/presenced"
)

// Defaults of Config.
const (
	DefaultHeartbeat    = 15 * time.Second
	DefaultBufferSize   = 256
	DefaultWriteTimeout = 10 * time.Second
)

// defaultPageSize is the number of events read from the log at a time.
const defaultPageSize = 500

// Config configures a Broker. Zero values take the defaults above.
type Config struct {
	Log      presence.EventLog       // backlog reads; required
	Channels presence.ChannelService // nil: channel streams answer 404

	// Heartbeat is the longest time an open stream stays silent: a ": ping"
	// comment is written at least this often.
	Heartbeat time.Duration

	// BufferSize bounds the events queued for one subscriber. A subscriber
	// that falls further behind is dropped and resumes by id. Each stream
	// holds a channel of this many pointers (2 KiB at the default): 256
	// events is over two seconds of a busy agent topic at 100 events/s, and
	// a dropped subscriber resumes by id at the cost of one log read.
	BufferSize int

	// WriteTimeout bounds every write to a client; a client that does not
	// read for this long loses its stream.
	WriteTimeout time.Duration

	// MaxTopics bounds the topics of one stream, channels included;
	// default presence.MaxTopics.
	MaxTopics int

	// Deliverers is the number of goroutines that write live events to
	// the streams' sockets (deliver.go); default half the cores, at least
	// one.
	Deliverers int

	// Authorize, when set, says whether the request may subscribe to a
	// topic pattern: nil, or an error such as EFORBIDDEN. A stream that
	// asks for a refused topic, itself or through its channel, is refused
	// before it starts; when a channel's topics change while it streams to
	// a refused one, the stream ends with a KindForbidden event. It runs with the broker's lock held
	// for live changes: it must be quick and must not block.
	Authorize func(r *http.Request, t presence.Topic) error

	Logger *slog.Logger // default slog.Default()
}

// Broker fans events out to SSE subscribers. Create it with New, then Open;
// Close ends every stream.
type Broker struct {
	cfg      Config
	logger   *slog.Logger
	framers  *framers // set by Open
	pageSize int      // events per log read; a field so that tests can page small

	deliverers []*deliverer // set by Open; one goroutine each (deliver.go)
	assigned   atomic.Uint64
	delivering sync.WaitGroup

	ctx    context.Context // ends every stream on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per running handler
	head   atomic.Pointer[presence.Position]

	dropped   atomic.Uint64 // events subscribers could not take (stats.go)
	delivered atomic.Uint64 // events queued for streams, pings not counted (stats.go)
	direct    atomic.Uint64 // of those, events a deliverer wrote to the socket itself (deliver.go)
	warnOnce  sync.Once     // warn once when writes cannot get a deadline
	pacer     pacer         // Publish's wait for full buffers (pace.go)

	// mu guards the fields below and the Broker.mu fields of subscribers.
	// Lock order: mu, then a subscriber's mu.
	mu       sync.Mutex
	state    int               // stateNew, stateOpen or stateClosed
	pos      presence.Position // the newest position published
	seq      uint64            // counts fanned-out events, for once-only delivery
	index    topicIndex
	subs     map[*subscriber]struct{}
	channels map[string]map[*subscriber]struct{} // by channel id
}

const (
	stateNew = iota
	stateOpen
	stateClosed
)

// New returns a broker for cfg. It serves no stream before Open.
func New(cfg Config) *Broker {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = DefaultBufferSize
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MaxTopics <= 0 {
		cfg.MaxTopics = presence.MaxTopics
	}
	if cfg.Deliverers <= 0 {
		cfg.Deliverers = defaultDeliverers()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	b := &Broker{
		cfg:      cfg,
		logger:   cfg.Logger,
		pageSize: defaultPageSize,
		index:    make(topicIndex),
		subs:     make(map[*subscriber]struct{}),
		channels: make(map[string]map[*subscriber]struct{}),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.head.Store(&presence.Position{})
	return b
}

// Open starts serving streams. It fails when Config.Log is missing or the
// broker was closed.
func (b *Broker) Open() error {
	if b.cfg.Log == nil {
		return presence.Errorf(presence.EINTERNAL, "sse: Config.Log is required.")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == stateClosed {
		return presence.Errorf(presence.EUNAVAILABLE, "sse: the broker is closed.")
	}
	if b.framers == nil {
		b.framers = newFramers()
		b.deliverers = newDeliverers(b.cfg.Deliverers)
		for _, d := range b.deliverers {
			b.delivering.Go(func() { b.deliver(d) })
		}
	}
	b.state = stateOpen
	return nil
}

// Close ends every stream and returns once every handler has returned.
// Streams opened later answer 503. Clients reconnect (to another node) and
// resume by id.
func (b *Broker) Close() error {
	b.mu.Lock()
	b.state = stateClosed
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
	b.delivering.Wait()
	b.mu.Lock()
	fs := b.framers
	b.mu.Unlock()
	if fs != nil {
		fs.close() // Publish after Close frames nothing
	}
	return nil
}

// Position returns the position of the newest event published: a cheap
// version of the whole state, fit for an ETag.
func (b *Broker) Position() presence.Position { return *b.head.Load() }

// Subscribers returns the number of open streams.
func (b *Broker) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Publish fans ev out to the streams subscribed to its topic. The listener
// calls it for every event, in position order, from one goroutine; an event
// at or before the current position is ignored. It never blocks on a
// subscriber: one that cannot take the event is dropped. When the event
// leaves a buffer nearly full, it returns only once that buffer has
// drained, within a bound (pace.go), so that a burst goes at the pace of
// the streams that keep up instead of dropping them all. Events on a
// channel's topic (presence.ChannelTopic) replace that channel's topics on
// its open streams and are not sent to clients.
func (b *Broker) Publish(ev presence.Event) {
	t, topicErr := presence.ParseTopic(ev.Topic, false)
	var change *channelChange
	if topicErr == nil && t.Root == presence.TopicChannels && b.hasChannelStreams(t.ID) {
		// Parsed before taking b.mu: 100,000 topics take a while, and
		// streams that open or close meanwhile need not wait for it.
		change = b.parseChannelChange(t.ID, ev)
	}

	var evicted, full, due []*subscriber
	defer func() { // after b.mu is released
		for _, s := range evicted {
			s.cancel()
		}
		b.wake(due)
		b.pace(full)
	}()
	b.mu.Lock()
	defer b.mu.Unlock()

	if !b.pos.Less(ev.Position) {
		b.logger.Warn("sse: event out of order ignored", "position", ev.Position.String(), "current", b.pos.String())
		return
	}
	b.pos = ev.Position
	head := ev.Position
	b.head.Store(&head)

	switch {
	case topicErr != nil:
		b.logger.Error("sse: event with a bad topic ignored", "position", ev.Position.String(), "err", topicErr)
		return
	case t.Root == presence.TopicChannels:
		if change != nil {
			evicted = b.applyChannelChange(change)
		}
		return
	case strings.ContainsAny(ev.Kind, "\r\n"): // it would break the framing
		b.logger.Error("sse: event with a bad kind ignored", "position", ev.Position.String(), "kind", ev.Kind)
		return
	}

	b.seq++
	var f *wire
	framed := false
	frameOf := func() *wire {
		if !framed && b.framers != nil {
			framed = true
			if fs := b.framers.live.frame([]presence.Event{ev}); fs != nil {
				f = &wire{b: fs[0]}
			}
		}
		return f
	}
	var sent uint64
	offer := func(s *subscriber) {
		if s.seen == b.seq { // matched by two of its patterns
			return
		}
		s.seen = b.seq
		d, fill := s.offer(ev, frameOf)
		switch d {
		case schedule:
			due = append(due, s)
			sent++
		case queued:
			sent++
		case evict:
			evicted = append(evicted, s)
			return
		}
		if b.overPace(fill) {
			full = append(full, s)
		}
	}
	for _, k := range t.MatchKeys() {
		b.index.each(k, offer)
	}
	b.delivered.Add(sent)
	// Evicted after the loop: the index must not change under each.
	for _, s := range evicted {
		b.dropped.Add(1)
		b.logger.Info("sse: subscriber dropped: it fell behind; it resumes by id", "buffer", b.cfg.BufferSize)
		b.unregisterLocked(s)
	}
}

// enter counts a handler in, unless the broker is not open.
func (b *Broker) enter() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != stateOpen {
		return false
	}
	b.wg.Add(1)
	return true
}
