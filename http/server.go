package http

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strings"
	"time"

	presence "github.com/presenced/presenced"
)

// EventStreamer serves SSE streams; package sse's Broker implements it. The
// interface keeps this package free of the SSE implementation.
type EventStreamer interface {
	ServeEvents(w http.ResponseWriter, r *http.Request)
	ServeChannel(w http.ResponseWriter, r *http.Request, channelID string)
}

// Server is the HTTP server of presenced. Set the services, then Open.
type Server struct {
	ln     net.Listener
	server *http.Server
	mux    *http.ServeMux // every route of routes.go behind the guard (guard.go)

	limits  limiters       // requests per token (ratelimit.go)
	streams streamRegistry // open streams per token (streams.go)

	// Addr is the address to listen on ("127.0.0.1:0" picks a free port).
	Addr     string
	Timeouts Timeouts
	Logger   *slog.Logger

	AgentService    presence.AgentService
	StatusService   presence.StatusService
	PresenceService presence.PresenceService
	SpellService    presence.SpellService
	ChannelService  presence.ChannelService
	SessionService  presence.SessionService
	QueueService    presence.QueueService
	WorkService     presence.WorkService
	Events          EventStreamer

	// Metrics, when set, records every request and answers GET /metrics
	// (observe.go); nil leaves GET /metrics at 404.
	Metrics          Metrics
	AttributeService presence.AttributeService
	QueryService     presence.QueryService

	// EventPosition is the newest event position this node has read from
	// the log (it starts at the log's head, not at zero, so a restarted node
	// cannot mistake old data for new). Every committed change writes an
	// event, so it serves as a cheap ETag; nil disables ETags.
	EventPosition func() presence.Position
	// EventSync returns once EventPosition has passed every event committed
	// before the call (db.Listener.Sync). With it the bulk read reflects
	// the writes this node has answered (writeFence); nil: it follows the
	// listener only.
	EventSync func(ctx context.Context) error

	bulk  bulkCache  // recent bulk presence answers, see handlePresenceList
	fence writeFence // read-your-writes for the bulk read

	// Ready reports whether this node can serve (database reachable,
	// migrations applied, listener connected); nil means always ready.
	Ready func(ctx context.Context) error

	// Authentication and authorization (guard.go): every route but the
	// open ones needs a token that TokenService knows. The finders let
	// agent-bound tokens use routes keyed by session or work id.
	TokenService  presence.TokenService
	AuditLog      presence.AuditLog
	SessionAgents presence.SessionAgentFinder
	WorkAgents    presence.WorkAgentFinder
	Security      Security
}

// Security configures authentication and hardening. The zero value is safe:
// auth on, no rate limit, no CORS, default limits.
type Security struct {
	// RateLimit is the requests per second one token may make (burst
	// twice that), per bucket; 0 means no limit.
	RateLimit float64
	// CORSOrigins are the browser origins allowed to call the API ("*":
	// any). Empty: no cross-origin access.
	CORSOrigins []string
	// PublicMetrics opens GET /metrics to anyone; otherwise it needs a
	// presence:read token.
	PublicMetrics bool
	// MaxStreamsPerToken bounds the SSE streams one token holds open on
	// this node (0: DefaultMaxStreamsPerToken).
	MaxStreamsPerToken int
}

// Timeouts are the HTTP server's timeouts (http.Server's ReadTimeout,
// WriteTimeout and IdleTimeout; 0: the defaults below). None cuts an SSE
// stream: net/http clears the read deadline when a handler starts (for its
// background read), and the broker moves the write deadline before every
// write.
type Timeouts struct {
	Read  time.Duration // to read a request, head and body
	Write time.Duration // from the end of the request's head to the end of the answer
	Idle  time.Duration // a kept-alive connection's wait for its next request
}

// Defaults of Timeouts.
const (
	DefaultReadTimeout  = 30 * time.Second
	DefaultWriteTimeout = 60 * time.Second
	DefaultIdleTimeout  = 120 * time.Second
)

