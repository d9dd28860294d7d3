package db

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

var (
	_ presence.TokenService = (*DB)(nil)
	_ presence.AuditLog     = (*DB)(nil)
)

// TokenPrefix starts every secret presenced makes, so that secret scanners
// and people recognise one in a log or a repository.
const TokenPrefix = "pdk_"

// maxSecretLength bounds what Authenticate hashes: anything longer is not
// one of ours.
const maxSecretLength = 512

// firstStartLockKey serialises the first-start admin token between nodes
// that start at once on an empty database.
const firstStartLockKey = 0x70726573656e6301 // "presenc" 1

// newSecret returns TokenPrefix and 256 random bits in base64url.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// hashSecret is how a secret is stored and looked up. SHA-256, not a slow
// password hash: the secrets are random (256 bits for ours, 32 characters
// or more for an operator's), so there is nothing to guess, and every
// request pays for the hash.
func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func tokenFromRow(r dbsqlc.Token) *presence.Token {
	return &presence.Token{
		ID: r.ID, Name: r.Name, Scopes: r.Scopes, AgentID: r.AgentID,
		CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy, RevokedAt: r.RevokedAt, ExpiresAt: r.ExpiresAt,
	}
}

func tokenParams(in presence.TokenInput, hash []byte) dbsqlc.TokenCreateParams {
	return dbsqlc.TokenCreateParams{Name: deref(in.Name, ""), SecretHash: hash, Scopes: in.Scopes, AgentID: in.AgentID,
		ExpiresAt: in.Expiry()}
}

