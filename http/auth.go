package http

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/http/handoff"
)

// Authorization is a table keyed by route pattern, exactly as the pattern
// is registered on the mux: each route names the scope it needs and how to
// find the agent the request acts on. Adding a route is one line here; a
// route without a line answers 500 and fails TestEveryRouteHasARule, so no
// endpoint can be forgotten. Lines for routes that are not registered do no
// harm.
var rules = map[string]rule{
	"GET /healthz":      open(),
	"GET /readyz":       open(),
	"GET /openapi.json": open(),
	"GET /":             open(), // the wallboard page; its data comes through authorized fetches and streams
	"GET /{$}":          open(), // the same, registered exactly
	"/":                 open(), // the not-found answer
	"GET /metrics":      {scope: presence.ScopeRead, target: unbound, public: func(s *Server) bool { return s.Security.PublicMetrics }},

	// The wallboard's script and style sheet: no data in them.
	"GET /wallboard/{file}": open(),

	// Definitions: reading them is global; changing them is configuration.
	"GET /v1/statuses":             read(global),
	"POST /v1/statuses":            admin(),
	"PATCH /v1/statuses/{id}":      admin(),
	"DELETE /v1/statuses/{id}":     admin(),
	"GET /v1/queues":               read(global),
	"GET /v1/queues/{q}":           read(global),
	"PUT /v1/queues/{q}":           admin(),
	"POST /v1/agents":              admin(),
	"POST /v1/agents/batch":        admin(),
	"PATCH /v1/agents/{id}":        admin(),
	"DELETE /v1/agents/{id}":       admin(),
	"POST /v1/agents/{id}/restore": admin(),

	// Reading agents.
	"GET /v1/agents":                 read(everyAgent),
	"GET /v1/agents/updated":         read(everyAgent),
	"GET /v1/agents/deleted":         read(everyAgent),
	"GET /v1/agents/{id}":            read(pathAgent("id")),
	"GET /v1/agents/{id}/presence":   read(pathAgent("id")),
	"GET /v1/agents/{id}/attributes": read(pathAgent("id")),
	"GET /v1/presence":               read(queryAgents("agent")),
	"POST /v1/presence/query":        read(everyAgent),

	// History.
	"GET /v1/spells":               read(queryAgents("agent")),
	"GET /v1/spells/updated":       read(everyAgent),
	"GET /v1/spells/deleted":       read(everyAgent),
	"GET /v1/spells/{id}":          read(spellAgent("id")),
	"DELETE /v1/spells/{id}":       admin(),
	"POST /v1/spells/{id}/restore": admin(),

	// Changing presence: an agent-bound token only for its own agent.
	"PUT /v1/agents/{id}/presence":                           write(pathAgent("id")),
	"PUT /v1/agents/{id}/attributes":                         write(pathAgent("id")),
	"DELETE /v1/agents/{id}/attributes/{category}/{name...}": write(pathAgent("id")), // names may hold "/": phone/status
	"POST /v1/agents/{id}/sessions":                          write(pathAgent("id")),
	"GET /v1/agents/{id}/sessions":                           read(pathAgent("id")),
	"GET /v1/sessions/{sid}":                                 read(sessionAgent("sid")),
	"POST /v1/sessions/{sid}/heartbeat":                      write(sessionAgent("sid")).inBucket(BucketHeartbeat),
	"DELETE /v1/sessions/{sid}":                              write(sessionAgent("sid")),
	"POST /v1/agents/{id}/queues/{q}/login":                  write(pathAgent("id")),
	"POST /v1/agents/{id}/queues/logout":                     write(pathAgent("id")),
	"POST /v1/agents/{id}/work":                              write(pathAgent("id")),
	"GET /v1/agents/{id}/work":                               read(pathAgent("id")),
	"GET /v1/work/{wid}":                                     read(workAgent("wid")),
	"DELETE /v1/work/{wid}":                                  write(workAgent("wid")),
	"POST /v1/work/{wid}/release":                            admin(),

	// Streams: which topics a token may read is checked per topic
	// (AuthorizeTopic), at connect and when a channel's topics change. A
	// channel is its owner's (and any admin token's): the handlers answer
	// 404 to other tokens (ownChannel).
	"GET /v1/events":                      read(global).asStream(),
	"GET /v1/channels/{id}/events":        read(global).asStream(),
	"POST /v1/channels":                   read(global),
	"GET /v1/channels/{id}":               read(global),
	"PUT /v1/channels/{id}/subscriptions": read(global),

	// Tokens and audit.
	"POST /v1/tokens":        admin(),
	"GET /v1/tokens":         admin(),
	"DELETE /v1/tokens/{id}": admin(),
	"GET /v1/audit":          admin(),
}

