package sse

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	r3 "github.com/r3labs/sse/v2"

	presence "github.com/presenced/presenced"
)

// This file is the only one that touches r3labs/sse (v2.10.0). It keeps the
// rules that its source taught us in one place:
//
//   - AutoReplay is off: its in-memory log grows without bound, overwrites
//     Event.ID with its own counter and replays from >= the id. Replay
//     comes from presence.EventLog instead.
//   - No EventTTL: without AutoReplay events carry no timestamp, so every
//     event counts as expired and is dropped.
//   - No AutoStream: one stream per connection, created and removed here.
//   - A stream's goroutine hands events to its subscribers with a blocking
//     send, so Server.Publish can block behind one stalled client. Only
//     TryPublish is used; waiting for room (backlog only) is done here and
//     ends with a context.
//   - An event with neither data nor comment ends every connection of the
//     stream: events always carry data, pings a comment.
//   - Removing a stream that still has a subscriber strands the goroutines
//     of that subscriber for ever (they send to a stream goroutine that has
//     gone). A stream is removed only after its ServeHTTP returned, which it
//     does only once the subscriber has been deregistered.
//   - With AutoReplay on, one *Event published to two streams races (its
//     log writes Event.ID). With it off, as here, nothing in r3labs writes
//     a published event (no EncodeBase64 either), so one *Event per
//     published event is shared by every stream that gets it.
//   - ServeHTTP parses Last-Event-ID as an integer and answers 400 to our
//     "<xid>-<id>": it gets a request without the header; resume is ours.
//   - ServeHTTP ignores write errors and sets no deadline: it writes through
//     a streamWriter (a connWriter on a hijacked connection, conn.go, else
//     a deadlineWriter), which sets write deadlines and ends the stream on
//     the first error.
//   - ServeHTTP flushes after every event, and only then: one Flush per
//     event taken from the stream, plus one after the header. A connWriter
//     relies on it to count the events still queued (stream.queued).
//   - It has no heartbeat: the broker publishes a comment event instead.

// streams owns the r3labs server. Each connection gets its own r3labs
// stream, so a slow connection only ever fills its own buffer.
type streams struct {
	srv          *r3.Server
	writeTimeout time.Duration
	logger       *slog.Logger
	seq          atomic.Uint64
	delivered    atomic.Uint64 // events queued on streams, pings not counted (stats.go)
	noDeadline   sync.Once     // warn once when writes cannot get a deadline

	mu       sync.Mutex
	attached map[string]chan struct{} // by stream id; closed once ServeHTTP attached its subscriber
}

func newStreams(bufferSize int, writeTimeout time.Duration, logger *slog.Logger) *streams {
	ss := &streams{
		writeTimeout: writeTimeout,
		logger:       logger,
		attached:     make(map[string]chan struct{}),
	}
	srv := r3.New()
	srv.AutoReplay = false
	srv.AutoStream = false
	srv.EventTTL = 0
	srv.SplitData = true // a data value with a newline stays well-framed
	srv.BufferSize = bufferSize
	srv.Headers = map[string]string{"X-Accel-Buffering": "no"}
	srv.OnSubscribe = ss.onSubscribe
	ss.srv = srv
	return ss
}

// onSubscribe runs once r3labs' stream goroutine has taken the subscriber
// in: from then on an event published to the stream reaches it. Published
// earlier, it could be handed to a stream with no subscriber and be lost.
func (ss *streams) onSubscribe(streamID string, _ *r3.Subscriber) {
	ss.mu.Lock()
	ch := ss.attached[streamID]
	delete(ss.attached, streamID)
	ss.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// stream is the r3labs stream of one connection.
type stream struct {
	ss       *streams
	id       string
	attached chan struct{} // closed once events published to the stream reach the connection
	progress chan struct{} // a token after each event written: the buffer may have room again

	// queued counts the events taken by try and not yet written (its
	// Flush). It is raised after TryPublish succeeds, so it may dip below
	// zero for a moment but is never above the events really pending: a
	// writer that sees it above zero after an event knows that another
	// Flush will follow, and may leave the flushing to that one.
	queued atomic.Int64
}

// open creates a stream for one connection.
func (ss *streams) open() *stream {
	st := &stream{
		ss:       ss,
		id:       strconv.FormatUint(ss.seq.Add(1), 10),
		attached: make(chan struct{}),
		progress: make(chan struct{}, 1),
	}
	ss.mu.Lock()
	ss.attached[st.id] = st.attached
	ss.mu.Unlock()
	ss.srv.CreateStream(st.id)
	return st
}

// streamWriter is what r3labs writes a stream to.
type streamWriter interface {
	http.ResponseWriter
	http.Flusher
	// abort runs when the stream's context ends: later writes fail, and a
	// write blocked on a full socket returns now.
	abort()
}

// deadlineWriter returns the writer of st on w, net/http's own.
func (st *stream) deadlineWriter(w http.ResponseWriter, cancel context.CancelFunc) *deadlineWriter {
	return &deadlineWriter{
		w:        w,
		rc:       http.NewResponseController(w),
		timeout:  st.ss.writeTimeout,
		cancel:   cancel,
		progress: st.progress,
		queued:   &st.queued,
		warn:     st.ss.warnNoDeadline,
	}
}

// serve runs r3labs' handler for st on w. It returns after ctx ends (or a
// write fails, which cancels ctx): r3labs deregisters the subscriber when
// the request context ends and only then leaves its write loop.
func (st *stream) serve(ctx context.Context, dw streamWriter, r *http.Request) {
	aborted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { dw.abort(); close(aborted) })
	defer func() {
		// A late abort must not set a past deadline on a connection that
		// net/http may reuse: wait for it to finish before returning.
		if !stop() {
			<-aborted
		}
	}()

	r2 := r.WithContext(ctx)
	r2.URL = &url.URL{Path: r.URL.Path, RawQuery: "stream=" + st.id}
	r2.Header = http.Header{} // without Last-Event-ID, which r3labs would reject
	st.ss.srv.ServeHTTP(dw, r2)
}

