package sse

import (
	"context"
	"net/http"
	"runtime"
	"sync"

	r3 "github.com/r3labs/sse/v2"

	presence "github.com/presenced/presenced"
)

// This file is the only one that touches r3labs/sse (v2.10.0). It frames
// events: an event is turned into the bytes of the wire format once per
// publish, by r3labs' own handler, and those bytes are shared read-only by
// every stream that gets the event. Streams do not run on r3labs: a stream
// of its own costs three goroutines per connection and two goroutine
// hand-offs per delivery; here a delivery is an append to the stream's
// queue, which its deliverer writes (deliver.go).
//
// The rules its source taught us:
//
//   - AutoReplay is off: its in-memory log grows without bound, overwrites
//     Event.ID with its own counter and replays from >= the id. Replay
//     comes from presence.EventLog instead.
//   - No EventTTL: without AutoReplay events carry no timestamp, so every
//     event counts as expired and is dropped.
//   - An event with neither data nor comment ends its connection, which
//     would stop the framer: events always carry data (their envelope),
//     pings a comment.

// framers frames events: one framer for Publish alone, so that the
// fan-out never waits behind a backlog, and a few, lent one at a time, for
// the backlogs of streams that resume.
type framers struct {
	live   *framer
	pool   chan *framer
	header http.Header // what r3labs sets on a stream's answer
	ping   []byte      // the heartbeat, ": ping"
	closed sync.Once
}

func newFramers() *framers {
	n := max(2, runtime.GOMAXPROCS(0))
	fs := &framers{live: newFramer(), pool: make(chan *framer, n)}
	for range n {
		fs.pool <- newFramer()
	}
	fs.header, fs.ping = fs.live.header, fs.live.ping
	return fs
}

// backlog frames evs with a framer from the pool; nil once closed.
func (fs *framers) backlog(evs []presence.Event) [][]byte {
	fr := <-fs.pool
	defer func() { fs.pool <- fr }()
	return fr.frame(evs)
}

// close stops every framer, once nothing but Publish frames any more
// (a closed framer frames nothing).
func (fs *framers) close() {
	fs.closed.Do(func() {
		fs.live.close()
		closed := make([]*framer, 0, cap(fs.pool))
		for range cap(fs.pool) {
			fr := <-fs.pool
			fr.close()
			closed = append(closed, fr)
		}
		for _, fr := range closed {
			fs.pool <- fr // a late caller gets nil, not a wait
		}
	})
}

// framer runs one r3labs stream with one subscriber whose handler writes
// into memory; a Flush ends each event.
type framer struct {
	mu     sync.Mutex // one caller at a time: frames come back in order
	srv    *r3.Server
	cancel context.CancelFunc
	done   chan struct{} // closed when the handler has returned
	header http.Header   // what r3labs sets on a stream's answer
	closed bool

	out  captureWriter
	ping []byte
}

const framerStream = "frame"

// newFramer starts a framer. Close it to stop its goroutines.
func newFramer() *framer {
	fr := &framer{done: make(chan struct{})}
	fr.out.hdr = http.Header{}
	fr.out.frames = make(chan []byte, framerBatch)
	srv := r3.New()
	srv.AutoReplay = false
	srv.AutoStream = false
	srv.EventTTL = 0
	srv.SplitData = true // a data value with a newline stays well-framed
	srv.BufferSize = framerBatch
	srv.Headers = map[string]string{"X-Accel-Buffering": "no"}
	srv.CreateStream(framerStream)
	fr.srv = srv

	ctx, cancel := context.WithCancel(context.Background())
	fr.cancel = cancel
	r, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/?stream="+framerStream, nil)
	go func() {
		defer close(fr.done)
		srv.ServeHTTP(&fr.out, r)
	}()
	// The first Flush ends the header; the subscriber is attached by then.
	<-fr.out.frames
	fr.header = fr.out.hdr.Clone()
	fr.ping = fr.frameR3([]*r3.Event{{Comment: []byte("ping")}})[0]
	return fr
}

// framerBatch bounds the events handed to r3labs before their frames are
// collected: the frames channel holds them all, so its handler never waits.
const framerBatch = 64

// frame returns the wire form of each event, in order; nil once closed.
func (fr *framer) frame(evs []presence.Event) [][]byte {
	r := make([]*r3.Event, len(evs))
	for i, ev := range evs {
		r[i] = &r3.Event{ID: []byte(ev.Position.String()), Event: []byte(ev.Kind), Data: ev.Data()}
	}
	return fr.frameR3(r)
}

func (fr *framer) frameR3(evs []*r3.Event) [][]byte {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if fr.closed {
		return nil
	}
	out := make([][]byte, 0, len(evs))
	for len(evs) > 0 {
		n := min(len(evs), framerBatch)
		for _, ev := range evs[:n] {
			fr.srv.Publish(framerStream, ev)
		}
		for range n {
			out = append(out, <-fr.out.frames)
		}
		evs = evs[n:]
	}
	return out
}

// close stops the framer and waits for its goroutines.
func (fr *framer) close() {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if fr.closed {
		return
	}
	fr.closed = true
	fr.cancel() // r3labs deregisters its subscriber and the handler returns
	<-fr.done
	fr.srv.Close() // only then: removing a stream with a subscriber strands it
}

// captureWriter is the ResponseWriter of the framer's handler. A Flush
// hands over what was written since the last one: one event.
type captureWriter struct {
	hdr    http.Header
	buf    []byte
	frames chan []byte
}

func (c *captureWriter) Header() http.Header { return c.hdr }
func (c *captureWriter) WriteHeader(int)     {}

func (c *captureWriter) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *captureWriter) Flush() {
	f := make([]byte, len(c.buf))
	copy(f, c.buf)
	c.buf = c.buf[:0]
	c.frames <- f
}
