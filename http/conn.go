package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/http/httperror"
)

// Two things net/http (Go 1.26) does on the wire, below every handler,
// that this API must not do; wireConn, wrapped around every accepted
// connection, fixes both.
//
//  1. A request with both Content-Length and Transfer-Encoding is read by
//     Transfer-Encoding, its Content-Length header is deleted before any
//     handler can see it, and the connection is kept. Behind a proxy that
//     reads Content-Length that is request smuggling; RFC 9112 §6.1 says
//     the server must close the connection (golang/go#80942, fixed after
//     1.26). wireConn notes the two header lines as the head is read, and
//     outer answers 400 and closes.
//  2. Errors found before a handler runs (431 for headers over
//     MaxHeaderBytes, 501 for an unknown Transfer-Encoding, 400 for a
//     malformed head, 417 for an Expect other than 100-continue) are
//     written straight to the connection as text/plain or with no body.
//     wireConn rewrites those answers into the JSON error shape, status
//     and Connection: close unchanged. (A head that never completes is
//     closed without an answer by ReadHeaderTimeout; there is none to
//     rewrite.)
type wireListener struct{ net.Listener }

func (l wireListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &wireConn{Conn: c}, nil
}

// wireConn watches the request heads read from a connection and the
// pre-handler errors written to it. Reads come from one goroutine at a
// time (net/http's connReader); conflict is read by handlers.
type wireConn struct {
	net.Conn

	line     [24]byte // the start of the line being read, lower-cased
	lineLen  int
	seenCL   bool // Content-Length in the head (or block of lines) being read
	seenTE   bool // Transfer-Encoding in it
	stopped  bool // HTTP/2: no heads to watch
	started  bool
	conflict atomic.Bool // a head held both: the connection is refused
}

type wireConnKey struct{}

// withWireConn puts the connection in the context of its requests
// (http.Server.ConnContext).
func withWireConn(ctx context.Context, c net.Conn) context.Context {
	if wc, ok := c.(*wireConn); ok {
		return context.WithValue(ctx, wireConnKey{}, wc)
	}
	return ctx
}

// framingConflict reports whether r came on a connection that sent a head
// with both Content-Length and Transfer-Encoding. Every request on such a
// connection is refused: which bytes belong to which request is exactly
// what is in doubt.
func framingConflict(r *http.Request) error {
	if wc, _ := r.Context().Value(wireConnKey{}).(*wireConn); wc == nil || !wc.conflict.Load() || r.ProtoMajor != 1 {
		return nil
	}
	return presence.ReasonErrorf(presence.EBADREQUEST, "conflicting_framing",
		"A request may not carry both Content-Length and Transfer-Encoding; the connection is closed.")
}

func (c *wireConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.stopped {
		c.scan(p[:n])
	}
	return n, err
}

// scan follows the lines of the byte stream. A body line can look like a
// header line only if the body is not JSON (a JSON text never has a line
// starting with a bare name and a colon), and bodies here are JSON; a
// blank line ends a head.
func (c *wireConn) scan(b []byte) {
	if !c.started {
		c.started = true
		if bytes.HasPrefix(b, []byte("PRI * HTTP/2")) { // h2c with prior knowledge
			c.stopped = true
			return
		}
	}
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		chunk := b
		if i >= 0 {
			chunk = b[:i]
		}
		for _, ch := range chunk {
			if c.lineLen < len(c.line) {
				if 'A' <= ch && ch <= 'Z' {
					ch += 'a' - 'A'
				}
				c.line[c.lineLen] = ch
				c.lineLen++
			}
		}
		if i < 0 {
			return
		}
		line := c.line[:c.lineLen]
		switch {
		case len(line) == 0 || (len(line) == 1 && line[0] == '\r'):
			c.seenCL, c.seenTE = false, false
		case bytes.HasPrefix(line, []byte("content-length:")):
			c.seenCL = true
		case bytes.HasPrefix(line, []byte("transfer-encoding:")):
			c.seenTE = true
		}
		if c.seenCL && c.seenTE {
			c.conflict.Store(true)
		}
		c.lineLen = 0
		b = b[i+1:]
	}
}

// plainErrorHeaders is how net/http writes the errors it answers before
// any handler runs ("HTTP/1.1 431 ..." + this + the text), in one write.
const plainErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// expectationFailed is how net/http refuses an Expect header other than
// 100-continue, before any handler: no body, in one write.
const expectationFailed = "HTTP/1.1 417 Expectation Failed\r\n"

// SyscallConn gives the descriptor of the connection underneath: a
// hijacked event stream's deliverer writes its frames with non-blocking
// writes (sse/deliver.go). Those are event frames, never one of the
// answers Write rewrites.
func (c *wireConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("http: the connection has no file descriptor")
	}
	return sc.SyscallConn()
}

func (c *wireConn) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("HTTP/1.1 ")) {
		var answer []byte
		// Only the status line is searched: every answer's first write
		// starts with one, and a large answer must not be scanned whole.
		if i := bytes.Index(p[:min(len(p), 128)], []byte("\r\n")); i > 0 && bytes.HasPrefix(p[i:], []byte(plainErrorHeaders)) {
			answer = jsonPlainError(string(p[:i]), string(p[i+len(plainErrorHeaders):]))
		} else if bytes.HasPrefix(p, []byte(expectationFailed)) && bytes.HasSuffix(p, []byte("\r\nContent-Length: 0\r\n\r\n")) {
			answer = jsonPlainError(expectationFailed[:len(expectationFailed)-2], "Only the expectation 100-continue is supported")
		}
		if answer != nil {
			if _, err := c.Conn.Write(answer); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return c.Conn.Write(p)
}

// jsonPlainError turns one of net/http's plain-text errors into the JSON
// error shape: "HTTP/1.1 431 Request Header Fields Too Large" and its text.
func jsonPlainError(statusLine, text string) []byte {
	status, _ := strconv.Atoi(strings.TrimPrefix(statusLine, "HTTP/1.1 ")[:3])
	statusLine = fmt.Sprintf("HTTP/1.1 %03d %s", status, http.StatusText(status))
	text = strings.TrimPrefix(text, strconv.Itoa(status)+" ")
	code := presence.EBADREQUEST
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		code = "headers_too_large"
	case http.StatusNotImplemented:
		code = "unsupported_transfer_encoding"
	case http.StatusHTTPVersionNotSupported:
		code = "http_version_not_supported"
	case http.StatusExpectationFailed:
		code = "expectation_failed"
	}
	var body httperror.Body
	body.Error.Code, body.Error.Message = code, strings.TrimSuffix(text, ".")+"."
	b, _ := json.Marshal(body)
	b = append(b, '\n')
	return fmt.Appendf(nil, "%s\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", statusLine, len(b), b)
}
