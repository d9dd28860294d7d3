package sse

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A stream served by net/http holds, for its whole life, the handler
// goroutine with the stack the middleware chain grew, net/http's
// background-read goroutine and its buffered reader and writer. Once a
// stream is set up it needs none of them: it hijacks its HTTP/1.1
// connection, its handler returns, and a fresh goroutine writes the stream
// through a connWriter. HTTP/2 connections, and writers that cannot be
// hijacked, keep the net/http path (deadlineWriter).

// maxCoalesce bounds the bytes a connWriter holds back while more events
// are queued: past it, it writes anyway.
const maxCoalesce = 32 << 10

// closeTimeout bounds the write of a stream's last bytes at its end.
const closeTimeout = time.Second

// buffers lends connWriters their buffers while they write: an idle
// stream holds none.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { return buffers.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > 4*maxCoalesce { // one huge event must not stay in the pool
		return
	}
	b.Reset()
	buffers.Put(b)
}

// hijack takes the connection of an HTTP/1.1 request over. It returns nil
// when the writer cannot be hijacked (HTTP/2, test recorders): the stream
// then stays on the net/http path. header is the response's header so
// far (the request id, CORS), which the stream's answer carries.
func hijack(w http.ResponseWriter, r *http.Request) (conn net.Conn, header http.Header) {
	if !r.ProtoAtLeast(1, 1) || r.ProtoMajor != 1 {
		return nil, nil // HTTP/1.0 has no chunked encoding; HTTP/2 no hijacking
	}
	header = w.Header().Clone()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil
	}
	// Anything the client sent after its request is ignored, and the
	// buffers go with brw.
	_ = brw
	return conn, header
}

// connWriter is the http.ResponseWriter of a hijacked stream. It writes the
// answer itself: the status line and header, then the body in chunked
// encoding, one chunk per write to the connection. Write only collects;
// Flush writes, unless the stream has more events queued, whose own Flush
// will write them together. Write, Flush and close are called from one
// goroutine; abort from another.
type connWriter struct {
	conn     net.Conn
	header   http.Header
	timeout  time.Duration
	cancel   context.CancelFunc // ends the stream
	queued   *atomic.Int64      // the stream's
	progress chan struct{}      // the stream's
	out      wireBuffer         // where chunks goes
	chunks   io.WriteCloser     // chunked encoding into out

	status     int
	headerSent bool
	body       *bytes.Buffer // what r3labs wrote since the last write to conn; nil when empty
	written    int64         // bytes written to conn, for the access log

	mu       sync.Mutex
	err      error       // once set, every write fails at once
	deadline time.Time   // the write deadline set last by arm
	broken   atomic.Bool // err is set
}

// wireBuffer is the buffer of one write to the connection.
type wireBuffer struct{ b *bytes.Buffer }

func (w *wireBuffer) Write(p []byte) (int, error) { return w.b.Write(p) }

func newConnWriter(st *stream, conn net.Conn, header http.Header, cancel context.CancelFunc) *connWriter {
	cw := &connWriter{
		conn:     conn,
		header:   header,
		timeout:  st.ss.writeTimeout,
		cancel:   cancel,
		queued:   &st.queued,
		progress: st.progress,
	}
	cw.chunks = httputil.NewChunkedWriter(&cw.out)
	return cw
}

func (cw *connWriter) Header() http.Header { return cw.header }

func (cw *connWriter) WriteHeader(code int) {
	if cw.status == 0 {
		cw.status = code
	}
}

func (cw *connWriter) Write(p []byte) (int, error) {
	if err := cw.failed(); err != nil {
		return 0, err
	}
	if cw.status == 0 {
		cw.status = http.StatusOK
	}
	if cw.body == nil {
		cw.body = getBuffer()
	}
	return cw.body.Write(p)
}

// Flush ends every event r3labs writes (and its header). See
// stream.queued for why leaving the write to a later Flush never holds an
// event back.
func (cw *connWriter) Flush() {
	if cw.body != nil {
		defer cw.progressed()
		if cw.queued.Add(-1) > 0 && cw.body.Len() < maxCoalesce {
			return
		}
	}
	if cw.arm() != nil {
		return
	}
	if err := cw.send(false); err != nil {
		cw.fail(err)
	}
}

func (cw *connWriter) progressed() {
	select {
	case cw.progress <- struct{}{}:
	default:
	}
}