// NewServer returns a server with its routes (routes.go) registered.
func NewServer() *Server {
	s := &Server{Logger: slog.Default()}
	s.mux = newMux(s)
	return s
}

// ServeHTTP lets tests and other servers use the handler directly. Every
// request gets an id, an access-log line and its metrics (observe.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.observe(w, r, s.serveFenced) }

// Open listens first, so that address errors surface at once and ":0"
// works in tests, then serves in the background.
func (s *Server) Open() (err error) {
	if s.ln, err = net.Listen("tcp", s.Addr); err != nil {
		return err
	}
	s.server = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       orDefault(s.Timeouts.Read, DefaultReadTimeout),
		WriteTimeout:      orDefault(s.Timeouts.Write, DefaultWriteTimeout),
		IdleTimeout:       orDefault(s.Timeouts.Idle, DefaultIdleTimeout),
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
		ConnContext:       withWireConn,
		Protocols:         new(http.Protocols),
	}
	// HTTP/1.1, and HTTP/2 without TLS (h2c, prior knowledge only): a
	// balancer or client that speaks HTTP/2 to the node carries many
	// streams on one connection.
	s.server.Protocols.SetHTTP1(true)
	s.server.Protocols.SetUnencryptedHTTP2(true)
	go func() {
		if err := s.server.Serve(wireListener{s.ln}); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Logger.Error("http serve", "err", err)
		}
	}()
	return nil
}

// outer is what the server serves inside observe and the write fence: the
// wire checks (conn.go) and CORS (cors.go) around the mux, so that
// preflight requests (OPTIONS, no token) get their answer, and paths the
// mux would redirect refused. observe has bounded the body already.
func (s *Server) outer(w http.ResponseWriter, r *http.Request) {
	if err := framingConflict(r); err != nil {
		w.Header().Set("Connection", "close")
		s.Error(w, r, err)
		return
	}
	if s.cors(w, r) {
		return
	}
	if err := canonicalPath(r); err != nil {
		s.Error(w, r, err)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// URL returns the base URL the server listens on.
func (s *Server) URL() string {
	return "http://" + s.ln.Addr().String()
}

// Close shuts the server down, waiting for requests up to the context's
// deadline. SSE streams end when the broker closes.
func (s *Server) Close(ctx context.Context) error {
	if s.server == nil {
		return nil
	}
	return s.server.Shutdown(ctx)
}

// handleNotFound answers what no route matched. The catch-all "/" matches
// every method, so the mux's own 405 never comes: a path that other
// methods serve is 405 with Allow here, in the JSON error shape.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	if allow := s.allowedMethods(r); len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.Error(w, r, presence.ReasonErrorf(presence.EMETHOD, "method_not_allowed",
			"%s is not allowed on %s; use %s.", truncate(r.Method, 20), truncate(r.URL.Path, 200), strings.Join(allow, ", ")))
		return
	}
	writeError(w, http.StatusNotFound, presence.ENOTFOUND, "No such endpoint: "+truncate(r.Method, 20)+" "+truncate(r.URL.Path, 200)+".")
}

// routeMethods are the methods routes are registered for.
var routeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// allowedMethods lists the methods that a route serves on r's path.
func (s *Server) allowedMethods(r *http.Request) []string {
	var allow []string
	for _, m := range routeMethods {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	return allow
}

// canonicalPath refuses, under /v1, a path that the mux would answer with
// a 307 redirect to its cleaned form ("//", "." or ".." segments): an
// HTML redirect is no answer for an API client, and a path that means
// another path is how requests slip past a proxy's rules.
func canonicalPath(r *http.Request) error {
	p := r.URL.EscapedPath()
	if r.Method == http.MethodConnect || (p != "/v1" && !strings.HasPrefix(p, "/v1/")) {
		return nil
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	if clean != p {
		return presence.ReasonErrorf(presence.EBADREQUEST, "path_not_canonical",
			"The path %q must not hold empty, \".\" or \"..\" segments.", truncate(p, 200))
	}
	return nil
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.Ready(ctx); err != nil {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