// CreateToken implements presence.TokenService.
func (db *DB) CreateToken(ctx context.Context, in presence.TokenInput) (*presence.Token, string, error) {
	if err := in.Validate(); err != nil {
		return nil, "", err
	}
	secret := newSecret()
	var t *presence.Token
	err := db.inAuditedTx(ctx, func(tx pgx.Tx) error {
		if in.AgentID != nil {
			a, err := db.q.AgentGetByID(ctx, tx, *in.AgentID)
			if errors.Is(err, pgx.ErrNoRows) || (err == nil && a.DeletedAt != nil) {
				return presence.ReasonErrorf(presence.EINVALID, "agent_not_found",
					"agent_id %q names no agent; create the agent first.", *in.AgentID)
			} else if err != nil {
				return err
			}
		}
		row, err := db.q.TokenCreate(ctx, tx, tokenParams(in, hashSecret(secret)))
		t = tokenFromRow(row)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return t, secret, nil
}

// EnsureToken implements presence.TokenService.
func (db *DB) EnsureToken(ctx context.Context, secret string, in presence.TokenInput) (*presence.Token, error) {
	if len(secret) < presence.MinSecretLength || len(secret) > maxSecretLength {
		return nil, presence.Errorf(presence.EINVALID,
			"A token secret must be %d to %d characters (e.g. openssl rand -hex 32).", presence.MinSecretLength, maxSecretLength)
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	hash := hashSecret(secret)
	var t *presence.Token
	err := db.inAuditedTx(ctx, func(tx pgx.Tx) error {
		p := tokenParams(in, hash)
		if err := db.q.TokenEnsure(ctx, tx, dbsqlc.TokenEnsureParams{Name: p.Name, SecretHash: p.SecretHash, Scopes: p.Scopes, AgentID: p.AgentID}); err != nil {
			return err
		}
		row, err := db.q.TokenGetByHash(ctx, tx, hash)
		t = tokenFromRow(row)
		return err
	})
	return t, err
}

// CreateFirstAdminToken creates an admin token unless a live one exists,
// and returns it with its secret; it returns nil when one exists. Nodes
// that start at once on an empty database make one between them.
func (db *DB) CreateFirstAdminToken(ctx context.Context, name string) (*presence.Token, string, error) {
	secret := newSecret()
	var t *presence.Token
	err := db.inAuditedTx(ctx, func(tx pgx.Tx) error {
		if err := db.q.AdvisoryXactLock(ctx, tx, firstStartLockKey); err != nil {
			return err
		}
		n, err := db.q.TokenCountLiveAdmin(ctx, tx)
		if err != nil || n > 0 {
			return err
		}
		row, err := db.q.TokenCreate(ctx, tx, dbsqlc.TokenCreateParams{
			Name: name, SecretHash: hashSecret(secret), Scopes: []string{presence.ScopeAdmin}})
		t = tokenFromRow(row)
		return err
	})
	if err != nil || t == nil {
		return nil, "", err
	}
	return t, secret, nil
}

// FindTokens implements presence.TokenService.
func (db *DB) FindTokens(ctx context.Context, f presence.TokenFilter) ([]*presence.Token, string, error) {
	c, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(f.Limit)
	rows, err := db.q.TokenList(ctx, db.pool, dbsqlc.TokenListParams{AfterAt: c.At, AfterID: c.ID, MaxRows: int32(limit)})
	if err != nil {
		return nil, "", interpretError(err)
	}
	out := make([]*presence.Token, len(rows))
	for i, r := range rows {
		out[i] = tokenFromRow(r)
	}
	return out, nextCursor(len(rows), limit, func() cursor {
		last := rows[len(rows)-1]
		return cursor{ID: last.ID, At: last.CreatedAt}
	}), nil
}

// RevokeToken implements presence.TokenService. The revocation writes an
// event on the admin topic; every node ends the token's open streams when
// it reads it, and every request looks the token up (a presence change's
// write checks it: AuthenticateForWrite), so it fails at once.
func (db *DB) RevokeToken(ctx context.Context, id string) error {
	return db.inAuditedTx(ctx, func(tx pgx.Tx) error {
		_, err := db.q.TokenRevoke(ctx, tx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return presence.ReasonErrorf(presence.ENOTFOUND, "token_not_found", "Token %q does not exist.", id)
		}
		return err
	})
}

// Authenticate implements presence.TokenService. It costs one index probe
// per request and answers from no cache, so that a revocation is effective
// at once on every node.
func (db *DB) Authenticate(ctx context.Context, secret string) (*presence.Token, error) {
	if secret == "" || len(secret) > maxSecretLength {
		return nil, errBadToken
	}
	return db.authenticate(ctx, hashSecret(secret))
}

// AuthenticateForWrite implements presence.TokenService. A token this node
// has looked up before is answered from what it learnt then, without a
// round trip: its scopes, agent and expiry never change. Its revocation
// does, and the write checks that itself (SetPresence, migrations/00024):
// for a token revoked since, it writes nothing and answers 401.
func (db *DB) AuthenticateForWrite(ctx context.Context, secret string) (*presence.Token, error) {
	if secret == "" || len(secret) > maxSecretLength {
		return nil, errBadToken
	}
	hash := hashSecret(secret)
	if t := db.known.find(hash); t != nil && !t.Expired(time.Now()) {
		return t, nil
	}
	return db.authenticate(ctx, hash) // unknown here, or expired: the lookup says which
}

func (db *DB) authenticate(ctx context.Context, hash []byte) (*presence.Token, error) {
	res := db.tokens.call(ctx, hash)
	row, err := res.row, res.err
	switch {
	case err == nil && !res.found:
		db.outage.ok(db.Logger)
		return nil, errBadToken
	case err != nil && ctx.Err() != nil: // a client that went away is no failure of ours
		return nil, presence.Errorf(presence.EUNAVAILABLE, "The token cannot be checked now; retry later.")
	case err != nil && isUnavailable(err):
		db.outage.fail(db.Logger, err) // logged once per outage
		return nil, presence.Errorf(presence.EUNAVAILABLE, "The token cannot be checked now; retry later.")
	case err != nil:
		db.Logger.Error("token lookup failed", "err", err)
		return nil, presence.Errorf(presence.EUNAVAILABLE, "The token cannot be checked now; retry later.")
	}
	db.outage.ok(db.Logger)
	// The index found the row by equality already; compare again in
	// constant time so that no code path compares secret material early.
	if subtle.ConstantTimeCompare(row.SecretHash, hash) != 1 {
		return nil, errBadToken
	}
	t := tokenFromRow(row)
	if row.RevokedAt != nil {
		db.known.forget(t.ID)
		return nil, errBadToken
	}
	if t.Expired(time.Now()) {
		return nil, presence.ReasonErrorf(presence.EUNAUTHORIZED, "token_expired",
			"The token expired at %s.", t.ExpiresAt.UTC().Format(time.RFC3339))
	}
	db.known.remember(hash, t)
	return t, nil
}

// refusedToken is the answer to a write that found the token of its
// request revoked (migrations/00024): the lookup's 401, and this node
// forgets the token, so that its next request looks it up.
func (db *DB) refusedToken(id *string) error {
	if id != nil {
		db.known.forget(*id)
	}
	return errBadToken
}

// maxKnownTokens bounds the tokens a node remembers; past it, it starts
// again from none (a lookup each relearns one).
const maxKnownTokens = 10_000

// knownTokens is what a node learnt of the live tokens it looked up, by
// the hash of their secret: only what never changes is used from it (see
// AuthenticateForWrite). The map is found by a SHA-256 of the secret, which
// a client cannot choose, so its lookup time tells nothing.
type knownTokens struct {
	mu     sync.Mutex
	byHash map[string]*presence.Token
}

// find returns a copy of the token whose secret hashes to hash, or nil.
func (k *knownTokens) find(hash []byte) *presence.Token {
	k.mu.Lock()
	defer k.mu.Unlock()
	t, ok := k.byHash[string(hash)]
	if !ok {
		return nil
	}
	c := *t
	return &c
}

func (k *knownTokens) remember(hash []byte, t *presence.Token) {
	c := *t
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.byHash == nil || len(k.byHash) >= maxKnownTokens {
		k.byHash = make(map[string]*presence.Token)
	}
	k.byHash[string(hash)] = &c
}

// forget drops the token with this id (a revoked one: rare, so a scan).
func (k *knownTokens) forget(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for h, t := range k.byHash {
		if t.ID == id {
			delete(k.byHash, h)
		}
	}
}

var errBadToken = presence.Errorf(presence.EUNAUTHORIZED, "The token is unknown or revoked.")

// maxTokenLookups is the most token lookups in flight at once. One: while
// it is in flight, the requests that arrive meanwhile (under load, the
// clients whose changes a batch just answered) queue and go together in
// the next. With two, a lookup carried about two requests under the
// presence scenario's 16 clients, and group commit made 8-18 % fewer
// changes a second than with one, at 5-14 % more CPU a change (same-run
// comparisons, docs/performance.md). A lookup is one index probe that
// waits for no lock, so one in flight holds up no request for long.
const maxTokenLookups = 1

// maxTokenBatch bounds the secrets one lookup carries.
const maxTokenBatch = 256

// tokenLookup is a token lookup's answer: the row, when found.
type tokenLookup struct {
	row   dbsqlc.Token
	found bool
	err   error
}

// newTokenCoalescer returns the coalescer that puts the token lookups that
// arrive together into one query. Each request is answered by a lookup
// that began after it arrived (one in flight when it arrives does not
// carry it), so it sees every revocation committed before the request
// came: the promise of SECURITY.md holds as with a lookup of its own.
// Under low load a lookup carries one request and goes at once, as
// before; under load it saves the round trip, which was a fifth of a
// node's CPU per presence change (docs/performance.md).
func newTokenCoalescer(db *DB) *coalescer[[]byte, tokenLookup] {
	return &coalescer[[]byte, tokenLookup]{
		run:        db.lookUpTokens,
		maxBatch:   maxTokenBatch,
		timeout:    30 * time.Second,
		maxLeaders: func() int { return maxTokenLookups },
	}
}

// lookUpTokens finds the tokens of a batch of secret hashes.
func (db *DB) lookUpTokens(ctx context.Context, hashes [][]byte) []tokenLookup {
	out := make([]tokenLookup, len(hashes))
	rows, err := db.q.TokenGetByHashes(ctx, db.pool, hashes)
	if err != nil {
		for i := range out {
			out[i].err = err
		}
		return out
	}
	byHash := make(map[string]dbsqlc.Token, len(rows))
	for _, r := range rows {
		byHash[string(r.SecretHash)] = r
	}
	for i, h := range hashes {
		out[i].row, out[i].found = byHash[string(h)]
	}
	return out
}

// FindAudit implements presence.AuditLog.
func (db *DB) FindAudit(ctx context.Context, f presence.AuditFilter) ([]*presence.AuditEntry, string, error) {
	c, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	if c.N == 0 {
		c.N = 1<<63 - 1
	}
	limit := pageLimit(f.Limit)
	rows, err := db.q.AuditList(ctx, db.pool, dbsqlc.AuditListParams{
		Action: auditText(f.Action), TargetType: auditText(f.TargetType), Actor: auditText(f.ActorTokenID),
		BeforeID: c.N, MaxRows: int32(limit)})
	if err != nil {
		return nil, "", interpretError(err)
	}
	out := make([]*presence.AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = &presence.AuditEntry{ID: r.ID, At: r.At, ActorTokenID: r.Actor, Action: r.Action,
			TargetType: r.TargetType, TargetID: r.TargetID, AgentID: r.AgentID}
	}
	return out, nextCursor(len(rows), limit, func() cursor { return cursor{N: rows[len(rows)-1].ID} }), nil
}

func auditText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