// send writes the header if it has not gone yet, then the body collected,
// as one chunk, in one write; last adds the end of the body.
func (cw *connWriter) send(last bool) error {
	if cw.headerSent && cw.body == nil && !last {
		return nil
	}
	out := getBuffer()
	defer putBuffer(out)
	if !cw.headerSent {
		cw.headerSent = true
		cw.writeHeader(out)
	}
	cw.out.b = out
	if cw.body != nil {
		_, _ = cw.chunks.Write(cw.body.Bytes()) // into a bytes.Buffer: no error
		putBuffer(cw.body)
		cw.body = nil
	}
	if last {
		_ = cw.chunks.Close()
		out.WriteString("\r\n") // no trailer
	}
	cw.out.b = nil
	n, err := cw.conn.Write(out.Bytes())
	cw.written += int64(n)
	return err
}

// writeHeader writes the status line and the header. The connection
// closes when the stream ends, so it says so: a client must not wait to
// reuse it.
func (cw *connWriter) writeHeader(out *bytes.Buffer) {
	if cw.status == 0 {
		cw.status = http.StatusOK
	}
	out.WriteString("HTTP/1.1 ")
	out.WriteString(strconv.Itoa(cw.status))
	out.WriteByte(' ')
	out.WriteString(http.StatusText(cw.status))
	out.WriteString("\r\n")
	h := cw.header
	h.Del("Content-Length")
	h.Set("Transfer-Encoding", "chunked")
	h.Set("Connection", "close")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	_ = h.Write(out)
	out.WriteString("\r\n")
}

// arm makes sure the next write has a deadline. It holds mu so that it
// cannot push back the past deadline that abort sets.
//
// It moves the deadline only once less than 90 % of the timeout is left,
// so a write may fail after 90 % of WriteTimeout rather than all of it:
// setting a deadline (a runtime timer update under the poller's lock)
// before every write was 4 % of a fan-out node's CPU at 100,000
// deliveries a second.
func (cw *connWriter) arm() error {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	if cw.err != nil {
		return cw.err
	}
	now := time.Now()
	if cw.deadline.Sub(now) > cw.timeout-cw.timeout/10 {
		return nil
	}
	deadline := now.Add(cw.timeout)
	if err := cw.conn.SetWriteDeadline(deadline); err != nil {
		cw.err = err
		cw.broken.Store(true)
		cw.cancel()
		return err
	}
	cw.deadline = deadline
	return nil
}

// failed returns the error that ended the stream, if any. r3labs makes
// several Writes per event: they check a flag, not the lock.
func (cw *connWriter) failed() error {
	if !cw.broken.Load() {
		return nil
	}
	cw.mu.Lock()
	defer cw.mu.Unlock()
	return cw.err
}

func (cw *connWriter) fail(err error) {
	cw.mu.Lock()
	if cw.err == nil {
		cw.err = err
		cw.broken.Store(true)
	}
	cw.mu.Unlock()
	cw.cancel()
}

func (cw *connWriter) abort() {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	if cw.err == nil {
		cw.err = errStreamEnded
		cw.broken.Store(true)
	}
	_ = cw.conn.SetWriteDeadline(time.Now())
}

// close ends the answer and closes the connection. It runs after r3labs
// has returned. A stream that ended without a write error (client gone,
// subscriber dropped, broker closed) gets what was collected and the end
// of the body, within closeTimeout, so that its client sees a whole
// answer rather than a cut one.
func (cw *connWriter) close() {
	cw.mu.Lock()
	clean := cw.err == nil || cw.err == errStreamEnded
	cw.mu.Unlock()
	if clean && cw.headerSent && cw.conn.SetWriteDeadline(time.Now().Add(closeTimeout)) == nil {
		_ = cw.send(true)
	}
	if cw.body != nil {
		putBuffer(cw.body)
		cw.body = nil
	}
	_ = cw.conn.Close()
}

// watchClose ends the stream when the client closes its connection (or the
// connection fails), as net/http's background read does for a request it
// serves. A stream's client has nothing more to send: data ends the stream
// too, so that a client cannot keep this goroutine busy.
func watchClose(conn net.Conn, cancel context.CancelFunc) {
	var b [1]byte
	_, _ = conn.Read(b[:])
	cancel()
}