// BucketHeartbeat is the rate-limit bucket of heartbeats: counted apart
// from a token's other requests, so a busy client never loses its
// presence through its own rate limit.
const BucketHeartbeat = "heartbeat"

// rule is how one route is authorized.
type rule struct {
	scope  string             // "" for an open route
	target target             // the agents the request acts on
	bucket string             // the rate-limit bucket; "" the token's main one
	stream bool               // an SSE stream: ?access_token= accepted, counted per token
	public func(*Server) bool // when it reports true the route is open
}

// target says which agents a request acts on, for agent-bound tokens.
type target struct {
	global  bool // no agent's data: definitions, channels, streams (topics are checked apart)
	unbound bool // the whole node (metrics): no agent-bound token, read:all or not
	// agents returns the ids of the agents the request acts on; nil, or
	// none returned, means every agent.
	agents func(s *Server, r *http.Request) ([]string, error)
	// hidden, when set, is the error for a bound token that may not act
	// on the agent: the not-found of the thing, so that a token does not
	// learn that another agent's exists.
	hidden func(r *http.Request) error
}

var (
	everyAgent = target{}
	global     = target{global: true}
	unbound    = target{unbound: true}
)

func open() rule { return rule{} }

func admin() rule { return rule{scope: presence.ScopeAdmin, target: global} }

func read(t target) rule { return rule{scope: presence.ScopeRead, target: t} }

func write(t target) rule { return rule{scope: presence.ScopeWrite, target: t} }

func (r rule) inBucket(b string) rule { r.bucket = b; return r }

func (r rule) asStream() rule { r.stream = true; return r }

// pathAgent is the agent named by a path wildcard.
func pathAgent(name string) target {
	return target{agents: func(s *Server, r *http.Request) ([]string, error) {
		return []string{r.PathValue(name)}, nil
	}}
}

// queryAgents is the agents named by a repeatable query parameter; none
// named means every agent.
func queryAgents(name string) target {
	return target{agents: func(s *Server, r *http.Request) ([]string, error) {
		return r.URL.Query()[name], nil
	}}
}

// sessionAgent is the agent of the session named by a path wildcard.
func sessionAgent(name string) target {
	return target{agents: func(s *Server, r *http.Request) ([]string, error) {
		if s.SessionAgents == nil {
			return nil, presence.Errorf(presence.EFORBIDDEN, "This node cannot tell whose session %q is; use a token not bound to an agent.", r.PathValue(name))
		}
		id, err := s.SessionAgents.SessionAgent(r.Context(), r.PathValue(name))
		return []string{id}, err
	}}
}

// workAgent is the agent a work item named by a path wildcard is assigned to.
func workAgent(name string) target {
	return target{agents: func(s *Server, r *http.Request) ([]string, error) {
		if s.WorkAgents == nil {
			return nil, presence.Errorf(presence.EFORBIDDEN, "This node cannot tell whose work item %q is; use a token not bound to an agent.", r.PathValue(name))
		}
		id, err := s.WorkAgents.WorkAgent(r.Context(), r.PathValue(name))
		return []string{id}, err
	}}
}

// spellAgent is the agent of the spell named by a path wildcard; another
// agent's spell is not found.
func spellAgent(name string) target {
	notFound := func(r *http.Request) error {
		return presence.ReasonErrorf(presence.ENOTFOUND, "spell_not_found", "Spell %q does not exist.", r.PathValue(name))
	}
	return target{hidden: notFound, agents: func(s *Server, r *http.Request) ([]string, error) {
		id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
		if err != nil || id < 1 || s.SpellService == nil {
			return nil, notFound(r)
		}
		sp, err := s.SpellService.FindSpellByID(r.Context(), id)
		if err != nil {
			return nil, err
		}
		return []string{sp.AgentID}, nil
	}}
}

