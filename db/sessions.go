package db

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

var _ presence.SessionService = (*DB)(nil)

func (db *DB) sessionFromRow(r dbsqlc.Session) *presence.Session {
	p := db.HeartbeatPolicy()
	return &presence.Session{
		ID: r.ID, AgentID: r.AgentID, Client: r.Client,
		StartedAt: r.StartedAt, LastHeartbeatAt: r.LastBeatAt,
		Idle: r.Idle, Lost: r.Lost, EndedAt: r.EndedAt, EndReason: r.EndReason,
		HeartbeatIntervalMS: p.Interval.Milliseconds(), MaxMissedHeartbeats: p.MaxMissed,
	}
}

// HeartbeatPolicy implements presence.SessionService.
func (db *DB) HeartbeatPolicy() presence.HeartbeatPolicy { return db.Heartbeats.OrDefault() }

// OpenSession implements presence.SessionService.
func (db *DB) OpenSession(ctx context.Context, agentID string, in presence.SessionInput) (*presence.Session, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var s *presence.Session
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		agent, err := db.lockAgent(ctx, tx, agentID)
		if err != nil {
			return err
		}
		open, err := db.q.SessionCountOpen(ctx, tx, agentID)
		if err != nil {
			return err
		}
		if open == 0 {
			// The first session of an OFFLINE agent: the default status.
			// It is applied before the session is written, so the state
			// event that the session makes carries the final record.
			if err := db.applyStatus(ctx, tx, agentID, agent.DefaultStatus, presence.ReasonLogin); err != nil {
				return err
			}
		} else {
			live, err := db.q.SessionCountLive(ctx, tx, agentID)
			if err != nil {
				return err
			}
			if live >= presence.MaxLiveSessions {
				return presence.ReasonErrorf(presence.ECONFLICT, "too_many_sessions",
					"Agent %q has %d live sessions, the most allowed; log one out first.", agentID, live)
			}
		}
		row, err := db.q.SessionOpen(ctx, tx, dbsqlc.SessionOpenParams{AgentID: agentID, Client: in.Client})
		if err != nil {
			return err
		}
		s = db.sessionFromRow(row)
		s.Presence, err = db.presenceOf(ctx, tx, agentID)
		return err
	})
	return s, err
}

// applyStatus moves the agent to a status by a lifecycle rule (source
// system) unless it is in that status already; an agent in it keeps its
// spell, message and reason. The caller holds the agent's row lock.
func (db *DB) applyStatus(ctx context.Context, tx pgx.Tx, agentID, statusID, reason string) error {
	cur, err := db.q.SpellGetCurrent(ctx, tx, agentID)
	if err == nil && cur.StatusID == statusID {
		return nil
	} else if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	return db.changePresence(ctx, tx, agentID, presence.PresenceChange{
		Status: statusID, Source: presence.SourceSystem, ReasonCode: &reason})
}

// Heartbeat implements presence.SessionService. The fast path is one
// statement outside any explicit transaction, shared with the beats that
// arrive at the same time (see SessionBeatMany and newBeatCoalescer); only a
// beat that changes the session's flags takes the agent's lock.
func (db *DB) Heartbeat(ctx context.Context, sessionID string, idle *bool) error {
	res := db.beats.call(ctx, beatRequest{id: sessionID, idle: idle})
	if res.err != nil {
		return interpretError(res.err)
	}
	if res.ok {
		return nil
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := db.openSession(ctx, tx, sessionID)
		if err != nil {
			return err
		}
		if _, err := db.lockAgent(ctx, tx, cur.AgentID); err != nil {
			return err
		}
		_, err = db.q.SessionBeatChange(ctx, tx, dbsqlc.SessionBeatChangeParams{ID: sessionID, Idle: idle})
		if errors.Is(err, pgx.ErrNoRows) { // logged out while we waited for the lock
			return sessionEnded(sessionID)
		}
		return err
	})
}

