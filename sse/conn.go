package sse

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// A stream served by net/http holds, for its whole life, the handler
// goroutine with the stack the middleware chain grew, net/http's
// background-read goroutine and its buffered reader and writer. Once a
// stream is set up it needs none of them: it hijacks its HTTP/1.1
// connection, its handler returns, and a fresh goroutine writes the stream
// through a connSink. HTTP/2 connections, and writers that cannot be
// hijacked, keep the net/http path (httpSink).

// closeTimeout bounds the write of a stream's last bytes at its end.
const closeTimeout = time.Second

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

// connSink writes a hijacked stream: the status line and header, then
// the body in chunked encoding, one chunk and one write to the connection
// per write. write, writeRaw and close are called from the stream's
// writer, tryWrite from its deliverer (deliver.go), abort from another
// goroutine.
type connSink struct {
	conn    net.Conn
	raw     syscall.RawConn // conn's descriptor, for tryWrite; nil: no direct writes
	header  http.Header
	timeout time.Duration

	// wmu is held by every write to conn, so that a direct write and the
	// writer's never interleave, and guards the fields below.
	wmu        sync.Mutex
	headerSent bool
	closed     bool  // the end of the body is written or conn closed
	written    int64 // bytes written to conn, for the access log

	mu       sync.Mutex
	err      error     // once set, every write fails at once
	deadline time.Time // the write deadline set last by arm
}

func newConnSink(conn net.Conn, header http.Header, timeout time.Duration) *connSink {
	cs := &connSink{conn: conn, header: header, timeout: timeout}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			cs.raw = raw
		}
	}
	return cs
}

// bytesWritten returns the bytes written to conn, for the access log.
func (cs *connSink) bytesWritten() int64 {
	cs.wmu.Lock()
	defer cs.wmu.Unlock()
	return cs.written
}

// direct returns cs as a directWriter, or nil when its connection gives
// no descriptor (TLS).
func (cs *connSink) direct() directWriter {
	if cs.raw == nil {
		return nil
	}
	return cs
}

func (cs *connSink) write(p []byte) error {
	if err := cs.arm(); err != nil {
		return err
	}
	if err := cs.send(p, false); err != nil {
		return cs.fail(err)
	}
	return nil
}

// send writes the header if it has not gone yet, then p as one chunk, in
// one write; last adds the end of the body.
func (cs *connSink) send(p []byte, last bool) error {
	out := getBuffer()
	defer putBuffer(out)
	cs.wmu.Lock()
	defer cs.wmu.Unlock()
	if cs.closed {
		return errStreamEnded
	}
	if !cs.headerSent {
		cs.headerSent = true
		cs.writeHeader(out)
	}
	if len(p) > 0 {
		var size [16]byte
		out.Write(strconv.AppendInt(size[:0], int64(len(p)), 16))
		out.WriteString("\r\n")
		out.Write(p)
		out.WriteString("\r\n")
	}
	if last {
		out.WriteString("0\r\n\r\n") // no trailer
		cs.closed = true
	}
	n, err := cs.conn.Write(out.Bytes())
	cs.written += int64(n)
	return err
}

// writeHeader writes the status line and the header. The connection
// closes when the stream ends, so it says so: a client must not wait to
// reuse it.
func (cs *connSink) writeHeader(out *bytes.Buffer) {
	out.WriteString("HTTP/1.1 200 OK\r\n")
	h := cs.header
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
// before every write costs more than the rest of a small write.
func (cs *connSink) arm() error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.err != nil {
		return cs.err
	}
	now := time.Now()
	if cs.deadline.Sub(now) > cs.timeout-cs.timeout/10 {
		return nil
	}
	deadline := now.Add(cs.timeout)
	if err := cs.conn.SetWriteDeadline(deadline); err != nil {
		cs.err = err
		return err
	}
	cs.deadline = deadline
	return nil
}

func (cs *connSink) fail(err error) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.err == nil {
		cs.err = err
	}
	return cs.err
}

func (cs *connSink) abort() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.err == nil {
		cs.err = errStreamEnded
	}
	_ = cs.conn.SetWriteDeadline(time.Now())
}

// close ends the answer and closes the connection, after the writer has
// returned. A stream that ended without a write error (client gone,
// subscriber dropped, broker closed) gets the end of the body, within
// closeTimeout, so that its client sees a whole answer rather than a cut
// one.
func (cs *connSink) close() {
	cs.mu.Lock()
	clean := cs.err == nil || cs.err == errStreamEnded
	cs.mu.Unlock()
	cs.wmu.Lock()
	headerSent := cs.headerSent
	cs.wmu.Unlock()
	if clean && headerSent && cs.conn.SetWriteDeadline(time.Now().Add(closeTimeout)) == nil {
		_ = cs.send(nil, true)
	}
	cs.wmu.Lock()
	cs.closed = true
	cs.wmu.Unlock()
	_ = cs.conn.Close()
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