// RouteRule reports the scope a route pattern needs ("" for an open one)
// and whether it has a rule at all.
func RouteRule(pattern string) (scope string, ok bool) {
	r, ok := rules[pattern]
	return r.scope, ok
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

// DefaultMaxStreamsPerToken is the default of Security.MaxStreamsPerToken.
const DefaultMaxStreamsPerToken = 100

// router is the mux of the server. Every route registered on it, by
// routes() or by any later change, goes through guard, which applies the
// route's rule and its query parameters: nothing can be registered
// unguarded.
type router struct {
	*http.ServeMux
	s        *Server
	mu       sync.Mutex
	patterns []string
	params   map[string][]string // by pattern: the query parameters it takes
}

func newRouter(s *Server) *router {
	return &router{ServeMux: http.NewServeMux(), s: s, params: make(map[string][]string)}
}

// Handle registers h for pattern behind its authorization rule, taking
// the query parameters named (see routes).
func (rt *router) Handle(pattern string, h http.Handler, params ...string) {
	rt.mu.Lock()
	rt.patterns = append(rt.patterns, pattern)
	rt.params[pattern] = params
	rt.mu.Unlock()
	rt.ServeMux.Handle(pattern, rt.s.guard(pattern, params, h))
}

// HandleFunc registers h for pattern behind its authorization rule.
func (rt *router) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request), params ...string) {
	rt.Handle(pattern, http.HandlerFunc(h), params...)
}

// RouteParams returns the query parameters a route pattern takes, as
// registered ("name*" for a repeatable one).
func (s *Server) RouteParams(pattern string) []string {
	s.mux.mu.Lock()
	defer s.mux.mu.Unlock()
	return slices.Clone(s.mux.params[pattern])
}

// Routes returns every registered route pattern.
func (s *Server) Routes() []string {
	s.mux.mu.Lock()
	defer s.mux.mu.Unlock()
	return slices.Clone(s.mux.patterns)
}

// guard wraps the handler of one route: authenticate, rate-limit,
// authorize, then serve with the token in the context.
func (s *Server) guard(pattern string, params []string, h http.Handler) http.Handler {
	ru, ok := rules[pattern]
	api := strings.HasPrefix(pattern[strings.IndexByte(pattern, ' ')+1:], "/v1/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoFrom(r.Context())
		if info != nil { // for the access log and the metrics
			info.route, info.stream = pattern, ru.stream
		}
		if !ok {
			s.Logger.Error("route without an authorization rule; add one to rules in http/auth.go", "pattern", pattern)
			s.Error(w, r, presence.Errorf(presence.EINTERNAL, "This endpoint has no authorization rule."))
			return
		}
		if err := checkPathText(r); err != nil {
			s.Error(w, r, err)
			return
		}
		if api {
			if err := checkQuery(r.URL.RawQuery, params); err != nil {
				s.Error(w, r, err)
				return
			}
		}
		if ru.scope == "" || (ru.public != nil && ru.public(s)) {
			h.ServeHTTP(w, r)
			return
		}
		tok, err := s.authenticate(r, ru.stream)
		if err != nil {
			if presence.ErrorCode(err) == presence.EUNAUTHORIZED {
				w.Header().Set("WWW-Authenticate", `Bearer realm="presenced"`)
			}
			s.Error(w, r, err)
			return
		}
		if info != nil {
			info.tokenID = tok.ID
		}
		if wait, ok := s.auth.limits.allow(tok.ID, ru.bucket, s.Security.RateLimit); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(wait))
			s.Error(w, r, presence.ReasonErrorf(presence.ERATELIMIT, "rate_limited",
				"Too many requests for this token; retry after %d s.", wait))
			return
		}
		if err := s.authorize(r, ru, tok); err != nil {
			s.Error(w, r, err)
			return
		}
		r = r.WithContext(presence.WithToken(r.Context(), tok))
		if ru.stream {
			// A stream may go on after its handler returns (the broker
			// hijacks the connection): it keeps its place in the token's
			// count, and revocation still ends it, until it really ends.
			hctx, h := handoff.New(r.Context())
			defer h.Release()
			if info != nil {
				info.handoff = h
			}
			ctx, done, err := s.auth.streams.enter(hctx, tok.ID, tok.ExpiresAt, s.maxStreams())
			if err != nil {
				w.Header().Set("Retry-After", "5")
				s.Error(w, r, err)
				return
			}
			defer h.AtEnd(done)
			r = r.WithContext(ctx)
		}
		h.ServeHTTP(w, r)
	})
}

