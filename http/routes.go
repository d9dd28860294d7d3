package http

import (
	"net/http"
	"slices"
	"strconv"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/http/wallboard"
)

// routes is every endpoint of the server, each declared once: its pattern
// as the mux takes it, who may call it (its rule, applied by the guard)
// and the query parameters it takes ("name*": it may be repeated). Under
// /v1 a query string that does not parse, names another parameter or
// repeats one that may not be repeated is 400 (checkQuery), so that no
// typo or trick can widen a filter.
//
// NewServer registers exactly this table, each route behind the guard, so
// no endpoint can be served without its rule. The TestOpenAPI* tests hold
// it equal to http/openapi.json: the same routes, scopes and query
// parameters.
var routes = []route{
	{"GET /healthz", open(), (*Server).handleHealthz, nil},
	{"GET /readyz", open(), (*Server).handleReadyz, nil},

	// Agents: defining them is configuration; an agent-bound token reads
	// only its own agent.
	{"POST /v1/agents", admin(), (*Server).handleAgentCreate, nil},
	{"GET /v1/agents", read(everyAgent), (*Server).handleAgentList, takes("limit", "cursor", "deleted")},
	{"POST /v1/agents/batch", admin(), (*Server).handleAgentBatch, nil},
	{"GET /v1/agents/updated", read(everyAgent), (*Server).handleAgentsUpdated, takes("start", "end", "limit", "cursor")},
	{"GET /v1/agents/deleted", read(everyAgent), (*Server).handleAgentsDeleted, takes("start", "end", "limit", "cursor")},
	{"GET /v1/agents/{id}", read(pathAgent("id")), (*Server).handleAgentGet, nil},
	{"PATCH /v1/agents/{id}", admin(), (*Server).handleAgentPatch, nil},
	{"DELETE /v1/agents/{id}", admin(), (*Server).handleAgentDelete, nil},
	{"POST /v1/agents/{id}/restore", admin(), (*Server).handleAgentRestore, nil},

	// Statuses and queues: reading them is global; changing them is
	// configuration.
	{"GET /v1/statuses", read(global), (*Server).handleStatusList, nil},
	{"POST /v1/statuses", admin(), (*Server).handleStatusCreate, nil},
	{"PATCH /v1/statuses/{id}", admin(), (*Server).handleStatusPatch, nil},
	{"DELETE /v1/statuses/{id}", admin(), (*Server).handleStatusDelete, nil},
	{"PUT /v1/queues/{q}", admin(), (*Server).handleQueuePut, nil},
	{"GET /v1/queues", read(global), (*Server).handleQueueList, takes("limit", "cursor")},
	{"GET /v1/queues/{q}", read(global), (*Server).handleQueueGet, nil},

	// Presence and attributes: an agent-bound token reads and changes only
	// its own agent's.
	{"PUT /v1/agents/{id}/presence", write(pathAgent("id")).checkedByWrite(), (*Server).handlePresencePut, nil},
	{"GET /v1/agents/{id}/presence", read(pathAgent("id")), (*Server).handlePresenceGet, nil},
	{"GET /v1/presence", read(queryAgents("agent")), (*Server).handlePresenceList, takes("agent*", "status", "state", "limit", "cursor")},
	{"POST /v1/presence/query", read(everyAgent), (*Server).handlePresenceQuery, takes("limit", "cursor")},

	{"PUT /v1/agents/{id}/attributes", write(pathAgent("id")), (*Server).handleAttributesPut, nil},
	{"GET /v1/agents/{id}/attributes", read(pathAgent("id")), (*Server).handleAttributesGet, nil},
	// Attribute names may hold "/" (phone/status).
	{"DELETE /v1/agents/{id}/attributes/{category}/{name...}", write(pathAgent("id")), (*Server).handleAttributeDelete, nil},

	// History.
	{"GET /v1/spells", read(queryAgents("agent")), (*Server).handleSpellList, takes("agent", "status", "from", "to", "current", "limit", "cursor")},
	{"GET /v1/spells/updated", read(everyAgent), (*Server).handleSpellsUpdated, takes("start", "end", "limit", "cursor")},
	{"GET /v1/spells/deleted", read(everyAgent), (*Server).handleSpellsDeleted, takes("start", "end", "limit", "cursor")},
	{"GET /v1/spells/{id}", read(spellAgent("id")), (*Server).handleSpellGet, nil},
	{"DELETE /v1/spells/{id}", admin(), (*Server).handleSpellDelete, nil},
	{"POST /v1/spells/{id}/restore", admin(), (*Server).handleSpellRestore, nil},

	// Sessions; heartbeats have a rate-limit bucket of their own.
	{"POST /v1/agents/{id}/sessions", write(pathAgent("id")), (*Server).handleSessionOpen, nil},
	{"GET /v1/agents/{id}/sessions", read(pathAgent("id")), (*Server).handleSessionList, nil},
	{"GET /v1/sessions/{sid}", read(sessionAgent("sid")), (*Server).handleSessionGet, nil},
	{"POST /v1/sessions/{sid}/heartbeat", write(sessionAgent("sid")).inBucket(BucketHeartbeat), (*Server).handleSessionHeartbeat, nil},
	{"DELETE /v1/sessions/{sid}", write(sessionAgent("sid")), (*Server).handleSessionClose, nil},

	// Queue logins and work, by agent.
	{"POST /v1/agents/{id}/queues/{q}/login", write(pathAgent("id")), (*Server).handleQueueLogin, nil},
	{"POST /v1/agents/{id}/queues/logout", write(pathAgent("id")), (*Server).handleQueueLogout, nil},

	{"POST /v1/agents/{id}/work", write(pathAgent("id")), (*Server).handleWorkAssign, nil},
	{"GET /v1/agents/{id}/work", read(pathAgent("id")), (*Server).handleWorkListOpen, nil},
	{"GET /v1/work/{wid}", read(workAgent("wid")), (*Server).handleWorkGet, nil},
	{"DELETE /v1/work/{wid}", write(workAgent("wid")), (*Server).handleWorkClose, nil},
	{"POST /v1/work/{wid}/release", admin(), (*Server).handleWorkRelease, nil},

	// Streams: which topics a token may read is checked per topic
	// (AuthorizeTopic), at connect and when a channel's topics change. A
	// channel is its owner's (and any admin token's): the handlers answer
	// 404 to other tokens (ownChannel).
	{"GET /v1/events", read(global).asStream(), (*Server).handleEvents, takes("topic*", "last_event_id", "access_token")},
	{"POST /v1/channels", read(global), (*Server).handleChannelCreate, nil},
	{"GET /v1/channels/{id}", read(global), (*Server).handleChannelGet, nil},
	{"PUT /v1/channels/{id}/subscriptions", read(global), (*Server).handleChannelSubscriptions, nil},
	{"GET /v1/channels/{id}/events", read(global).asStream(), (*Server).handleChannelEvents, takes("last_event_id", "access_token")},

	// Tokens and audit.
	{"POST /v1/tokens", admin(), (*Server).handleTokenCreate, nil},
	{"GET /v1/tokens", admin(), (*Server).handleTokenList, takes("limit", "cursor")},
	{"DELETE /v1/tokens/{id}", admin(), (*Server).handleTokenRevoke, nil},
	{"GET /v1/audit", admin(), (*Server).handleAuditList, takes("action", "target_type", "actor", "limit", "cursor")},

	// The operator's kit (operations.go) and the wallboard: the page and
	// its script and style sheet hold no data; it comes through authorized
	// fetches and streams.
	{"GET /metrics", read(unbound).publicWhen(func(s *Server) bool { return s.Security.PublicMetrics }), (*Server).handleMetrics, nil},
	{"GET /openapi.json", open(), (*Server).handleOpenAPI, nil},
	{"GET /{$}", open(), serveWith(wallboard.Page()), nil},
	{"GET /wallboard/{file}", open(), serveWith(wallboard.Assets()), nil},

	// What no other route matches: 404, or 405 with Allow.
	{"/", open(), (*Server).handleNotFound, nil},
}

