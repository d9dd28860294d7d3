package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"

	"github.com/presenced/presenced/http/handoff"
)

// Metrics records every request and serves GET /metrics; package metrics
// implements it. The server reports the route pattern, never the raw path,
// so the label set stays bounded.
type Metrics interface {
	// RequestStarted counts a request in; ObserveRequest counts it out.
	RequestStarted()
	// ObserveRequest records an answered request: its route pattern ("" when
	// none matched), status and time. timed is false for SSE streams, whose
	// time is the client's connection time, not the server's latency.
	ObserveRequest(route string, status int, elapsed time.Duration, timed bool)
	http.Handler
}

// RequestIDHeader carries a request's id: taken from the request when it
// is sane (a load balancer or client may set it), otherwise made here; it
// is returned in the response and written on every log line of the request.
const RequestIDHeader = "X-Request-Id"

// requestInfo is what the log and the metrics learn about a request while
// it is served. The guard fills in the route and the token.
type requestInfo struct {
	id      string
	route   string // the mux pattern; "" when none matched
	stream  bool   // an SSE stream
	tokenID string // the authenticated token's id, if any

	// handoff, set by the guard on streams, tells when the request really
	// ends: a stream that hijacked its connection outlives its handler.
	handoff *handoff.Handoff
}

type requestInfoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return info
}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	if info := infoFrom(ctx); info != nil {
		return info.id
	}
	return ""
}

// observe serves a request through next with its id, its access-log line
// and its metrics.
func (s *Server) observe(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	start := time.Now()
	info := &requestInfo{id: incomingRequestID(r.Header.Get(RequestIDHeader))}
	if info.id == "" {
		info.id = newRequestID()
	}
	w.Header().Set(RequestIDHeader, info.id)
	if r.Body != nil {
		// Bounded here, on the server's own ResponseWriter, so that an
		// over-long body still makes net/http close the connection (the
		// wrappers below cannot pass that signal on).
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	rec := &statusRecorder{ResponseWriter: w}
	if s.Metrics != nil {
		s.Metrics.RequestStarted()
	}
	finish := func() {
		elapsed := time.Since(start)
		status := rec.status
		bytes := rec.bytes
		if status == 0 {
			// net/http's answer to a handler that wrote nothing, and the
			// status a hijacked stream writes itself.
			status = http.StatusOK
		}
		if info.handoff != nil {
			bytes += info.handoff.Written()
		}
		if s.Metrics != nil {
			s.Metrics.ObserveRequest(info.route, status, elapsed, !info.stream)
		}
		s.logRequest(r, info, status, bytes, elapsed)
	}
	defer func() {
		if info.handoff != nil {
			// Logged and counted out when the stream ends, with its
			// real duration, even when it outlives its handler.
			info.handoff.AtEnd(finish)
			return
		}
		finish()
	}()
	next(rec, r)
}

// logRequest writes the access-log line. Its level follows the answer:
// Debug for successes, Info for refused requests (4xx), Warn for failures
// (5xx, whose cause the error log has already said). At the default level
// an operator so sees every refused or failed request without a line per
// heartbeat, which at 20 s per agent would be hundreds of lines a second
// on a large floor; --log-level debug shows every request. The query
// string is never logged: streams may carry ?access_token=.
func (s *Server) logRequest(r *http.Request, info *requestInfo, status int, bytes int64, elapsed time.Duration) {
	level := slog.LevelDebug
	switch {
	case status >= 500:
		level = slog.LevelWarn
	case status >= 400:
		level = slog.LevelInfo
	}
	ctx := context.WithoutCancel(r.Context())
	if !s.Logger.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", info.id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("route", info.route),
		slog.Int("status", status),
		slog.Int64("bytes", bytes),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.String("remote_addr", r.RemoteAddr),
	}
	if f := r.Header.Get("X-Forwarded-For"); f != "" {
		attrs = append(attrs, slog.String("forwarded_for", truncate(f, 200)))
	}
	if info.tokenID != "" {
		attrs = append(attrs, slog.String("token_id", info.tokenID))
	}
	if info.stream {
		attrs = append(attrs, slog.Bool("stream", true))
	}
	s.Logger.LogAttrs(ctx, level, "http request", attrs...)
}

// incomingRequestID returns id when it is fit to be logged and echoed:
// 1 to 128 letters, digits and -_.:/+=@ (UUIDs, trace ids and the ids load
// balancers make all fit). Anything else is replaced.
func incomingRequestID(id string) string {
	if len(id) == 0 || len(id) > 128 {
		return ""
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == ':' || c == '/' || c == '+' || c == '=' || c == '@':
		default:
			return ""
		}
	}
	return id
}

// newRequestID makes a random 96-bit id.
func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// statusRecorder remembers the status and size of an answer. Flush and
// Unwrap keep http.Flusher and http.ResponseController working through
// it, which SSE streams need for flushing and write deadlines.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (rec *statusRecorder) WriteHeader(code int) {
	if rec.status == 0 && code >= 200 { // 1xx are informational; the real status follows
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *statusRecorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	n, err := rec.ResponseWriter.Write(p)
	rec.bytes += int64(n)
	return n, err
}

func (rec *statusRecorder) Flush() { _ = rec.FlushError() }

// FlushError flushes, reporting failure (http.ResponseController uses it).
func (rec *statusRecorder) FlushError() error {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return http.NewResponseController(rec.ResponseWriter).Flush()
}

func (rec *statusRecorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }
