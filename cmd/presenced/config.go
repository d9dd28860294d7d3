package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is everything a presenced node is told at start. Each field has a
// flag and an environment variable; a flag wins over the environment.
type Config struct {
	Addr        string
	DatabaseURL string
	// ListenDatabaseURL and StatementMode: behind a pooler (docs/ha.md).
	ListenDatabaseURL string
	StatementMode     string
	DataDir           string
	LogFormat         string
	LogLevel          string
	EventRetention    time.Duration
	// Spell history retention (0 keeps everything) and where the dropped
	// months are exported to.
	SpellRetention  time.Duration
	SpellArchiveDir string

	HeartbeatInterval   time.Duration
	MaxMissedHeartbeats int
	PresenceBatch       int        // most presence changes in one transaction; 1: group commit off
	SSEDeliverers       int        // goroutines writing live events to streams; 0: half the cores
	Auth                authConfig // security.go
}

// envFlags registers flags whose defaults come from the environment, and
// says so in their help.
type envFlags struct {
	fs *flag.FlagSet
}

func (e envFlags) String(p *string, name, env, def, help string) {
	if v, ok := os.LookupEnv(env); ok {
		def = v
	}
	e.fs.StringVar(p, name, def, help+" ($"+env+")")
}

func (e envFlags) Duration(p *time.Duration, name, env string, def time.Duration, help string) {
	if v, ok := os.LookupEnv(env); ok {
		if d, err := time.ParseDuration(v); err == nil {
			def = d
		}
	}
	e.fs.DurationVar(p, name, def, help+" ($"+env+")")
}

func (e envFlags) Int(p *int, name, env string, def int, help string) {
	if v, ok := os.LookupEnv(env); ok {
		if n, err := strconv.Atoi(v); err == nil {
			def = n
		}
	}
	e.fs.IntVar(p, name, def, help+" ($"+env+")")
}

// newFlagSet returns a flag set for a command with the flags every command
// shares (where the database is).
func newFlagSet(name, summary string, cfg *Config, stderr io.Writer) (*flag.FlagSet, envFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: presenced %s\n\n%s\n", name, summary)
		printFlags(stderr, fs) // help.go
	}
	ef := envFlags{fs}
	ef.String(&cfg.DatabaseURL, "database-url", "DATABASE_URL", "",
		"PostgreSQL URL, e.g. postgres://user:pass@host:5432/presenced; empty starts a private PostgreSQL under --data-dir")
	ef.String(&cfg.DataDir, "data-dir", "PRESENCED_DATA_DIR", "./.presenced",
		"directory of the private PostgreSQL and other local state")
	ef.String(&cfg.LogFormat, "log-format", "PRESENCED_LOG_FORMAT", "text", "log format: text or json")
	ef.String(&cfg.LogLevel, "log-level", "PRESENCED_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	return fs, ef
}

// logger builds the process logger from the config.
func (c Config) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", c.LogLevel)}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(c.LogFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Sprintf("--log-format %q: want text or json", c.LogFormat)}
}
