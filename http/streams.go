package http

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	presence "github.com/presenced/presenced"
)

// DefaultMaxStreamsPerToken is the default of Security.MaxStreamsPerToken.
const DefaultMaxStreamsPerToken = 100

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
		s.streams.end(body.ID)
	}
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