// authenticate finds the token of the request: the Authorization header,
// or on streams (browsers' EventSource cannot send headers) the
// access_token parameter.
func (s *Server) authenticate(r *http.Request, stream bool) (*presence.Token, error) {
	secret, err := bearer(r)
	if err != nil {
		return nil, err
	}
	if secret == "" && stream {
		secret = r.URL.Query().Get("access_token")
	}
	if secret == "" {
		return nil, presence.Errorf(presence.EUNAUTHORIZED, "Send a token: Authorization: Bearer <token>.")
	}
	if s.TokenService == nil {
		return nil, presence.Errorf(presence.EUNAUTHORIZED, "This server has no token service; no token is valid.")
	}
	return s.TokenService.Authenticate(r.Context(), secret)
}

func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", nil
	}
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return "", presence.Errorf(presence.EUNAUTHORIZED, "The Authorization header must be: Bearer <token>.")
	}
	return strings.TrimSpace(secret), nil
}

// authorize checks the token's scope, and the agent the request acts on
// for agent-bound tokens.
func (s *Server) authorize(r *http.Request, ru rule, tok *presence.Token) error {
	if !tok.Has(ru.scope) {
		return presence.Errorf(presence.EFORBIDDEN, "This token lacks the scope %s.", ru.scope)
	}
	if ru.target.unbound && tok.Bound() {
		return presence.Errorf(presence.EFORBIDDEN, "This token is bound to agent %q; this route needs a token bound to no agent.", *tok.AgentID)
	}
	if ru.target.global || (ru.scope == presence.ScopeRead && tok.ReadsAll()) || !tok.Bound() {
		return nil
	}
	var ids []string
	if ru.target.agents != nil {
		var err error
		if ids, err = ru.target.agents(s, r); err != nil {
			return err
		}
	}
	if len(ids) == 0 {
		return presence.Errorf(presence.EFORBIDDEN, "This token is bound to agent %q; it may not act on every agent.", *tok.AgentID)
	}
	for _, id := range ids {
		if !tok.MayAct(ru.scope, id) {
			if ru.target.hidden != nil {
				return ru.target.hidden(r)
			}
			return presence.Errorf(presence.EFORBIDDEN, "This token is bound to agent %q; it may not act on agent %q.", *tok.AgentID, id)
		}
	}
	return nil
}

// AuthorizeTopic says whether the token of an authorized request may
// subscribe to the topic pattern t: EFORBIDDEN if not. The SSE broker asks
// it for every topic of a stream (sse.Config.Authorize).
func AuthorizeTopic(r *http.Request, t presence.Topic) error {
	tok := presence.TokenFromContext(r.Context())
	if tok == nil {
		return presence.Errorf(presence.EUNAUTHORIZED, "Send a token: Authorization: Bearer <token> or ?access_token=.")
	}
	if !tok.MayReadTopic(t) {
		return presence.Errorf(presence.EFORBIDDEN, "This token may not read topic %q.", t.String())
	}
	return nil
}

