// Package pgcluster starts and stops a private PostgreSQL cluster built from
// the locally installed PostgreSQL server binaries (initdb, pg_ctl,
// postgres). Nothing is ever downloaded.
//
// It is used by "presenced serve" when no database URL is given, by
// "presenced psql", by the load program and by test packages that need a
// real PostgreSQL; StartDatabase gives each of them a database on it.
//
// Layout of Config.DataDir:
//
//	pgdata/          the cluster (owned by the OS user that runs PostgreSQL)
//	pg.password      password of the "postgres" superuser (mode 0600)
//	pg.port          TCP port on 127.0.0.1 the server listens on
//	postgresql.log   server log
//	pg.lock          serialises concurrent Start calls on the same DataDir
//
// PostgreSQL refuses to run as root. When the calling process runs as root,
// initdb, pg_ctl and postgres run as the "postgres" OS user; that user must
// then be able to traverse every parent directory of DataDir. Note that
// t.TempDir and os.MkdirTemp create 0700 directories, which the postgres user
// cannot traverse: chmod them to 0711 first or Start fails with an error that
// names the directory. A throw-away cluster (an empty Config.DataDir) gets a
// temporary directory that is set up that way.
//
// The files: pgcluster.go (Start, the cluster's URLs), bindir.go (finding
// the binaries), initdb.go, server.go (start and stop with pg_ctl),
// runas.go (the postgres OS user and the server's processes), files.go
// (the data directory's files), replica.go (standbys, promotion),
// database.go (StartDatabase), pgbouncer.go (a pooler in front, for
// tests). The Unix-only calls are in *_unix.go; on other systems the
// package builds, but Start says it needs Unix (unsupported.go).
package pgcluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

const (
	superuser  = "postgres"
	listenHost = "127.0.0.1"
)

// Config configures Start.
type Config struct {
	// DataDir holds the cluster (in DataDir/pgdata) and its password, port
	// and log files. It is created if missing. Empty: a throw-away
	// cluster in a new temporary directory, which Stop removes.
	DataDir string
	// BinDir is the directory holding initdb, pg_ctl and postgres;
	// FindBinDir() is used when empty.
	BinDir string
	// Settings are extra server settings passed as -c name=value when the
	// server is started (for tests e.g. fsync=off, synchronous_commit=off,
	// full_page_writes=off). port, listen_addresses and
	// unix_socket_directories are managed by Start and rejected here.
	Settings map[string]string
	// Logger receives progress messages; slog.Default() when nil.
	Logger *slog.Logger
	// StandbyOf, when set, makes a new cluster a streaming standby of that
	// running cluster instead of an empty one: a base backup of it
	// (pg_basebackup -R, so the standby follows it) with its password.
	// An existing cluster under DataDir is started as it is.
	StandbyOf *Cluster
}

// Cluster is a running PostgreSQL server started (or reused) by Start.
// Its methods are safe for concurrent use.
type Cluster struct {
	dataDir   string
	temporary bool // a throw-away data directory, removed by Stop
	pgData    string
	binDir    string
	port      int
	password  string
	logger    *slog.Logger
	runAs     *osUser // nil unless we run as root

	mu      sync.Mutex
	stopped bool
}

// Start initialises the cluster on first use and starts the server, or
// reuses a server still running on DataDir from an earlier run. It returns
// once the server accepts TCP connections on 127.0.0.1, or fails when ctx
// ends first.
//
// On first use it runs initdb (scram-sha-256 authentication, superuser
// "postgres" with a random password kept in DataDir/pg.password, encoding
// UTF8, no locale) and picks a free port, kept in DataDir/pg.port; a later
// Start picks another port when that one is taken and rewrites the file. The
// server is started with pg_ctl in its own process group, so that a Ctrl-C
// on the terminal reaches only the calling process, which is expected to
// call Stop.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if err := checkPlatform(); err != nil {
		return nil, err
	}
	runAs, err := runAsIfRoot()
	if err != nil {
		return nil, err
	}
	if cfg.DataDir != "" {
		return start(ctx, cfg, runAs)
	}
	dir, err := os.MkdirTemp("", "pgcluster-")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: create a temporary data directory: %w", err)
	}
	if runAs != nil {
		if err := os.Chmod(dir, 0o711); err != nil { // the postgres user must traverse it
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("pgcluster: %w", err)
		}
	}
	cfg.DataDir = dir
	c, err := start(ctx, cfg, runAs)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	c.temporary = true
	return c, nil
}

