// Package node wires one presenced node: the database services, the event
// listener feeding the SSE broker, the event pruner and the HTTP server.
// cmd/presenced runs one; the end-to-end tests and the load programs run
// several against one database, exactly as production does.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	presencehttp "github.com/presenced/presenced/http"
	"github.com/presenced/presenced/metrics"
	presencesse "github.com/presenced/presenced/sse"
)

// Config is what a node needs to know.
type Config struct {
	Addr        string // "127.0.0.1:0" picks a free port
	DatabaseURL string // required
	// ListenDatabaseURL, when set, connects the event listener and the
	// migrations straight to the primary while DatabaseURL goes through
	// a pooler in transaction mode (db.DB.ListenURL).
	ListenDatabaseURL string
	// StatementMode is db.DB.StatementMode ("": chosen from the URLs).
	StatementMode  string
	EventRetention time.Duration // 0: 7 days
	// SpellRetention drops spell months older than it, each exported to
	// SpellArchiveDir first (0: keep everything). See db.HistoryKeeper.
	SpellRetention  time.Duration
	SpellArchiveDir string
	Logger          *slog.Logger // nil: slog.Default()
	// MaxConns overrides the pool size (0: pool_max_conns from
	// DatabaseURL when it is there, else db.DefaultMaxConns()).
	MaxConns int32
	// PresenceBatch is the most presence changes group commit puts in one
	// transaction (0: db.DefaultPresenceBatch; 1: off, a transaction per
	// change). See docs/groupcommit.md.
	PresenceBatch int
	// SSEDeliverers is the number of goroutines that write live events to
	// the streams (sse.Config.Deliverers; 0: half the cores, at least one).
	SSEDeliverers int
	// SkipMigrations leaves the schema alone (another node migrates).
	SkipMigrations bool
	// HeartbeatInterval and MaxMissedHeartbeats are the session heartbeat
	// policy (0: 20 s and 2, as in Pega).
	HeartbeatInterval   time.Duration
	MaxMissedHeartbeats int

	// AdminToken, when set, is stored (as a hash) as an admin token, so
	// that an operator, a test or a load program has a known way in. It
	// must be at least 32 characters. Auth is on either way.
	AdminToken string
	// Security: rate limit, CORS, public metrics, streams per token.
	Security presencehttp.Security
	// Timeouts of the HTTP server (0: its defaults).
	Timeouts presencehttp.Timeouts
	// MaxStreamTopics bounds the topics of one stream (0: the broker's
	// default).
	MaxStreamTopics int
}

// Node is one running presenced node.
type Node struct {
	Config Config

	DB       *db.DB
	Listener *db.Listener
	Pruner   *db.Pruner
	History  *db.HistoryKeeper
	Sweeper  *db.Sweeper
	Broker   *presencesse.Broker
	HTTP     *presencehttp.Server
	// Metrics is the node's own registry, served at GET /metrics.
	Metrics *metrics.Metrics
}

// New returns a node; call Open to start it.
func New(cfg Config) *Node {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Node{Config: cfg}
}