// authorizeTopics checks a channel's topic list against the request's
// token. Topics that do not parse are left to the service to refuse.
func authorizeTopics(r *http.Request, topics []string) error {
	for _, v := range topics {
		if t, err := presence.ParseTopic(v, true); err == nil {
			if err := AuthorizeTopic(r, t); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) maxStreams() int {
	if s.Security.MaxStreamsPerToken > 0 {
		return s.Security.MaxStreamsPerToken
	}
	return DefaultMaxStreamsPerToken
}

// ObserveEvent lets the server act on committed events; the node calls it
// for every event it reads from the log, on every node. A token's
// revocation ends its open streams here.
func (s *Server) ObserveEvent(ev presence.Event) {
	if ev.Topic != presence.TopicAdmin {
		return
	}
	var body struct{ Action, Type, ID string }
	if json.Unmarshal(ev.Body, &body) == nil && body.Action == presence.AuditRevoke && body.Type == "token" {
		s.auth.streams.end(body.ID)
	}
}

// authState is the per-node state of the guard.
type authState struct {
	limits  limiters
	streams streamRegistry
}

// limiters holds one token bucket per token and bucket name.
type limiters struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// allow takes one request from the bucket; when it is empty it returns
// the seconds to wait (at least 1) and false.
func (l *limiters) allow(tokenID, bucket string, perSecond float64) (int, bool) {
	if perSecond <= 0 {
		return 0, true
	}
	key := tokenID + "\x00" + bucket
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*rate.Limiter)
	}
	lim := l.m[key]
	if lim == nil {
		burst := max(1, int(math.Ceil(2*perSecond)))
		lim = rate.NewLimiter(rate.Limit(perSecond), burst)
		l.m[key] = lim
	}
	l.mu.Unlock()
	now := time.Now()
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return max(1, int(math.Ceil(d.Seconds()))), false
	}
	return 0, true
}

// streamRegistry counts the open streams of each token and ends them when
// the token is revoked or expires.
type streamRegistry struct {
	mu      sync.Mutex
	byToken map[string]map[*context.CancelFunc]struct{}
}

// enter registers a stream of tokenID; done unregisters it. ERATELIMIT
// when the token holds max streams already. A token that expires has its
// stream ended then, as a revocation would (no event: the client
// reconnects and gets 401 token_expired).
func (sr *streamRegistry) enter(parent context.Context, tokenID string, expires *time.Time, max int) (context.Context, func(), error) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if sr.byToken == nil {
		sr.byToken = make(map[string]map[*context.CancelFunc]struct{})
	}
	set := sr.byToken[tokenID]
	if len(set) >= max {
		return nil, nil, presence.ReasonErrorf(presence.ERATELIMIT, "too_many_streams",
			"This token has %d streams open on this node, the most it may; close one.", len(set))
	}
	if set == nil {
		set = make(map[*context.CancelFunc]struct{})
		sr.byToken[tokenID] = set
	}
	ctx, cancel := context.WithCancel(parent)
	key := &cancel
	set[key] = struct{}{}
	stopExpiry := func() bool { return false }
	if expires != nil {
		stopExpiry = time.AfterFunc(time.Until(*expires), cancel).Stop
	}
	return ctx, func() {
		stopExpiry()
		cancel()
		sr.mu.Lock()
		defer sr.mu.Unlock()
		delete(sr.byToken[tokenID], key)
		if len(sr.byToken[tokenID]) == 0 {
			delete(sr.byToken, tokenID)
		}
	}, nil
}

// end cancels every open stream of tokenID.
func (sr *streamRegistry) end(tokenID string) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	for c := range sr.byToken[tokenID] {
		(*c)()
	}
}

// outer is what the server serves: the wire checks (conn.go) and CORS
// around the mux, so that preflight requests (OPTIONS, no token) get their
// answer, and paths the mux would redirect refused. observe has bounded
// the body already.
func (s *Server) outer(w http.ResponseWriter, r *http.Request) {
	if err := framingConflict(r); err != nil {
		w.Header().Set("Connection", "close")
		s.Error(w, r, err)
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" && s.corsAllowed(origin) {
		h := w.Header()
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", "ETag, Location, Retry-After, WWW-Authenticate, X-Request-Id")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-None-Match, Last-Event-ID, X-Request-Id")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	if err := canonicalPath(r); err != nil {
		s.Error(w, r, err)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) corsAllowed(origin string) bool {
	for _, o := range s.Security.CORSOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}
