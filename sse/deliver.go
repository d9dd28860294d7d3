package sse

import (
	"errors"
	"runtime"
	"strconv"
	"sync"
	"syscall"
)

// Deliverers. A stream's writer is one goroutine per stream, parked until
// its channel has a frame. At thousands of subscribers an event made that
// many goroutines runnable at once; Go's scheduler runs them in turn, so
// the listener's next read of the log, and the writes' own HTTP handlers,
// waited behind the whole fan-out of the event before (10,000 streams:
// 65–205 ms a Publish, the listener 0.8–1.9 s behind the log). Events
// then reached each writer one at a time, which never let writers that
// were behind write several in one go, so the node stayed behind.
//
// Now the live events of a stream over a socket (a hijacked HTTP/1.1
// connection: connSink) go to a deliverer (Config.Deliverers): Publish
// appends the event's frame to the stream's queue and puts the stream on
// its deliverer's ready list, and wakes each deliverer once per event. A
// deliverer takes a stream's whole queue and writes it in one non-blocking
// write, one chunk, so a stream whose deliverer is behind gets its events
// together. Whatever the socket does not take at once (a client that
// reads slowly) and everything after it goes to the stream's writer, which
// writes with a deadline as before; the deliverer writes to the socket
// again only once the writer has written all it was given
// (subscriber.inFlight). The writer still writes the header, the backlog,
// the pending events and the heartbeats, under the sink's write lock,
// which a deliverer only tries: when it finds it taken it passes the
// frames to the writer too.
//
// Streams served by net/http (HTTP/2, writers that cannot be hijacked) and
// TLS connections have no deliverer: Publish queues their frames on out.

// directWriter is a sink that can be written without blocking.
type directWriter interface {
	// tryWrite writes what it can of chunk (HTTP chunked encoding
	// already applied) at once and returns how much it wrote; n <
	// len(chunk) with a nil error means that the socket is full or the
	// writer is writing.
	tryWrite(chunk []byte) (n int, err error)
	// writeRaw writes p, already chunked, blocking within the write
	// timeout: the rest of a partial tryWrite.
	writeRaw(p []byte) error
}

// deliverer writes the live frames of the streams assigned to it.
type deliverer struct {
	index int // in Broker.deliverers
	mu    sync.Mutex
	ready []*subscriber // streams with frames in their queue, each once
	wake  chan struct{} // 1: ready is not empty
}

// defaultDeliverers is half the cores, at least one. A deliverer is a loop
// of system calls that takes a core while the fan-out lasts; the other
// half stays for the listener, the writes' handlers and, on a node that
// shares its machine, PostgreSQL. A deliverer that is behind writes more
// events in one write. On 2 cores one deliverer did better than two in
// latency and in CPU a delivery (docs/performance.md, Deliverers).
func defaultDeliverers() int { return max(1, runtime.GOMAXPROCS(0)/2) }

func newDeliverers(n int) []*deliverer {
	ds := make([]*deliverer, n)
	for i := range ds {
		ds[i] = &deliverer{index: i, wake: make(chan struct{}, 1)}
	}
	return ds
}

