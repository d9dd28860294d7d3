// Package db implements the presence services on PostgreSQL with pgx and the
// sqlc-generated queries in db/internal/dbsqlc (from queries/*.sql). It and
// the packages under it are the only ones that speak SQL (db/clause compiles
// the clause query into a condition that db runs); it converts sqlc rows to
// domain types at its boundary and translates driver errors into presence
// errors. db/schema.sql is the schema the migrations build, for reading.
package db

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

// DB is a connection pool to the presenced database and the services on it.
type DB struct {
	URL    string
	Logger *slog.Logger
	// MaxConns sets the pool size. Zero: pool_max_conns from URL when it
	// is there, else DefaultMaxConns().
	MaxConns int32
	// Heartbeats is the session heartbeat policy (zero: 20 s, 2 missable).
	Heartbeats presence.HeartbeatPolicy
	// ListenURL, when set, is where the event listener and the migrations
	// connect instead of URL: straight to the primary, when URL leads
	// through a pooler in transaction mode (PgBouncer), where LISTEN and
	// the migrations' session lock do not work (docs/ha.md).
	ListenURL string
	// StatementMode says how the pool runs statements: StatementPrepare
	// (named prepared statements, cached per connection: the fastest),
	// StatementDescribe, StatementExec or StatementSimple, which prepare
	// no named statement and so work through a pooler in transaction
	// mode. Empty: StatementDescribe when ListenURL is set (a pooler is
	// assumed), else the URL's default_query_exec_mode or StatementPrepare.
	StatementMode string

	// PresenceBatch is the most presence changes that group commit puts
	// in one transaction (db/presencebatch.go). Zero: DefaultPresenceBatch;
	// 1 turns group commit off, so that every change is a transaction of
	// its own.
	PresenceBatch int

	pool   *pgxpool.Pool
	q      *dbsqlc.Queries
	beats  *coalescer[beatRequest, beatResult] // heartbeats that arrive together share one UPDATE
	tokens *coalescer[[]byte, tokenLookup]     // so do token lookups
	known  knownTokens                         // the tokens looked up, for AuthenticateForWrite
	batch  *presenceBatcher                    // presence changes that arrive together share one commit; nil: off

	outage outage // logs an outage once, not per failed request
	// served remembers the events served lately, to find the ones a
	// failover lost (served.go).
	served servedLog
}

// NewDB returns a DB for the given connection URL; call Open before use.
func NewDB(url string) *DB {
	db := &DB{URL: url, Logger: slog.Default(), q: dbsqlc.New()}
	db.beats = newBeatCoalescer(db)
	db.tokens = newTokenCoalescer(db)
	return db
}

// DefaultMaxConns is the pool size of a node unless told otherwise: twice
// the cores, at least 8. pgx's own default (the larger of 4 and the cores)
// starved HTTP writes: every authenticated request looks its token up
// before its change, so on few connections the token reads queue the
// changes behind them (figures in docs/performance.md). A presence change
// is one statement that holds its connection only while it runs, so more
// connections do not hold xids that delay other events.
func DefaultMaxConns() int32 { return int32(max(8, 2*runtime.NumCPU())) }

// Open connects the pool and checks that the database answers.
func (db *DB) Open(ctx context.Context) error {
	if db.URL == "" {
		return fmt.Errorf("db: no database URL")
	}
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		return fmt.Errorf("db: parse database URL: %w", err)
	}
	switch {
	case db.MaxConns > 0:
		cfg.MaxConns = db.MaxConns
	case !strings.Contains(db.URL, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns()
	}
	mode, err := db.statementMode()
	if err != nil {
		return err
	}
	if mode != nil {
		cfg.ConnConfig.DefaultQueryExecMode = *mode
	}
	cfg.ConnConfig.DialFunc = dialer().DialContext
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// A primary that is gone without a word (a dead machine, not a
		// refused port) must not hold a request for the OS's TCP timeout.
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	// Timestamps leave the database in UTC whatever the server's zone.
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	cfg.ConnConfig.RuntimeParams["application_name"] = "presenced"
	if db.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return fmt.Errorf("db: open pool: %w", err)
	}
	if err := db.pool.Ping(ctx); err != nil {
		db.pool.Close()
		return fmt.Errorf("db: connect: %w", err)
	}
	// The spells' overlap trigger refuses to check at REPEATABLE READ
	// (migrations/00023): with that default every presence change would
	// fail, so say it once, here.
	var isolation string
	if err := db.pool.QueryRow(ctx, "SHOW default_transaction_isolation").Scan(&isolation); err != nil {
		db.pool.Close()
		return fmt.Errorf("db: connect: %w", err)
	}
	if isolation == "repeatable read" {
		db.pool.Close()
		return errors.New("db: default_transaction_isolation is repeatable read; presenced needs read committed " +
			"(or serializable): spells are checked for overlaps by a trigger that is sound only there")
	}
	switch {
	case db.PresenceBatch < 0:
		db.pool.Close()
		return fmt.Errorf("db: PresenceBatch %d: want 0 (the default, %d) or more", db.PresenceBatch, DefaultPresenceBatch)
	case db.PresenceBatch != 1:
		db.batch = newPresenceBatcher(db, cmp.Or(db.PresenceBatch, DefaultPresenceBatch))
		db.batch.open()
	}
	return nil
}