// route is one endpoint; see routes.
type route struct {
	pattern string // "METHOD /path", exactly as registered on the mux
	rule    rule
	serve   func(s *Server, w http.ResponseWriter, r *http.Request)
	params  []string // the query parameters it takes; "name*": repeatable
}

// takes lists the query parameters of a route.
func takes(names ...string) []string { return names }

// serveWith serves a route with a handler that needs nothing of the server.
func serveWith(h http.Handler) func(*Server, http.ResponseWriter, *http.Request) {
	return func(_ *Server, w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }
}

// newMux returns the mux of s with every route registered behind the guard.
func newMux(s *Server) *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.pattern, s.guard(rt))
	}
	return mux
}

// Routes returns the pattern of every route the server serves.
func Routes() []string {
	out := make([]string, len(routes))
	for i, rt := range routes {
		out[i] = rt.pattern
	}
	return out
}

// RouteRule reports the scope a route pattern needs ("" for an open one)
// and whether the server serves it.
func RouteRule(pattern string) (scope string, ok bool) {
	rt, ok := findRoute(pattern)
	return rt.rule.scope, ok
}

// RouteParams returns the query parameters a route pattern takes, as
// declared in routes ("name*" for a repeatable one).
func RouteParams(pattern string) []string {
	rt, _ := findRoute(pattern)
	return slices.Clone(rt.params)
}

func findRoute(pattern string) (route, bool) {
	i := slices.IndexFunc(routes, func(rt route) bool { return rt.pattern == pattern })
	if i < 0 {
		return route{}, false
	}
	return routes[i], true
}

// rule is how one route is authorized (guard.go).
type rule struct {
	scope  string             // "" for an open route
	target target             // the agents the request acts on
	bucket string             // the rate-limit bucket; "" the token's main one
	stream bool               // an SSE stream: ?access_token= accepted, counted per token
	public func(*Server) bool // when it reports true the route is open
	// writeChecksToken: the handler's write checks that the token is not
	// revoked (SetPresence), so the token may be authenticated from the
	// node's memory of it (TokenService.AuthenticateForWrite).
	writeChecksToken bool
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

func (r rule) checkedByWrite() rule { r.writeChecksToken = true; return r }

func (r rule) asStream() rule { r.stream = true; return r }

func (r rule) publicWhen(f func(*Server) bool) rule { r.public = f; return r }

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