// add puts streams on d's ready list and wakes d.
func (d *deliverer) add(subs []*subscriber) {
	d.mu.Lock()
	d.ready = append(d.ready, subs...)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// assign picks the deliverer of a new stream, in turn.
func (b *Broker) assign() *deliverer {
	return b.deliverers[b.assigned.Add(1)%uint64(len(b.deliverers))]
}

// wake puts the streams Publish queued frames for on their deliverers'
// ready lists.
func (b *Broker) wake(due []*subscriber) {
	if len(due) == 0 {
		return
	}
	if len(b.deliverers) == 1 {
		b.deliverers[0].add(due)
		return
	}
	parts := make([][]*subscriber, len(b.deliverers))
	for _, s := range due {
		parts[s.worker.index] = append(parts[s.worker.index], s)
	}
	for i, p := range parts {
		if len(p) > 0 {
			b.deliverers[i].add(p)
		}
	}
}

// deliver is d's goroutine: it writes the queues of the ready streams,
// until the broker closes.
func (b *Broker) deliver(d *deliverer) {
	var ready []*subscriber
	var buf []byte
	for {
		select {
		case <-d.wake:
		case <-b.ctx.Done():
			return
		}
		d.mu.Lock()
		ready, d.ready = d.ready, ready[:0]
		d.mu.Unlock()
		for _, s := range ready {
			buf = b.flush(s, buf)
		}
		clear(ready)
	}
}

// flush writes s's queue to its socket, or passes it to its writer; buf
// is a buffer to reuse, returned for the next call.
func (b *Broker) flush(s *subscriber, buf []byte) []byte {
	s.mu.Lock()
	frames := s.queue
	if len(frames) == 0 {
		s.scheduled = false
		s.mu.Unlock()
		return buf
	}
	s.queue, s.taken = s.taken[:0], nil
	s.scheduled = false
	toWriter := s.inFlight.Load() > 0 // the writer has frames: these go after them
	for _, f := range frames {
		toWriter = toWriter || f.last // the writer ends the stream after it
	}
	if toWriter {
		b.toWriter(s, frames)
		s.mu.Unlock()
		s.taken = reuse(frames)
		return buf
	}
	s.mu.Unlock()

	buf = appendChunk(buf[:0], frames)
	// Counted before the write, taken back if it does not go whole: a
	// client that has read an event finds it counted.
	b.direct.Add(uint64(len(frames)))
	n, err := s.direct.tryWrite(buf)
	if n < len(buf) || err != nil {
		b.direct.Add(-uint64(len(frames)))
	}
	switch {
	case err != nil:
		// The connection failed or the stream is ending: end it (if it
		// has not ended); its client resumes by id.
		if !errors.Is(err, errStreamEnded) {
			b.logger.Debug("sse: write failed; the stream ends", "err", err)
		}
		s.cancel()
	case n < len(buf):
		// The rest first: frames queued since are in s.queue, and go to
		// the writer after it on the next flush (inFlight is above 0).
		rest := &wire{b: append([]byte(nil), buf[n:]...), raw: true}
		s.mu.Lock()
		b.toWriter(s, []*wire{rest})
		s.mu.Unlock()
	}
	s.taken = reuse(frames)
	return buf
}

// toWriter queues frames for s's writer, in order. A writer that cannot
// take them has fallen a whole buffer behind: its stream ends and its
// client resumes by id. Must hold s.mu.
func (b *Broker) toWriter(s *subscriber, frames []*wire) {
	for _, f := range frames {
		s.inFlight.Add(1)
		select {
		case s.out <- f:
		default:
			s.inFlight.Add(-1)
			b.dropped.Add(1)
			b.logger.Info("sse: subscriber dropped: it fell behind; it resumes by id", "buffer", b.cfg.BufferSize)
			s.cancel()
			return
		}
	}
}

// reuse empties a taken queue for the next one; a queue grown past a
// buffer's worth is let go.
func reuse(frames []*wire) []*wire {
	if cap(frames) > 64 {
		return nil
	}
	clear(frames)
	return frames[:0]
}

// appendChunk appends frames to out as one chunk of HTTP/1.1 chunked
// encoding.
func appendChunk(out []byte, frames []*wire) []byte {
	n := 0
	for _, f := range frames {
		n += len(f.b)
	}
	out = strconv.AppendInt(out, int64(n), 16)
	out = append(out, '\r', '\n')
	for _, f := range frames {
		out = append(out, f.b...)
	}
	return append(out, '\r', '\n')
}

// tryWrite implements directWriter.
func (cs *connSink) tryWrite(chunk []byte) (int, error) {
	// The write cannot block, but the descriptor refuses every write once
	// the deadline the writer last set has passed: a stream whose events
	// all go this way keeps it ahead (cheaply: arm moves it once a tenth
	// of the timeout has gone).
	if err := cs.arm(); err != nil {
		return 0, err
	}
	if !cs.wmu.TryLock() {
		return 0, nil // the writer is writing (a ping): it takes the frames
	}
	defer cs.wmu.Unlock()
	if cs.closed || !cs.headerSent {
		return 0, errStreamEnded
	}
	var n int
	var werr error
	// RawWrite returns an error without calling the function once the
	// write deadline has passed (abort sets it in the past).
	err := cs.raw.Write(func(fd uintptr) bool {
		n, werr = syscall.Write(int(fd), chunk)
		return true // never wait for the socket: the writer does
	})
	if n < 0 {
		n = 0
	}
	cs.written += int64(n)
	if err == nil && werr != nil && werr != syscall.EAGAIN && werr != syscall.EINTR {
		err = werr
	}
	return n, err
}

// writeRaw implements directWriter.
func (cs *connSink) writeRaw(p []byte) error {
	if err := cs.arm(); err != nil {
		return err
	}
	cs.wmu.Lock()
	n, err := cs.conn.Write(p)
	cs.written += int64(n)
	cs.wmu.Unlock()
	if err != nil {
		return cs.fail(err)
	}
	return nil
}