func start(ctx context.Context, cfg Config, runAs *osUser) (*Cluster, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	settings, err := settingArgs(cfg.Settings)
	if err != nil {
		return nil, err
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: data directory %q: %w", cfg.DataDir, err)
	}
	if strings.ContainsAny(dataDir, "\"$`\\\n") {
		// pg_ctl passes paths through /bin/sh inside double quotes.
		return nil, fmt.Errorf("pgcluster: data directory %q contains a character pg_ctl cannot handle (one of \" $ ` \\ or newline)", dataDir)
	}

	binDir := cfg.BinDir
	if binDir == "" {
		if binDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	} else if missing := hasBinaries(binDir); missing != "" {
		return nil, &binDirError{dir: binDir, missing: missing}
	}

	c := &Cluster{
		dataDir: dataDir,
		pgData:  filepath.Join(dataDir, pgDataName),
		binDir:  binDir,
		logger:  logger,
		runAs:   runAs,
	}

	dirMode := os.FileMode(0o700)
	if c.runAs != nil {
		dirMode = 0o711 // the postgres user must traverse it
	}
	if err := mkdirAllMode(dataDir, dirMode); err != nil {
		return nil, fmt.Errorf("pgcluster: create data directory: %w", err)
	}
	if c.runAs != nil {
		if err := checkTraversable(dataDir, c.runAs); err != nil {
			return nil, err
		}
	}

	unlock, err := lockDataDir(ctx, dataDir, logger)
	if err != nil {
		return nil, err
	}
	defer unlock()

	if cfg.StandbyOf != nil {
		err = c.ensureStandby(ctx, cfg.StandbyOf)
	} else {
		err = c.ensureInitialised(ctx, settings)
	}
	if err != nil {
		return nil, err
	}
	if err := c.readPassword(); err != nil {
		return nil, err
	}
	if err := c.prepareLogFile(); err != nil {
		return nil, err
	}

	reused, err := c.reuseRunning(ctx)
	if err != nil {
		return nil, err
	}
	if !reused {
		if err := c.startServer(ctx, settings); err != nil {
			return nil, err
		}
	}
	c.logReady(reused)
	return c, nil
}

// URL returns the connection URL of the "postgres" database, e.g.
// postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres?sslmode=disable.
func (c *Cluster) URL() string { return c.DatabaseURL("postgres") }

// DatabaseURL returns the connection URL of database name on the cluster.
// The database must exist (StartDatabase) before it can be used.
func (c *Cluster) DatabaseURL(name string) string {
	return c.url(name, url.UserPassword(superuser, c.password))
}

func (c *Cluster) url(name string, u *url.Userinfo) string {
	return (&url.URL{
		Scheme:   "postgres",
		User:     u,
		Host:     net.JoinHostPort(listenHost, strconv.Itoa(c.port)),
		Path:     "/" + name,
		RawQuery: "sslmode=disable",
	}).String()
}

// Port returns the TCP port the server listens on (on 127.0.0.1).
func (c *Cluster) Port() int { return c.port }

// DataDir returns the absolute data directory given in Config.DataDir; the
// cluster itself lives in its pgdata subdirectory.
func (c *Cluster) DataDir() string { return c.dataDir }

// BinDir returns the directory of the PostgreSQL binaries in use. It also
// holds client tools such as psql and pg_dump when they are installed.
func (c *Cluster) BinDir() string { return c.binDir }
