package presence

import (
	"context"
	"slices"
	"time"
)

// Scopes a token may hold. Admin implies every other scope; ScopeReadAll
// implies ScopeRead.
const (
	// ScopeRead reads presence: every GET and every stream. On an
	// agent-bound token it reads that agent only (its records, its
	// history, its agents.{id}.* topics) and the global lists (statuses,
	// queues).
	ScopeRead = "presence:read"
	// ScopeReadAll reads every agent even on an agent-bound token: an
	// agent's own client that changes only its agent but shows the whole
	// floor. On a token bound to no agent it is the same as ScopeRead.
	ScopeReadAll = "presence:read:all"
	// ScopeWrite changes presence, attributes, sessions, queue membership
	// and work; an agent-bound token only for its own agent.
	ScopeWrite = "presence:write"
	// ScopeAdmin is everything, including agent and status definitions,
	// deletes, restores, releases, tokens and the audit log. An admin token
	// cannot be bound to an agent.
	ScopeAdmin = "admin"
)

// Scopes lists the valid scopes.
var Scopes = []string{ScopeRead, ScopeReadAll, ScopeWrite, ScopeAdmin}

// Token is an API credential as stored: never its secret, which is shown
// once at creation and kept only as a hash.
type Token struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	AgentID   *string    `json:"agent_id"` // the agent it is bound to; nil for none
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy *string    `json:"created_by"` // the id of the token that created it; nil from the command line
	RevokedAt *time.Time `json:"revoked_at"`
	ExpiresAt *time.Time `json:"expires_at"` // from then on the token is refused; nil: never
}

// Expired reports whether t has expired at now.
func (t *Token) Expired(now time.Time) bool {
	return t != nil && t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}

// TokenInput asks for a new token.
type TokenInput struct {
	Scopes  []string `json:"scopes"`
	AgentID *string  `json:"agent_id,omitempty"`
	Name    *string  `json:"name,omitempty"`
	// ExpiresAt is when the token stops working, RFC 3339 (a string here
	// so that a malformed one is a 422 naming the field); nil: never.
	ExpiresAt *string `json:"expires_at,omitempty"`
}

// Expiry returns ExpiresAt parsed: nil when unset or malformed (Validate
// refuses a malformed one).
func (in *TokenInput) Expiry() *time.Time {
	if in.ExpiresAt == nil {
		return nil
	}
	t, err := time.Parse(time.RFC3339, *in.ExpiresAt)
	if err != nil {
		return nil
	}
	return &t
}

// Validate checks a token request: at least one known scope, a valid agent
// id, no agent-bound admin token, a name of at most MaxNameLength
// characters, an expiry in RFC 3339 that is in the future. It folds
// duplicate scopes and sorts them. Whether the agent exists is the
// TokenService's to check.
func (in *TokenInput) Validate() error {
	if len(in.Scopes) == 0 {
		return Errorf(EINVALID, "scopes must hold at least one of %v.", Scopes)
	}
	for _, s := range in.Scopes {
		if !slices.Contains(Scopes, s) {
			return ReasonErrorf(EINVALID, "unknown_scope", "Scope %q is not one of %v.", truncate(s, 80), Scopes)
		}
	}
	in.Scopes = slices.Compact(slices.Sorted(slices.Values(in.Scopes)))
	if in.AgentID != nil {
		if err := checkID("agent_id", *in.AgentID); err != nil {
			return err
		}
		if slices.Contains(in.Scopes, ScopeAdmin) {
			return Errorf(EINVALID, "An admin token cannot be bound to an agent.")
		}
	}
	if in.ExpiresAt != nil {
		t, err := time.Parse(time.RFC3339, *in.ExpiresAt)
		if err != nil {
			return ReasonErrorf(EINVALID, "invalid_expires_at", "expires_at %q must be an RFC 3339 time, e.g. 2030-01-31T18:00:00Z.", truncate(*in.ExpiresAt, 80))
		}
		if !t.After(time.Now()) {
			return ReasonErrorf(EINVALID, "invalid_expires_at", "expires_at %s is not in the future.", *in.ExpiresAt)
		}
	}
	if in.Name != nil {
		return checkText("name", *in.Name, 0, MaxNameLength)
	}
	return nil
}

