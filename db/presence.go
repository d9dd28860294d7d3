package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

var _ presence.PresenceService = (*DB)(nil)

// SetPresence implements presence.PresenceService. ENOTFOUND for an
// unknown or deleted agent, EINVALID for a bad change or an unknown status.
// The answer is the record that the change left.
//
// With group commit on (the default) the change goes in the next batch
// (db/presencebatch.go); else, and for an agent id that cannot exist, it
// is applied at once.
func (db *DB) SetPresence(ctx context.Context, agentID string, ch presence.PresenceChange) (*presence.Record, error) {
	if err := ch.Validate(); err != nil {
		return nil, err
	}
	if ch.Source == "" {
		ch.Source = presence.SourceManual
	}
	if db.batch != nil && presence.ValidID(agentID) {
		return db.batch.change(ctx, agentID, ch)
	}
	return db.setPresenceNow(ctx, agentID, ch)
}

// setPresenceNow applies a validated change in one statement outside any
// explicit transaction (presence_apply, migrations/00018): one round trip
// that commits as it answers. The answer is the body of the change's
// event, the record in its JSON form, so the record is computed once.
func (db *DB) setPresenceNow(ctx context.Context, agentID string, ch presence.PresenceChange) (*presence.Record, error) {
	token := requestToken(ctx)
	var record []byte
	err := db.pool.QueryRow(ctx, dbsqlc.PresenceApply, presenceChangeArgs(agentID, ch, token)...).Scan(&record)
	db.outage.write(ctx, db.Logger, err, 1)
	if errors.Is(err, pgx.ErrNoRows) && token != nil { // the token was revoked: nothing written
		return nil, db.refusedToken(token)
	} else if err != nil {
		return nil, presenceChangeError(err, agentID, ch)
	}
	rec, err := recordFromJSON(record)
	if err != nil {
		// Written, but this answer cannot say so: a bug, not the
		// client's to retry.
		return nil, fmt.Errorf("presence change: record of %s: %w", agentID, err)
	}
	return rec, nil
}

// changePresence applies ch inside tx for the rules that change presence
// as part of a larger transaction (login, logout, automatic presence from
// work); see presence_change in migrations/00008 for what it does.
func (db *DB) changePresence(ctx context.Context, tx pgx.Tx, agentID string, ch presence.PresenceChange) error {
	if _, err := tx.Exec(ctx, dbsqlc.PresenceApply, presenceChangeArgs(agentID, ch, nil)...); err != nil {
		return presenceChangeError(err, agentID, ch)
	}
	return nil
}

// presenceChangeArgs are the arguments of dbsqlc.PresenceApply, in the
// order of its parameters (PresenceApplyParams). With a token, the change
// is made only while that token is not revoked.
func presenceChangeArgs(agentID string, ch presence.PresenceChange, token *string) []any {
	return []any{agentID, ch.Status, ch.Source, ch.ReasonCode, ch.Message, ch.At, token}
}

// requestToken is the id of the token the request of ctx came with, which
// the change's write checks is not revoked (migrations/00024): a node may
// have authenticated it from memory (AuthenticateForWrite). Nil when there
// is none: a change the server makes itself.
func requestToken(ctx context.Context) *string {
	if t := presence.TokenFromContext(ctx); t != nil {
		return &t.ID
	}
	return nil
}

// The SQLSTATEs presence_change raises (migrations/00008), which are also
// the error codes of presence_change_many's items, with the code of an
// item whose token was revoked (migrations/00024).
const (
	sqlstateAgentNotFound = "PA404"
	sqlstateUnknownStatus = "PA422"
	codeTokenRefused      = "PA401"
)

func presenceChangeError(err error, agentID string, ch presence.PresenceChange) error {
	if pgErr := asPgError(err); pgErr != nil {
		if perr := presenceChangeErrorCode(pgErr.Code, agentID, ch); perr != nil {
			return perr
		}
	}
	return interpretError(err)
}

// presenceChangeErrorCode is the error for a SQLSTATE of presence_change
// (or an item's error_code from presence_change_many), nil for another.
func presenceChangeErrorCode(code, agentID string, ch presence.PresenceChange) error {
	switch code {
	case sqlstateAgentNotFound:
		return agentNotFound(agentID)
	case sqlstateUnknownStatus:
		return unknownStatus(ch.Status)
	}
	return nil
}

// FindPresence implements presence.PresenceService.
func (db *DB) FindPresence(ctx context.Context, agentID string) (*presence.Record, error) {
	return db.presenceOf(ctx, db.pool, agentID)
}

func (db *DB) presenceOf(ctx context.Context, q dbsqlc.DBTX, agentID string) (*presence.Record, error) {
	rec, err := queryRecord(ctx, q, dbsqlc.PresenceGetByAgent, agentID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, agentNotFound(agentID)
	} else if err != nil {
		return nil, interpretError(err)
	}
	return rec, nil
}

// queryRecord runs sql, a query of whole presence_records rows (sqlc's
// text, its parameters in args), and returns the record of the first row
// or pgx.ErrNoRows.
func queryRecord(ctx context.Context, q dbsqlc.DBTX, sql string, args ...any) (*presence.Record, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return oneRecord(rows)
}
