package sse

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"
)

// A stream has one goroutine of its own, its writer (Broker.write): it
// writes the header and the backlog, then the heartbeats and the frames
// queued on the subscriber's channel: by Publish for a stream without a
// deliverer (HTTP/2, TLS), by the deliverer for one whose socket it could
// not write at once (deliver.go). A writer that wakes to several frames
// writes them together.

// sink is where a stream's writer writes: a hijacked connection (connSink,
// conn.go) or net/http's ResponseWriter (httpSink).
type sink interface {
	// write writes p, the header first if it has not gone yet, and
	// flushes it, within the write timeout. An empty p writes the header.
	write(p []byte) error
	// abort runs when the stream's context ends, from another goroutine:
	// later writes fail, and a write blocked on a full socket returns now.
	abort()
}

// maxCoalesce bounds the bytes of frames a writer gathers into one write.
const maxCoalesce = 32 << 10

// buffers lends writers their buffers while they write: an idle stream
// holds none.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { return buffers.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > 4*maxCoalesce { // one huge event must not stay in the pool
		return
	}
	b.Reset()
	buffers.Put(b)
}

// wire is one event in wire form, shared read-only by every stream that
// gets it. last marks a stream's final event (KindForbidden): its writer
// ends the stream once it is written. raw marks the rest of a deliverer's
// partial write (deliver.go): bytes already in chunked encoding, written
// as they are.
type wire struct {
	b    []byte
	last bool
	raw  bool
}

// errStreamEnded is returned by writes after the stream's context ended.
var errStreamEnded = errors.New("sse: stream ended")

// errLastWritten ends a stream whose last frame is written.
var errLastWritten = errors.New("sse: the stream's last event is written")

// writeFrames writes frames in writes of up to maxCoalesce bytes.
func writeFrames(sk sink, frames [][]byte) error {
	buf := getBuffer()
	defer putBuffer(buf)
	for _, f := range frames {
		if buf.Len() > 0 && buf.Len()+len(f) > maxCoalesce {
			if err := sk.write(buf.Bytes()); err != nil {
				return err
			}
			buf.Reset()
		}
		buf.Write(f)
	}
	if buf.Len() == 0 {
		return nil
	}
	return sk.write(buf.Bytes())
}

// live writes the frames queued for s, and a ping every Heartbeat, until
// ctx ends or a write fails. Once a write has returned it lowers
// s.inFlight by the frames written: at 0 the deliverer writes to the
// socket again.
func (b *Broker) live(ctx context.Context, s *subscriber, sk sink, tick <-chan time.Time) error {
	for {
		var f *wire
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
			if err := sk.write(b.framers.ping); err != nil {
				return err
			}
			continue
		case f = <-s.out:
		}
		if f.raw {
			// The rest of a deliverer's write; queued only when nothing
			// else was, so it comes first.
			if err := s.direct.writeRaw(f.b); err != nil {
				return err
			}
			s.inFlight.Add(-1)
			continue
		}
		last, n := f.last, int64(1)
		// Whatever else is queued goes in the same write.
		select {
		case g := <-s.out:
			buf := getBuffer()
			buf.Write(f.b)
			for {
				if g.raw { // cannot happen (see above); kept whole if it did
					putBuffer(buf)
					return errors.New("sse: the rest of a direct write was queued behind a frame")
				}
				buf.Write(g.b)
				n++
				last = last || g.last
				if buf.Len() >= maxCoalesce || last {
					break
				}
				var more bool
				select {
				case g, more = <-s.out:
				default:
				}
				if !more {
					break
				}
			}
			err := sk.write(buf.Bytes())
			putBuffer(buf)
			if err != nil {
				return err
			}
		default:
			if err := sk.write(f.b); err != nil {
				return err
			}
		}
		s.inFlight.Add(-n)
		if last {
			return errLastWritten
		}
	}
}

// httpSink writes a stream through net/http (HTTP/2, writers that cannot
// be hijacked). It sets a write deadline before every write so that a
// client that stops reading ends its stream instead of holding it for
// ever.
type httpSink struct {
	w          http.ResponseWriter
	rc         *http.ResponseController
	timeout    time.Duration
	header     http.Header // set on the answer before its first write
	warn       func()      // once, when writes cannot get a deadline
	headerSent bool

	mu  sync.Mutex
	err error // once set, every write fails at once
}

func (hs *httpSink) write(p []byte) error {
	if err := hs.arm(); err != nil {
		return err
	}
	if !hs.headerSent {
		hs.headerSent = true
		h := hs.w.Header()
		for k, v := range hs.header {
			h[k] = slices.Clone(v)
		}
		hs.w.WriteHeader(http.StatusOK)
	}
	if len(p) > 0 {
		if _, err := hs.w.Write(p); err != nil {
			return hs.fail(err)
		}
	}
	if err := hs.rc.Flush(); err != nil {
		return hs.fail(err)
	}
	hs.disarm()
	return nil
}

// disarm clears the deadline once a flush has written everything. Over
// HTTP/1 a deadline that passes while the stream is idle does nothing (the
// next write moves it first), but over HTTP/2 it is a timer that resets
// the stream when it fires: an idle stream would die WriteTimeout after
// its last event, before the next heartbeat.
func (hs *httpSink) disarm() {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.err == nil {
		_ = hs.rc.SetWriteDeadline(time.Time{})
	}
}

// arm sets the deadline of the next write. It holds mu so that it cannot
// push back the past deadline that abort sets.
func (hs *httpSink) arm() error {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.err != nil {
		return hs.err
	}
	if err := hs.rc.SetWriteDeadline(time.Now().Add(hs.timeout)); err != nil {
		if !errors.Is(err, http.ErrNotSupported) {
			hs.err = err
			return err
		}
		hs.warn()
	}
	return nil
}

func (hs *httpSink) fail(err error) error {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.err == nil {
		hs.err = err
	}
	return hs.err
}

// abort fails later writes and sets a past deadline so that a write
// blocked on a full socket returns now rather than after the timeout.
func (hs *httpSink) abort() {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.err == nil {
		hs.err = errStreamEnded
	}
	_ = hs.rc.SetWriteDeadline(time.Now())
}