// CloseSession implements presence.SessionService.
func (db *DB) CloseSession(ctx context.Context, sessionID string) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := db.openSession(ctx, tx, sessionID)
		if err != nil {
			return err
		}
		if _, err := db.lockAgent(ctx, tx, cur.AgentID); err != nil {
			return err
		}
		reason := presence.SessionEndLogout
		_, err = db.q.SessionEnd(ctx, tx, dbsqlc.SessionEndParams{ID: sessionID, EndReason: &reason})
		if errors.Is(err, pgx.ErrNoRows) {
			return sessionEnded(sessionID)
		} else if err != nil {
			return err
		}
		live, err := db.q.SessionCountLive(ctx, tx, cur.AgentID)
		if err != nil || live > 0 {
			return err
		}
		// The last live client logged out: the agent logs out. Sessions
		// that went silent (a refreshed-away tab, a crashed browser) end
		// with it, or the agent would stay DISCONNECTED for ever; a client
		// whose network returns later is told its session ended.
		return db.logOutAgent(ctx, tx, cur.AgentID, presence.SessionEndLogout)
	})
}

// logOutAgent ends the agent's open sessions and queue stays and, unless
// the agent is being deleted, opens a spell in the offline status so that
// reports show the offline time. The order makes the last event of the
// transaction carry the final record: state, then routing, then presence.
// The caller holds the agent's row lock.
func (db *DB) logOutAgent(ctx context.Context, tx pgx.Tx, agentID, endReason string) error {
	if _, err := db.q.SessionEndAllOfAgent(ctx, tx, dbsqlc.SessionEndAllOfAgentParams{AgentID: agentID, EndReason: &endReason}); err != nil {
		return err
	}
	leaveReason := presence.ReasonLogout
	if endReason == presence.SessionEndAgentDeleted {
		leaveReason = presence.SessionEndAgentDeleted
	}
	if _, err := db.q.QueueMembershipLeave(ctx, tx, dbsqlc.QueueMembershipLeaveParams{AgentID: agentID, ReasonCode: &leaveReason}); err != nil {
		return err
	}
	if endReason == presence.SessionEndAgentDeleted {
		return nil // DeleteAgent ends the spell itself and opens none
	}
	return db.applyStatus(ctx, tx, agentID, presence.StatusOffline, presence.ReasonLogout)
}

// FindSession implements presence.SessionService.
func (db *DB) FindSession(ctx context.Context, sessionID string) (*presence.Session, error) {
	row, err := db.q.SessionGetByID(ctx, db.pool, sessionID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, sessionNotFound(sessionID)
	} else if err != nil {
		return nil, interpretError(err)
	}
	return db.sessionFromRow(row), nil
}

// FindSessions implements presence.SessionService.
func (db *DB) FindSessions(ctx context.Context, agentID string) ([]*presence.Session, error) {
	var out []*presence.Session
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		a, err := db.q.AgentGetByID(ctx, tx, agentID)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && a.DeletedAt != nil) {
			return agentNotFound(agentID)
		} else if err != nil {
			return err
		}
		rows, err := db.q.SessionListOpen(ctx, tx, agentID)
		if err != nil {
			return err
		}
		out = make([]*presence.Session, len(rows))
		for i, r := range rows {
			out[i] = db.sessionFromRow(r)
		}
		return nil
	})
	return out, err
}

// openSession returns an open session, or ENOTFOUND naming why not.
func (db *DB) openSession(ctx context.Context, q dbsqlc.DBTX, id string) (dbsqlc.Session, error) {
	row, err := db.q.SessionGetByID(ctx, q, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return row, sessionNotFound(id)
	} else if err != nil {
		return row, err
	}
	if row.EndedAt != nil {
		return row, sessionEnded(id)
	}
	return row, nil
}

func sessionNotFound(id string) error {
	return presence.ReasonErrorf(presence.ENOTFOUND, "session_not_found", "Session %q does not exist.", truncate(id, 80))
}

func sessionEnded(id string) error {
	return presence.ReasonErrorf(presence.ENOTFOUND, "session_ended", "Session %q has ended; open a new session.", truncate(id, 80))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// SessionAgent implements presence.SessionAgentFinder: the auth layer asks
// whose session a {sid} route acts on. ENOTFOUND for an unknown session.
func (db *DB) SessionAgent(ctx context.Context, sessionID string) (string, error) {
	s, err := db.FindSession(ctx, sessionID)
	if err != nil {
		return "", err
	}
	return s.AgentID, nil
}