// Statement modes (DB.StatementMode).
const (
	StatementPrepare  = "prepare"  // pgx's cache_statement
	StatementDescribe = "describe" // pgx's cache_describe
	StatementExec     = "exec"     // pgx's exec
	StatementSimple   = "simple"   // pgx's simple_protocol
)

// DefaultConnectTimeout bounds one connection attempt to one host when the
// URL sets no connect_timeout.
const DefaultConnectTimeout = 3 * time.Second

// statementMode returns the exec mode StatementMode asks for, nil for the
// URL's or pgx's default.
func (db *DB) statementMode() (*pgx.QueryExecMode, error) {
	m := db.StatementMode
	if m == "" && db.ListenURL != "" && db.ListenURL != db.URL && !strings.Contains(db.URL, "default_query_exec_mode") {
		m = StatementDescribe
	}
	var mode pgx.QueryExecMode
	switch m {
	case "":
		return nil, nil
	case StatementPrepare:
		mode = pgx.QueryExecModeCacheStatement
	case StatementDescribe:
		mode = pgx.QueryExecModeCacheDescribe
	case StatementExec:
		mode = pgx.QueryExecModeExec
	case StatementSimple:
		mode = pgx.QueryExecModeSimpleProtocol
	default:
		return nil, fmt.Errorf("db: statement mode %q: want prepare, describe, exec or simple", m)
	}
	return &mode, nil
}

// Close stops group commit, waiting for the batch in flight, and closes
// the pool.
func (db *DB) Close() error {
	if db.batch != nil {
		db.batch.close()
	}
	if db.pool != nil {
		db.pool.Close()
	}
	return nil
}

// PoolStat returns the statistics of the connection pool, for the metrics.
func (db *DB) PoolStat() *pgxpool.Stat { return db.pool.Stat() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.pool.Ping(ctx) }

// inTx runs fn in one transaction; a returned error rolls it back.
func (db *DB) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return db.runTx(ctx, false, fn)
}

// inAuditedTx is inTx for the actions the audit trail records (deletes,
// restores, releases, token creation and revocation): it first hands the
// acting token to the audit triggers. That costs a round trip, so the
// other transactions — presence changes, sessions, work — do not pay it.
func (db *DB) inAuditedTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return db.runTx(ctx, true, fn)
}

func (db *DB) runTx(ctx context.Context, audited bool, fn func(tx pgx.Tx) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return interpretError(err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // no-op after Commit
	if audited {
		if err := db.setActor(ctx, tx); err != nil {
			return interpretError(err)
		}
	}
	if err := fn(tx); err != nil {
		return interpretError(err)
	}
	return interpretError(tx.Commit(ctx))
}

// setActor hands the acting token of ctx (presence.WithToken) to the
// audit triggers for this transaction only: set_config(..., true) ends
// with the transaction, so a pooled connection carries nothing over.
func (db *DB) setActor(ctx context.Context, tx pgx.Tx) error {
	if t := presence.TokenFromContext(ctx); t != nil {
		return db.q.TxSetActor(ctx, tx, t.ID)
	}
	return nil
}

// interpretError turns driver errors into presence errors where the meaning
// is known (river's interpretError): no rows → not found, unique and
// exclusion violations → conflict, check violations → invalid. Anything
// else stays as it is and becomes an internal error at the edge.
func interpretError(err error) error {
	if err == nil {
		return nil
	}
	var perr *presence.Error
	if errors.As(err, &perr) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return presence.Errorf(presence.ENOTFOUND, "Not found.")
	}
	if isUnavailable(err) {
		return presence.Errorf(presence.EUNAVAILABLE, "The database is unreachable; retry shortly.")
	}
	if pgErr := asPgError(err); pgErr != nil {
		switch pgErr.Code {
		case "23505": // unique_violation
			return presence.Errorf(presence.ECONFLICT, "Conflicts with an existing record (%s).", pgErr.ConstraintName)
		case "23P01": // exclusion_violation
			return presence.Errorf(presence.ECONFLICT, "Conflicts with another spell of the agent (%s).", pgErr.ConstraintName)
		case "23514", "23503", "22001": // check, foreign key, string too long
			return presence.Errorf(presence.EINVALID, "A value breaks a rule (%s).", pgErr.ConstraintName)
		case "22021": // character_not_in_repertoire: a NUL or invalid UTF-8 in a parameter
			return presence.Errorf(presence.EBADREQUEST, "A value is not valid text (invalid UTF-8 or a NUL character).")
		case "40001", "40P01": // serialization failure, deadlock
			return presence.Errorf(presence.EUNAVAILABLE, "The change collided with another one; retry.")
		}
	}
	return err
}
