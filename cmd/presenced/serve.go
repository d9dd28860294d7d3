package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/node"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs, ef := newFlagSet("serve [flags]", serveSummary, &cfg, stderr)
	ef.String(&cfg.Addr, "addr", "PRESENCED_ADDR", "127.0.0.1:8080", "address to listen on")
	ef.Duration(&cfg.EventRetention, "event-retention", "PRESENCED_EVENT_RETENTION", 7*24*time.Hour,
		"how long the event log keeps events for resuming streams")
	ef.Duration(&cfg.SpellRetention, "spell-retention", "PRESENCED_SPELL_RETENTION", 0,
		"drop the spells of months that ended longer ago than this, each exported to -spell-archive-dir first (0: keep everything)")
	ef.String(&cfg.SpellArchiveDir, "spell-archive-dir", "PRESENCED_SPELL_ARCHIVE_DIR", "",
		"directory for spells-YYYY-MM.csv, the export of each month dropped by -spell-retention")
	ef.Duration(&cfg.HeartbeatInterval, "heartbeat-interval", "PRESENCED_HEARTBEAT_INTERVAL", presence.DefaultHeartbeatInterval,
		"how often clients must send a session heartbeat")
	ef.Int(&cfg.MaxMissedHeartbeats, "max-missed-heartbeats", "PRESENCED_MAX_MISSED_HEARTBEATS", presence.DefaultMaxMissedHeartbeats,
		"heartbeats a session may miss before it counts as disconnected (at least 1)")
	ef.String(&cfg.ListenDatabaseURL, "listen-database-url", "PRESENCED_LISTEN_DATABASE_URL", "",
		"PostgreSQL URL straight to the primary for the event listener and migrations, when --database-url goes through a pooler in transaction mode (PgBouncer)")
	ef.String(&cfg.StatementMode, "statement-mode", "PRESENCED_STATEMENT_MODE", "",
		"how statements run: prepare (named prepared statements), describe, exec or simple (no named statements: for a pooler in transaction mode); empty: describe when --listen-database-url is set, else prepare")
	ef.Int(&cfg.PresenceBatch, "presence-batch", "PRESENCED_PRESENCE_BATCH", db.DefaultPresenceBatch,
		"most presence changes group commit puts in one transaction; 1 turns it off (docs/groupcommit.md)")
	ef.Int(&cfg.SSEDeliverers, "sse-deliverers", "PRESENCED_SSE_DELIVERERS", 0,
		"goroutines that write live events to the streams; 0: half the cores, at least one (docs/performance.md, Deliverers)")
	authFlags(ef, &cfg.Auth)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("serve takes no arguments, got %q", fs.Args())}
	}
	switch cfg.StatementMode {
	case "", db.StatementPrepare, db.StatementDescribe, db.StatementExec, db.StatementSimple:
	default:
		return usageError{fmt.Sprintf("--statement-mode %q: want prepare, describe, exec or simple", cfg.StatementMode)}
	}
	if cfg.SpellRetention > 0 && cfg.SpellArchiveDir == "" {
		return usageError{"-spell-retention needs -spell-archive-dir: a month is exported there before it is dropped"}
	}
	if err := (presence.HeartbeatPolicy{Interval: cfg.HeartbeatInterval, MaxMissed: cfg.MaxMissedHeartbeats}).Validate(); err != nil {
		return usageError{presence.ErrorMessage(err)}
	}
	if cfg.PresenceBatch < 1 {
		return usageError{fmt.Sprintf("--presence-batch %d: want 1 (group commit off) or more", cfg.PresenceBatch)}
	}
	if cfg.SSEDeliverers < 0 {
		return usageError{fmt.Sprintf("--sse-deliverers %d: want 0 (half the cores) or more", cfg.SSEDeliverers)}
	}
	log, err := cfg.logger(stderr)
	if err != nil {
		return err
	}
	database, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	n := node.New(node.Config{Addr: cfg.Addr, DatabaseURL: database.URL,
		ListenDatabaseURL: cfg.ListenDatabaseURL, StatementMode: cfg.StatementMode, EventRetention: cfg.EventRetention, Logger: log,
		SpellRetention: cfg.SpellRetention, SpellArchiveDir: cfg.SpellArchiveDir,
		HeartbeatInterval: cfg.HeartbeatInterval, MaxMissedHeartbeats: cfg.MaxMissedHeartbeats, PresenceBatch: cfg.PresenceBatch,
		SSEDeliverers: cfg.SSEDeliverers,
		AdminToken:    cfg.Auth.AdminToken, Security: cfg.Auth.security(), MaxStreamTopics: cfg.Auth.MaxStreamTopics})
	if err := n.Open(ctx); err != nil {
		return errors.Join(err, database.Close())
	}
	// Not cut short by a signal: a token made must reach its file.
	if err := firstStart(context.WithoutCancel(ctx), cfg, n.DB, n.URL(), stdout, log); err != nil {
		return errors.Join(err, n.Close(), database.Close())
	}
	log.Info("presenced is serving", "url", n.URL(), "version", version)
	<-ctx.Done()
	log.Info("shutting down")
	return errors.Join(n.Close(), database.Close())
}