// TokenFilter pages the token list.
type TokenFilter struct {
	Cursor string
	Limit  int
}

// TokenService stores tokens. Creating and revoking one is audited with
// the acting token of the context (WithToken).
type TokenService interface {
	// CreateToken creates a token with a fresh random secret and returns
	// it with that secret, which is not stored and cannot be shown again.
	// EINVALID, also for an agent_id that names no (live) agent.
	CreateToken(ctx context.Context, in TokenInput) (*Token, string, error)

	// EnsureToken stores a token whose secret the operator chose (the
	// bootstrap admin token), unless one with that secret exists already,
	// and returns it. A revoked one stays revoked. EINVALID for a short
	// secret.
	EnsureToken(ctx context.Context, secret string, in TokenInput) (*Token, error)

	// FindTokens lists tokens, revoked ones included, oldest first.
	FindTokens(ctx context.Context, f TokenFilter) ([]*Token, string, error)

	// RevokeToken revokes a token at once, on every node. ENOTFOUND.
	// Revoking a revoked token changes nothing.
	RevokeToken(ctx context.Context, id string) error

	// Authenticate returns the live token whose secret this is.
	// EUNAUTHORIZED when there is none or it is revoked; with the reason
	// token_expired when it has expired.
	Authenticate(ctx context.Context, secret string) (*Token, error)

	// AuthenticateForWrite is Authenticate for a request whose write
	// checks, in its own statement, that the token is not revoked (a
	// presence change: PresenceService.SetPresence with the token in its
	// context): it may answer from what this node learnt of the token
	// before, whose scopes, agent and expiry never change.
	AuthenticateForWrite(ctx context.Context, secret string) (*Token, error)
}

// MinSecretLength bounds operator-chosen secrets from below: 32 characters
// of a random hex or base64 string carry 128 bits or more.
const MinSecretLength = 32

// Has reports whether t holds scope, directly or through a wider one.
func (t *Token) Has(scope string) bool {
	if t == nil {
		return false
	}
	for _, s := range t.Scopes {
		if s == scope || s == ScopeAdmin || (s == ScopeReadAll && scope == ScopeRead) {
			return true
		}
	}
	return false
}

// Bound reports whether t is bound to an agent.
func (t *Token) Bound() bool { return t != nil && t.AgentID != nil }

// ReadsAll reports whether t may read every agent.
func (t *Token) ReadsAll() bool {
	return t.Has(ScopeReadAll) || (t.Has(ScopeRead) && !t.Bound())
}

// MayAct reports whether t may use scope on agent agentID.
func (t *Token) MayAct(scope, agentID string) bool {
	switch {
	case !t.Has(scope):
		return false
	case scope == ScopeRead && t.ReadsAll():
		return true
	case t.Bound():
		return *t.AgentID == agentID
	}
	return true
}

// MayReadTopic reports whether t may subscribe to the topic pattern tp. An
// agent-bound token without ScopeReadAll reads its own agents.{id}.* topics
// and the statuses topic (definitions, no one's presence); not wildcards
// over agents, queues (their members) or admin.
func (t *Token) MayReadTopic(tp Topic) bool {
	switch {
	case !t.Has(ScopeRead):
		return false
	case t.ReadsAll():
		return true
	case tp.Root == TopicStatuses:
		return true
	case tp.Root == TopicAgents:
		return tp.ID == *t.AgentID
	}
	return false
}

type tokenKey struct{}

// WithToken returns a context that carries the token a request
// authenticated with. The storage layer records its id as the actor of
// audited changes.
func WithToken(ctx context.Context, t *Token) context.Context {
	return context.WithValue(ctx, tokenKey{}, t)
}

// TokenFromContext returns the token of the request, or nil.
func TokenFromContext(ctx context.Context) *Token {
	t, _ := ctx.Value(tokenKey{}).(*Token)
	return t
}
