package http

import (
	"net/http"
	"strconv"
	"strings"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/http/handoff"
)

// guard wraps the handler of one route: check the path and query string,
// authenticate, rate-limit (ratelimit.go), authorize, count a stream in
// (streams.go), then serve with the token in the context.
func (s *Server) guard(rt route) http.Handler {
	ru := rt.rule
	api := strings.HasPrefix(rt.pattern[strings.IndexByte(rt.pattern, ' ')+1:], "/v1/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoFrom(r.Context())
		if info != nil { // for the access log and the metrics
			info.route, info.stream = rt.pattern, ru.stream
		}
		if err := checkPathText(r); err != nil {
			s.Error(w, r, err)
			return
		}
		if api {
			if err := checkQuery(r.URL.RawQuery, rt.params); err != nil {
				s.Error(w, r, err)
				return
			}
		}
		if ru.scope == "" || (ru.public != nil && ru.public(s)) {
			rt.serve(s, w, r)
			return
		}
		tok, err := s.authenticate(r, ru)
		if err != nil {
			s.Error(w, r, err)
			return
		}
		if info != nil {
			info.tokenID = tok.ID
		}
		if wait, ok := s.limits.allow(tok.ID, ru.bucket, s.Security.RateLimit); !ok {
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
			ctx, done, err := s.streams.enter(hctx, tok.ID, tok.ExpiresAt, s.maxStreams())
			if err != nil {
				w.Header().Set("Retry-After", "5")
				s.Error(w, r, err)
				return
			}
			defer h.AtEnd(done)
			r = r.WithContext(ctx)
		}
		rt.serve(s, w, r)
	})
}

// authenticate finds the token of the request: the Authorization header,
// or on streams (browsers' EventSource cannot send headers) the
// access_token parameter. A route whose write checks the token itself
// (rule.writeChecksToken) may have it from the node's memory.
func (s *Server) authenticate(r *http.Request, ru rule) (*presence.Token, error) {
	secret, err := bearer(r)
	if err != nil {
		return nil, err
	}
	if secret == "" && ru.stream {
		secret = r.URL.Query().Get("access_token")
	}
	if secret == "" {
		return nil, presence.Errorf(presence.EUNAUTHORIZED, "Send a token: Authorization: Bearer <token>.")
	}
	if s.TokenService == nil {
		return nil, presence.Errorf(presence.EUNAUTHORIZED, "This server has no token service; no token is valid.")
	}
	if ru.writeChecksToken {
		return s.TokenService.AuthenticateForWrite(r.Context(), secret)
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