// try queues ev without waiting. False means the buffer is full.
func (st *stream) try(ev *r3.Event) bool {
	if !st.ss.srv.TryPublish(st.id, ev) {
		return false
	}
	st.queued.Add(1)
	return true
}

// send queues ev, waiting for room while the connection drains. Only a
// connection's own backlog writer waits here, never the fan-out.
func (st *stream) send(ctx context.Context, ev *r3.Event) error {
	for !st.try(ev) {
		// The buffer is full, so the connection has events in flight and
		// flushes again soon, or its write deadline ends it (and ctx).
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-st.progress:
		}
	}
	return nil
}

// remove deletes the stream. Call it only after serve returned, or when
// serve was never called (see the rules above).
func (st *stream) remove() {
	st.ss.mu.Lock()
	delete(st.ss.attached, st.id)
	st.ss.mu.Unlock()
	st.ss.srv.RemoveStream(st.id)
}

func (ss *streams) warnNoDeadline() {
	ss.noDeadline.Do(func() {
		ss.logger.Warn("sse: the ResponseWriter does not support write deadlines; a stuck client holds its stream until the client goes")
	})
}

// wire is an event in the form r3labs writes, built once per publish and
// shared read-only by every stream that gets it (see the rules above).
type wire struct{ ev *r3.Event }

func newWire(ev presence.Event) *wire {
	return &wire{ev: &r3.Event{ID: []byte(ev.Position.String()), Event: []byte(ev.Kind), Data: ev.Data()}}
}

func (w *wire) event() *r3.Event { return w.ev }

// ping is the heartbeat, written as ": ping". It carries a comment: an
// event with neither data nor comment would end the connection.
var ping = &r3.Event{Comment: []byte("ping")}

func pingEvent() *r3.Event { return ping }

// errStreamEnded is returned by writes after the stream's context ended.
var errStreamEnded = errors.New("sse: stream ended")

// deadlineWriter is the ResponseWriter r3labs writes to. It sets a write
// deadline before every write so that a client that stops reading ends its
// handler instead of holding it for ever, and it turns the first write
// error into the end of the stream (r3labs ignores write errors). Flush and
// Unwrap keep http.Flusher and http.ResponseController working.
type deadlineWriter struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	timeout  time.Duration
	cancel   context.CancelFunc
	progress chan struct{}
	queued   *atomic.Int64 // the stream's
	warn     func()
	dirty    bool // written to since the last Flush: an event, not the header

	mu  sync.Mutex
	err error // once set, every write fails at once
}

func (dw *deadlineWriter) Header() http.Header         { return dw.w.Header() }
func (dw *deadlineWriter) WriteHeader(code int)        { dw.w.WriteHeader(code) }
func (dw *deadlineWriter) Unwrap() http.ResponseWriter { return dw.w }

func (dw *deadlineWriter) Write(p []byte) (int, error) {
	if err := dw.arm(); err != nil {
		return 0, err
	}
	dw.dirty = true
	n, err := dw.w.Write(p)
	if err != nil {
		dw.fail(err)
	}
	return n, err
}

// Flush ends every event r3labs writes, so it is also where the backlog
// writer learns that the buffer has drained a little. While more events
// are queued for the stream, their Flush will come and this one is left
// out: a client that is behind gets its events in fewer writes.
func (dw *deadlineWriter) Flush() {
	if dw.dirty {
		dw.dirty = false
		if dw.queued.Add(-1) > 0 {
			dw.progressed()
			return
		}
	}
	if dw.arm() == nil {
		if err := dw.rc.Flush(); err != nil {
			dw.fail(err)
		} else {
			dw.disarm()
		}
	}
	dw.progressed()
}

func (dw *deadlineWriter) progressed() {
	select {
	case dw.progress <- struct{}{}:
	default:
	}
}

// arm sets the deadline of the next write. It holds mu so that it cannot
// push back the past deadline that abort sets.
func (dw *deadlineWriter) arm() error {
	dw.mu.Lock()
	defer dw.mu.Unlock()
	if dw.err != nil {
		return dw.err
	}
	if err := dw.rc.SetWriteDeadline(time.Now().Add(dw.timeout)); err != nil {
		if !errors.Is(err, http.ErrNotSupported) {
			dw.err = err
			dw.cancel()
			return err
		}
		dw.warn()
	}
	return nil
}

// disarm clears the deadline once a flush has written everything. Over
// HTTP/1 a deadline that passes while the stream is idle does nothing (the
// next write moves it first), but over HTTP/2 it is a timer that resets
// the stream when it fires: an idle stream would die WriteTimeout after
// its last event, before the next heartbeat.
func (dw *deadlineWriter) disarm() {
	dw.mu.Lock()
	defer dw.mu.Unlock()
	if dw.err == nil {
		_ = dw.rc.SetWriteDeadline(time.Time{})
	}
}

func (dw *deadlineWriter) fail(err error) {
	dw.mu.Lock()
	if dw.err == nil {
		dw.err = err
	}
	dw.mu.Unlock()
	dw.cancel()
}

// abort runs when the stream's context ends: it fails later writes and
// sets a past deadline so that a write blocked on a full socket returns
// now rather than after the timeout.
func (dw *deadlineWriter) abort() {
	dw.mu.Lock()
	defer dw.mu.Unlock()
	if dw.err == nil {
		dw.err = errStreamEnded
	}
	_ = dw.rc.SetWriteDeadline(time.Now())
}