// Open starts every part in dependency order; on error it closes what it
// opened. It returns once the node serves.
func (n *Node) Open(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			_ = n.Close()
		}
	}()
	log := n.Config.Logger
	n.DB = db.NewDB(n.Config.DatabaseURL)
	n.DB.Logger = log
	n.DB.MaxConns = n.Config.MaxConns
	n.DB.ListenURL = n.Config.ListenDatabaseURL
	n.DB.StatementMode = n.Config.StatementMode
	n.DB.PresenceBatch = n.Config.PresenceBatch
	n.DB.Heartbeats = presence.DefaultHeartbeatPolicy()
	if n.Config.HeartbeatInterval != 0 {
		n.DB.Heartbeats.Interval = n.Config.HeartbeatInterval
	}
	if n.Config.MaxMissedHeartbeats != 0 {
		n.DB.Heartbeats.MaxMissed = n.Config.MaxMissedHeartbeats
	}
	if err := n.DB.Heartbeats.Validate(); err != nil {
		return err
	}
	if err := n.DB.Open(ctx); err != nil {
		return err
	}
	if !n.Config.SkipMigrations {
		if err := n.DB.Migrate(ctx); err != nil {
			return err
		}
	}

	if n.Config.AdminToken != "" {
		name := "bootstrap admin (--admin-token)"
		t, err := n.DB.EnsureToken(ctx, n.Config.AdminToken, presence.TokenInput{
			Scopes: []string{presence.ScopeAdmin}, Name: &name})
		if err != nil {
			return fmt.Errorf("admin token: %w", err)
		}
		if t.RevokedAt != nil {
			log.Warn("the configured admin token has been revoked; it does not work", "token_id", t.ID)
		}
	}

	n.Broker = presencesse.New(presencesse.Config{Log: n.DB, Channels: n.DB, Logger: log,
		MaxTopics: n.Config.MaxStreamTopics, Deliverers: n.Config.SSEDeliverers, Authorize: presencehttp.AuthorizeTopic})
	if err := n.Broker.Open(); err != nil {
		return err
	}
	// The HTTP server sees every event too: a token's revocation ends its
	// streams on every node.
	n.HTTP = presencehttp.NewServer()
	h := n.HTTP
	n.Listener = db.NewListener(n.DB, func(ev presence.Event) {
		h.ObserveEvent(ev)
		n.Broker.Publish(ev)
	})
	// A reconnect to a primary that lacks the events last published (lost
	// in an asynchronous failover) ends every stream: each resumes by id,
	// and those that saw a lost event get a reset.
	n.Listener.OnRewind = n.Broker.Rewind
	if err := n.Listener.Open(ctx); err != nil {
		return err
	}
	n.Metrics = metrics.New()
	n.Metrics.Logger = log
	n.Metrics.RegisterStreams(n.Broker)
	n.Metrics.RegisterListener(n.Listener)
	n.Metrics.RegisterPool(n.DB.PoolStat)

	n.Pruner = db.NewPruner(n.DB, n.Config.EventRetention)
	n.Pruner.OnPrune = n.Metrics.ObservePrune
	n.Pruner.Open()
	n.History = db.NewHistoryKeeper(n.DB, n.Config.SpellRetention, n.Config.SpellArchiveDir)
	n.History.Open()
	n.Sweeper = db.NewSweeper(n.DB)
	n.Sweeper.OnSweep = n.Metrics.ObserveSweep
	n.Sweeper.Open()

	n.HTTP.Addr = n.Config.Addr
	n.HTTP.Logger = log
	n.HTTP.AgentService = n.DB
	n.HTTP.StatusService = n.DB
	n.HTTP.PresenceService = n.DB
	n.HTTP.SpellService = n.DB
	n.HTTP.ChannelService = n.DB
	n.HTTP.SessionService = n.DB
	n.HTTP.QueueService = n.DB
	n.HTTP.AttributeService = n.DB
	n.HTTP.QueryService = n.DB
	n.HTTP.WorkService = n.DB
	n.HTTP.Events = n.Broker
	n.HTTP.EventPosition = n.Listener.Position
	n.HTTP.EventSync = n.Listener.Sync
	n.HTTP.Ready = n.Ready
	n.HTTP.TokenService = n.DB
	n.HTTP.AuditLog = n.DB
	n.HTTP.Security = n.Config.Security
	n.HTTP.Timeouts = n.Config.Timeouts
	n.HTTP.Metrics = n.Metrics
	n.HTTP.SessionAgents = n.DB
	n.HTTP.WorkAgents = n.DB
	if err := n.HTTP.Open(); err != nil {
		return fmt.Errorf("listen on %s: %w", n.Config.Addr, err)
	}
	return nil
}

// URL is the node's base URL.
func (n *Node) URL() string { return n.HTTP.URL() }

// Ready is the /readyz check: database reachable, migrations applied,
// listener connected.
func (n *Node) Ready(ctx context.Context) error {
	if err := n.DB.Ping(ctx); err != nil {
		return errors.New("database unreachable")
	}
	mig, err := n.DB.NewMigrator()
	if err != nil {
		return err
	}
	defer mig.Close()
	if pending, err := mig.Pending(ctx); err != nil || pending {
		return errors.New("migrations not applied")
	}
	if !n.Listener.Connected() {
		return errors.New("event listener not connected")
	}
	return nil
}

// Close stops the node in reverse order: streams end first so that the
// HTTP shutdown need not wait for them, then requests, the background
// duties, the listener and the pool.
func (n *Node) Close() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if n.Broker != nil {
		errs = append(errs, n.Broker.Close())
	}
	if n.HTTP != nil {
		errs = append(errs, n.HTTP.Close(ctx))
	}
	if n.Pruner != nil {
		n.Pruner.Close()
	}
	if n.Sweeper != nil {
		n.Sweeper.Close()
	}
	if n.History != nil {
		n.History.Close()
	}
	if n.Listener != nil {
		errs = append(errs, n.Listener.Close())
	}
	if n.DB != nil {
		errs = append(errs, n.DB.Close())
	}
	return errors.Join(errs...)
}
