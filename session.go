package presence

import (
	"context"
	"time"
)

// Heartbeat defaults, as in Pega's operator presence: a client beats every
// 20 s and may miss 2 beats before it counts as disconnected.
const (
	DefaultHeartbeatInterval   = 20 * time.Second
	DefaultMaxMissedHeartbeats = 2

	// MaxLiveSessions bounds the live (not lost) sessions of one agent, so a
	// client in a login loop cannot grow the table without end.
	MaxLiveSessions = 100
	// MaxClientLength bounds the free-text client name of a session.
	MaxClientLength = 200
)

// Session end reasons, kept on the session for reports.
const (
	SessionEndLogout       = "logout"        // the client, or the last live client, logged out
	SessionEndAgentDeleted = "agent_deleted" // the agent was deleted
)

// Reason codes of the spells and queue leaves that login and logout make.
const (
	ReasonLogin  = "login"
	ReasonLogout = "logout"
)

// HeartbeatPolicy says how often clients beat and how many beats they may
// miss. The zero value means the defaults.
type HeartbeatPolicy struct {
	Interval  time.Duration
	MaxMissed int
}

// DefaultHeartbeatPolicy returns the Pega defaults (20 s, 2 missable).
func DefaultHeartbeatPolicy() HeartbeatPolicy {
	return HeartbeatPolicy{Interval: DefaultHeartbeatInterval, MaxMissed: DefaultMaxMissedHeartbeats}
}

// OrDefault returns p, or the default policy when p is the zero value.
func (p HeartbeatPolicy) OrDefault() HeartbeatPolicy {
	if p == (HeartbeatPolicy{}) {
		return DefaultHeartbeatPolicy()
	}
	return p
}

// Validate checks the policy. At least one beat must be missable: with
// none, a beat that arrives a millisecond late would disconnect a healthy
// client, and the state would flap with network jitter.
func (p HeartbeatPolicy) Validate() error {
	if p.Interval < time.Millisecond {
		return Errorf(EINVALID, "The heartbeat interval must be at least 1ms; got %s.", p.Interval)
	}
	if p.MaxMissed < 1 || p.MaxMissed > 100 {
		return Errorf(EINVALID, "The number of missable heartbeats must be from 1 to 100; got %d.", p.MaxMissed)
	}
	return nil
}

// DeadAfter is the promise: a session that stops beating is declared lost
// at most this long after its last beat, Interval × (MaxMissed + 1).
func (p HeartbeatPolicy) DeadAfter() time.Duration {
	return p.Interval * time.Duration(p.MaxMissed+1)
}

// StaleAfter is the sweeper's threshold: a session whose last beat is older
// is lost. It lies half an interval past the last missable beat, so a
// client that beats on time is never declared lost, and a sweep every
// SweepEvery still finds a silent one within DeadAfter:
// StaleAfter + SweepEvery = Interval × (MaxMissed + ¾) < DeadAfter, which
// leaves a quarter interval for the sweep itself.
func (p HeartbeatPolicy) StaleAfter() time.Duration {
	return p.Interval*time.Duration(p.MaxMissed) + p.Interval/2
}

// SweepEvery is how often the sweeper looks for silent sessions: four times
// per interval (the issue asks for at least twice).
func (p HeartbeatPolicy) SweepEvery() time.Duration { return p.Interval / 4 }

// Session is one logged-in client of an agent (a browser tab, a softphone).
// The agent's connection state is derived from its open sessions: OFFLINE
// (none), DISCONNECTED (every open one is lost), AWAY (every live one is
// idle), ACTIVE (otherwise).
type Session struct {
	ID              string     `json:"session_id"`
	AgentID         string     `json:"agent_id"`
	Client          *string    `json:"client"`
	StartedAt       time.Time  `json:"started_at"`
	LastHeartbeatAt time.Time  `json:"last_heartbeat_at"`
	Idle            bool       `json:"idle"`
	Lost            bool       `json:"lost"` // missed its heartbeats; the next beat clears it
	EndedAt         *time.Time `json:"ended_at"`
	EndReason       *string    `json:"end_reason"`

	// The policy the client must follow, sent back on login.
	HeartbeatIntervalMS int64 `json:"heartbeat_interval_ms"`
	MaxMissedHeartbeats int   `json:"max_missed_heartbeats"`

	// Presence is the agent's record after the login (OpenSession only).
	Presence *Record `json:"presence,omitempty"`
}

// SessionInput opens a session.
type SessionInput struct {
	Client *string `json:"client,omitempty"` // free text naming the client, e.g. "desktop-web"
}

// Validate checks a session login.
func (in SessionInput) Validate() error {
	if in.Client != nil {
		return checkText("client", *in.Client, 1, MaxClientLength)
	}
	return nil
}

// SessionService logs clients in and out and takes their heartbeats.
type SessionService interface {
	// OpenSession logs a client of the agent in. The first session of an
	// OFFLINE agent applies the agent's default status (source "system",
	// reason "login"); a further session (a second browser, a refresh)
	// changes nothing. Errors: ENOTFOUND ("agent_not_found"), EINVALID,
	// ECONFLICT ("too_many_sessions").
	OpenSession(ctx context.Context, agentID string, in SessionInput) (*Session, error)

	// Heartbeat records that the client is alive; idle, when given, sets
	// whether its user is idle. It is one cheap UPDATE unless the beat
	// changes the session's flags (idle, or back from lost), which may
	// change the agent's state. Errors: ENOTFOUND ("session_not_found",
	// "session_ended").
	Heartbeat(ctx context.Context, sessionID string, idle *bool) error

	// CloseSession logs the client out. When no live session of the agent
	// is left, the agent is logged out: its lost sessions end too, it
	// leaves every queue (reason "logout"), and its current spell ends and
	// one in the built-in offline status opens (source "system").
	// Errors: ENOTFOUND ("session_not_found", "session_ended").
	CloseSession(ctx context.Context, sessionID string) error

	// FindSession returns a session, open or ended. ENOTFOUND.
	FindSession(ctx context.Context, sessionID string) (*Session, error)

	// FindSessions returns the agent's open sessions, oldest first.
	// ENOTFOUND ("agent_not_found").
	FindSessions(ctx context.Context, agentID string) ([]*Session, error)

	// HeartbeatPolicy is the policy clients are told to follow.
	HeartbeatPolicy() HeartbeatPolicy
}

// SessionAgentFinder finds the agent a session belongs to, so that routes
// keyed by session id can be authorized for agent-bound tokens. The
// sessions service implements it. ENOTFOUND for an unknown session.
type SessionAgentFinder interface {
	SessionAgent(ctx context.Context, sessionID string) (agentID string, err error)
}
