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
	ef.Duration(&cfg.HeartbeatInterval, "heartbeat-interval", "PRESENCED_HEARTBEAT_INTERVAL", presence.DefaultHeartbeatInterval,
		"how often clients must send a session heartbeat")
	ef.Int(&cfg.MaxMissedHeartbeats, "max-missed-heartbeats", "PRESENCED_MAX_MISSED_HEARTBEATS", presence.DefaultMaxMissedHeartbeats,
		"heartbeats a session may miss before it counts as disconnected (at least 1)")
	ef.Int(&cfg.PresenceBatch, "presence-batch", "PRESENCED_PRESENCE_BATCH", db.DefaultPresenceBatch,
		"most presence changes group commit puts in one transaction; 1 turns it off (docs/groupcommit.md)")
	authFlags(ef, &cfg.Auth)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("serve takes no arguments, got %q", fs.Args())}
	}
	if err := (presence.HeartbeatPolicy{Interval: cfg.HeartbeatInterval, MaxMissed: cfg.MaxMissedHeartbeats}).Validate(); err != nil {
		return usageError{presence.ErrorMessage(err)}
	}
	if cfg.PresenceBatch < 1 {
		return usageError{fmt.Sprintf("--presence-batch %d: want 1 (group commit off) or more", cfg.PresenceBatch)}
	}
	log, err := cfg.logger(stderr)
	if err != nil {
		return err
	}
	database, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	n := node.New(node.Config{Addr: cfg.Addr, DatabaseURL: database.URL, EventRetention: cfg.EventRetention, Logger: log,
		HeartbeatInterval: cfg.HeartbeatInterval, MaxMissedHeartbeats: cfg.MaxMissedHeartbeats, PresenceBatch: cfg.PresenceBatch,
		AdminToken: cfg.Auth.AdminToken, Security: cfg.Auth.security(), MaxStreamTopics: cfg.Auth.MaxStreamTopics})
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
