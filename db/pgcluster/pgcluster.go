// Package pgcluster starts and stops a private PostgreSQL cluster built from
// the locally installed PostgreSQL server binaries (initdb, pg_ctl,
// postgres). Nothing is ever downloaded.
//
// It is used by "presenced serve" when no database URL is given, by
// "presenced psql", and by test packages that need a real PostgreSQL.
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
// names the directory.
package pgcluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNoBinaries is returned (possibly wrapped) when no PostgreSQL server
// binaries can be found. Its message tells the user what to do.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries found (looked in PATH, pg_config --bindir and /usr/lib/postgresql/*/bin): install PostgreSQL (e.g. apt-get install postgresql) or pass --database-url")

// File names inside Config.DataDir.
const (
	pgDataName   = "pgdata"
	passwordName = "pg.password"
	portName     = "pg.port"
	logName      = "postgresql.log"
	lockName     = "pg.lock"

	superuser   = "postgres"
	listenHost  = "127.0.0.1"
	runAsUser   = "postgres"
	tailLines   = 20
	startTries  = 3
	defaultWait = 60 * time.Second
)

// requiredBinaries must all be present in a bin directory.
var requiredBinaries = []string{"initdb", "pg_ctl", "postgres"}

// reservedSettings are managed by Start and may not be overridden through
// Config.Settings.
var reservedSettings = []string{"port", "listen_addresses", "unix_socket_directories"}

// binSearch describes where FindBinDir looks; tests inject their own roots.
type binSearch struct {
	path        string // PATH-style list searched for initdb and pg_config
	versionGlob string // glob of versioned bin directories, e.g. /usr/lib/postgresql/*/bin
}

// versionedBinGlob is the last place FindBinDir looks (Debian/Ubuntu layout).
var versionedBinGlob = "/usr/lib/postgresql/*/bin"

// FindBinDir finds a directory holding initdb, pg_ctl and postgres. It looks
// first in PATH (the directory of initdb, symlinks resolved), then at the
// output of `pg_config --bindir`, then at the highest version under
// /usr/lib/postgresql/*/bin (versions compared numerically). It returns
// ErrNoBinaries when nothing is found.
func FindBinDir() (string, error) {
	return findBinDir(binSearch{path: os.Getenv("PATH"), versionGlob: versionedBinGlob})
}

func findBinDir(s binSearch) (string, error) {
	// 1. PATH.
	if p := lookPathIn("initdb", s.path); p != "" {
		if real, err := filepath.EvalSymlinks(p); err == nil && hasBinaries(filepath.Dir(real)) == "" {
			return filepath.Dir(real), nil
		}
		if hasBinaries(filepath.Dir(p)) == "" {
			return filepath.Dir(p), nil
		}
	}
	// 2. pg_config --bindir.
	if p := lookPathIn("pg_config", s.path); p != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, p, "--bindir").Output()
		cancel()
		if dir := strings.TrimSpace(string(out)); err == nil && dir != "" && hasBinaries(dir) == "" {
			return dir, nil
		}
	}
	// 3. Highest version under the versioned glob.
	if s.versionGlob != "" {
		matches, _ := filepath.Glob(s.versionGlob)
		slices.SortFunc(matches, func(a, b string) int {
			return compareVersions(versionOf(b), versionOf(a)) // descending
		})
		for _, dir := range matches {
			if hasBinaries(dir) == "" {
				return dir, nil
			}
		}
	}
	return "", ErrNoBinaries
}

// versionOf returns the version component of a path like
// /usr/lib/postgresql/15/bin (the parent of the last element).
func versionOf(binDir string) string {
	return filepath.Base(filepath.Dir(binDir))
}

// compareVersions compares dotted versions numerically ("9.6" < "15" <
// "100"); non-numeric parts sort before numeric ones.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y string
		if i < len(as) {
			x = as[i]
		}
		if i < len(bs) {
			y = bs[i]
		}
		xn, xerr := strconv.Atoi(x)
		yn, yerr := strconv.Atoi(y)
		switch {
		case xerr == nil && yerr == nil:
			if c := xn - yn; c != 0 {
				return c
			}
		case xerr == nil:
			return 1
		case yerr == nil:
			return -1
		default:
			if c := strings.Compare(x, y); c != 0 {
				return c
			}
		}
	}
	return 0
}

// lookPathIn is exec.LookPath with an explicit PATH list. It returns "" when
// name is not found.
func lookPathIn(name, pathList string) string {
	for _, dir := range filepath.SplitList(pathList) {
		if dir == "" {
			continue // an empty element means ".", which we never want
		}
		p := filepath.Join(dir, name)
		if isExecutable(p) {
			return p
		}
	}
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// hasBinaries returns the first required binary missing from dir, or "".
func hasBinaries(dir string) string {
	for _, b := range requiredBinaries {
		if !isExecutable(filepath.Join(dir, b)) {
			return b
		}
	}
	return ""
}

// binDirError reports an explicitly configured BinDir that lacks a binary.
// It matches ErrNoBinaries with errors.Is.
type binDirError struct{ dir, missing string }

func (e *binDirError) Error() string {
	return fmt.Sprintf("PostgreSQL server binary %q not found in bin directory %s: install PostgreSQL (e.g. apt-get install postgresql), point the bin directory at its binaries, or pass --database-url", e.missing, e.dir)
}

func (e *binDirError) Is(target error) bool { return target == ErrNoBinaries }

// Config configures Start.
type Config struct {
	// DataDir holds the cluster (in DataDir/pgdata) and its password, port
	// and log files. It is created if missing.
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
	dataDir  string
	pgData   string
	binDir   string
	port     int
	password string
	logger   *slog.Logger
	cred     *syscall.Credential // nil unless we run as root

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
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if cfg.DataDir == "" {
		return nil, errors.New("pgcluster: Config.DataDir is empty")
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
	}
	if os.Geteuid() == 0 {
		if c.cred, err = lookupRunAs(); err != nil {
			return nil, err
		}
	}

	dirMode := os.FileMode(0o700)
	if c.cred != nil {
		dirMode = 0o711 // the postgres user must traverse it
	}
	if err := mkdirAllMode(dataDir, dirMode); err != nil {
		return nil, fmt.Errorf("pgcluster: create data directory: %w", err)
	}
	if c.cred != nil {
		if err := checkTraversable(dataDir, c.cred); err != nil {
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
	pw, err := os.ReadFile(filepath.Join(dataDir, passwordName))
	if err != nil {
		return nil, fmt.Errorf("pgcluster: the cluster in %s exists but its password file cannot be read (remove %s to start from scratch): %w", c.pgData, dataDir, err)
	}
	c.password = strings.TrimSpace(string(pw))
	if c.password == "" {
		return nil, fmt.Errorf("pgcluster: password file %s is empty (remove %s to start from scratch)", filepath.Join(dataDir, passwordName), dataDir)
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
// The database must exist (CREATE DATABASE) before it can be used.
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

// MultiHostURL returns a URL of database name that names every cluster
// given, in order, with target_session_attrs=read-write: a client tries
// them in turn and takes the one that accepts writes (the primary). The
// clusters must share the superuser password (a standby made with
// Config.StandbyOf does).
func MultiHostURL(name string, clusters ...*Cluster) string {
	hosts := make([]string, len(clusters))
	for i, c := range clusters {
		hosts[i] = net.JoinHostPort(listenHost, strconv.Itoa(c.port))
	}
	return (&url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(superuser, clusters[0].password),
		Host:     strings.Join(hosts, ","),
		Path:     "/" + name,
		RawQuery: "sslmode=disable&target_session_attrs=read-write",
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

// passwordFile returns the path of the file holding the superuser password.
func (c *Cluster) passwordFile() string { return filepath.Join(c.dataDir, passwordName) }

// Stop stops the server with `pg_ctl stop -m fast -w` and waits for it to
// exit. It is safe to call more than once and from several goroutines; calls
// after the first successful one return nil.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	if err := c.stop(context.Background(), "fast"); err != nil {
		return err
	}
	c.stopped = true
	c.logger.Info("PostgreSQL stopped", "data_dir", c.dataDir)
	return nil
}

func (c *Cluster) stop(ctx context.Context, mode string) error {
	out, err := c.pgCtl(ctx, "stop", "-D", c.pgData, "-m", mode, "-w", "-t", "60")
	if err == nil {
		return nil
	}
	if running, serr := c.running(ctx); serr == nil && !running {
		return nil // already stopped, e.g. by someone else
	}
	return fmt.Errorf("pgcluster: pg_ctl stop failed: %w\n%s%s", err, outputSection("pg_ctl output", out), c.logTail())
}

// ensureStandby makes DataDir/pgdata a base backup of primary, set up to
// stream from it, unless it already holds a cluster.
func (c *Cluster) ensureStandby(ctx context.Context, primary *Cluster) error {
	if _, err := os.Stat(filepath.Join(c.pgData, "PG_VERSION")); err == nil {
		return nil
	}
	if err := os.RemoveAll(c.pgData); err != nil {
		return fmt.Errorf("pgcluster: remove incomplete standby: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(c.dataDir, passwordName), []byte(primary.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgcluster: write password file: %w", err)
	}
	// pg_basebackup fills an empty directory, as the postgres user.
	if err := os.Mkdir(c.pgData, 0o700); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if err := c.chown(c.pgData); err != nil {
		return err
	}
	c.logger.Info("taking a base backup for a standby", "primary_port", primary.port, "data_dir", c.pgData)
	cmd := c.command(ctx, "pg_basebackup", "-D", c.pgData, "-h", listenHost, "-p", strconv.Itoa(primary.port),
		"-U", superuser, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync")
	cmd.Env = append(cmd.Env, "PGPASSWORD="+primary.password)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgcluster: pg_basebackup failed: %w\n%s", err, outputSection("pg_basebackup output", out))
	}
	return nil
}

// Promote ends recovery of a standby (pg_ctl promote -w): it becomes a
// primary on a new timeline.
func (c *Cluster) Promote(ctx context.Context) error {
	if out, err := c.pgCtl(ctx, "promote", "-D", c.pgData, "-w", "-t", "60"); err != nil {
		return fmt.Errorf("pgcluster: pg_ctl promote failed: %w\n%s%s", err, outputSection("pg_ctl output", out), c.logTail())
	}
	return nil
}

// Kill sends SIGKILL to the postmaster, as a machine that dies would stop
// it: no shutdown checkpoint, no goodbye to clients or standbys. Its
// backends exit when they notice. Stop afterwards returns nil.
func (c *Cluster) Kill() error {
	pid, _, err := readPostmasterPID(c.pgData)
	if err != nil {
		return fmt.Errorf("pgcluster: kill: %w", err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("pgcluster: kill postmaster %d: %w", pid, err)
	}
	return nil
}

// ensureInitialised runs initdb unless DataDir/pgdata already holds a
// cluster.
func (c *Cluster) ensureInitialised(ctx context.Context, settings []string) error {
	if _, err := os.Stat(filepath.Join(c.pgData, "PG_VERSION")); err == nil {
		if c.cred != nil {
			if err := checkOwner(c.pgData, c.cred); err != nil {
				return err
			}
		}
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pgcluster: %w", err)
	}

	// No cluster. Leftovers of an interrupted initdb are not a cluster.
	if entries, err := os.ReadDir(c.pgData); err == nil && len(entries) > 0 {
		c.logger.Warn("removing leftovers of an interrupted initdb", "dir", c.pgData)
		if err := os.RemoveAll(c.pgData); err != nil {
			return fmt.Errorf("pgcluster: remove incomplete cluster: %w", err)
		}
	}
	if err := os.Mkdir(c.pgData, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if err := c.chown(c.pgData); err != nil {
		return err
	}

	password := rand.Text() // 26 base32 characters: 130 bits
	if err := writeFileAtomic(filepath.Join(c.dataDir, passwordName), []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgcluster: write password file: %w", err)
	}
	// initdb (running as the postgres user) must read the password, which
	// pg.password (owned by the caller) does not allow: use a temporary copy.
	pwFile := filepath.Join(c.dataDir, "initdb.pwfile")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgcluster: write initdb password file: %w", err)
	}
	defer os.Remove(pwFile)
	if err := c.chown(pwFile); err != nil {
		return err
	}

	args := []string{
		"-D", c.pgData,
		"--auth=scram-sha-256",
		"--username=" + superuser,
		"--pwfile=" + pwFile,
		"--encoding=UTF8",
		"--no-locale",
	}
	if slices.Contains(settings, "fsync=off") {
		args = append(args, "--no-sync") // the server will not sync either
	}
	c.logger.Info("initialising PostgreSQL cluster", "data_dir", c.pgData, "bin_dir", c.binDir)
	start := time.Now()
	cmd := c.command(ctx, "initdb", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return fmt.Errorf("pgcluster: initdb failed: %w\n%s", err, outputSection("initdb output", out))
	}
	c.logger.Debug("initdb done", "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}

// prepareLogFile creates the server log file so that the postgres user can
// append to it even though DataDir belongs to the caller.
func (c *Cluster) prepareLogFile() error {
	p := filepath.Join(c.dataDir, logName)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("pgcluster: create server log: %w", err)
	}
	f.Close()
	return c.chown(p)
}

// reuseRunning adopts a server left running on the data directory by an
// earlier run. It reports whether it did.
func (c *Cluster) reuseRunning(ctx context.Context) (bool, error) {
	running, err := c.running(ctx)
	if err != nil || !running {
		return false, err
	}
	pid, port, err := readPostmasterPID(c.pgData)
	if err != nil {
		return false, fmt.Errorf("pgcluster: a server is running on %s but its postmaster.pid cannot be read: %w", c.pgData, err)
	}
	c.port = port
	c.logger.Info("reusing PostgreSQL server left running by an earlier run (settings are not re-applied)", "data_dir", c.dataDir, "pid", pid, "port", port)
	if err := c.waitReady(ctx); err != nil {
		return false, fmt.Errorf("pgcluster: server left running on %s (pid %d, port %d) does not accept connections: %w\n%s", c.pgData, pid, port, err, c.logTail())
	}
	if err := writeFileAtomic(filepath.Join(c.dataDir, portName), []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
		return false, fmt.Errorf("pgcluster: write port file: %w", err)
	}
	return true, nil
}

// running reports whether `pg_ctl status` sees a live server.
func (c *Cluster) running(ctx context.Context) (bool, error) {
	out, err := c.pgCtl(ctx, "status", "-D", c.pgData)
	if err == nil {
		return true, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 3 { // 3: not running
		return false, nil
	}
	return false, fmt.Errorf("pgcluster: pg_ctl status failed: %w\n%s", err, outputSection("pg_ctl output", out))
}

// startServer picks a port and starts the server, retrying with another
// port when the chosen one turns out to be taken.
func (c *Cluster) startServer(ctx context.Context, settings []string) error {
	portFile := filepath.Join(c.dataDir, portName)
	port := 0
	if b, err := os.ReadFile(portFile); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 && p < 65536 {
			if portFree(p) {
				port = p
			} else {
				c.logger.Info("port of the previous run is taken, choosing another", "port", p)
			}
		}
	}
	var lastErr error
	for try := 0; try < startTries; try++ {
		if port == 0 {
			p, err := freePort()
			if err != nil {
				return fmt.Errorf("pgcluster: choose a free port: %w", err)
			}
			port = p
		}
		if err := writeFileAtomic(portFile, []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
			return fmt.Errorf("pgcluster: write port file: %w", err)
		}
		c.port = port
		logStart := fileSize(filepath.Join(c.dataDir, logName))
		err := c.pgCtlStart(ctx, settings)
		if err == nil {
			if err = c.waitReady(ctx); err == nil {
				return nil
			}
			_ = c.stop(context.WithoutCancel(ctx), "immediate")
			return fmt.Errorf("pgcluster: server started but does not accept connections on port %d: %w\n%s", port, err, c.logTail())
		}
		if ctx.Err() != nil {
			// pg_ctl was killed; do not leave a half-started server behind.
			_ = c.stop(context.WithoutCancel(ctx), "immediate")
			return fmt.Errorf("pgcluster: start server: %w (%v)", ctx.Err(), err)
		}
		lastErr = err
		if !portConflict(filepath.Join(c.dataDir, logName), logStart, port) {
			break
		}
		c.logger.Info("port taken by another process, retrying with another", "port", port)
		port = 0
	}
	return fmt.Errorf("pgcluster: start server: %w\n%s", lastErr, c.logTail())
}

func (c *Cluster) pgCtlStart(ctx context.Context, settings []string) error {
	opts := []string{
		"-c", "port=" + strconv.Itoa(c.port),
		"-c", "listen_addresses=" + listenHost,
		"-c", "unix_socket_directories=",
	}
	for _, s := range settings {
		opts = append(opts, "-c", s)
	}
	quoted := make([]string, len(opts))
	for i, o := range opts {
		quoted[i] = shellQuote(o)
	}
	wait := defaultWait
	if dl, ok := ctx.Deadline(); ok {
		wait = max(time.Until(dl), time.Second)
	}
	out, err := c.pgCtl(ctx, "start",
		"-D", c.pgData,
		"-l", filepath.Join(c.dataDir, logName),
		"-w", "-t", strconv.Itoa(int((wait+time.Second-1)/time.Second)),
		"-o", strings.Join(quoted, " "))
	if err != nil {
		return fmt.Errorf("pg_ctl start: %w\n%s", err, outputSection("pg_ctl output", out))
	}
	return nil
}

// waitReady waits until the server accepts connections, using pg_isready
// when available and a TCP dial otherwise.
func (c *Cluster) waitReady(ctx context.Context) error {
	isReady := filepath.Join(c.binDir, "pg_isready")
	useIsReady := isExecutable(isReady)
	addr := net.JoinHostPort(listenHost, strconv.Itoa(c.port))
	for {
		var err error
		if useIsReady {
			cmd := exec.CommandContext(ctx, isReady, "-q", "-h", listenHost, "-p", strconv.Itoa(c.port), "-U", superuser, "-d", "postgres", "-t", "2")
			cmd.Env = cleanEnv()
			err = cmd.Run()
		} else {
			var conn net.Conn
			d := net.Dialer{Timeout: 2 * time.Second}
			if conn, err = d.DialContext(ctx, "tcp", addr); err == nil {
				conn.Close()
			}
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) logReady(reused bool) {
	psql := filepath.Join(c.binDir, "psql")
	if !isExecutable(psql) {
		psql = "psql"
	}
	cmdLine := fmt.Sprintf("PGPASSWORD=\"$(cat %s)\" %s -h %s -p %d -U %s postgres",
		shellQuote(c.passwordFile()), shellQuote(psql), listenHost, c.port, superuser)
	msg := "PostgreSQL ready"
	if reused {
		msg = "PostgreSQL ready (reused running server)"
	}
	c.logger.Info(msg,
		"data_dir", c.dataDir,
		"port", c.port,
		"url", c.url("postgres", url.UserPassword(superuser, "xxxxx")),
		"password_file", c.passwordFile(),
		"psql", cmdLine)
}

// pgCtl runs pg_ctl with args and returns its combined output.
func (c *Cluster) pgCtl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := c.command(ctx, "pg_ctl", args...)
	return cmd.CombinedOutput()
}

// command prepares a server-side command: as the postgres user when we run
// as root, in its own process group, in the data directory, without PG*
// environment variables.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, name), args...)
	cmd.Dir = c.dataDir
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred}
	// The postmaster forked by pg_ctl writes to the log file, but do not
	// hang forever should a descendant keep our output pipe open.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// chown gives p to the postgres user when we run as root.
func (c *Cluster) chown(p string) error {
	if c.cred == nil {
		return nil
	}
	if err := os.Chown(p, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}

// logTail returns the last lines of the server log, formatted for an error.
func (c *Cluster) logTail() string {
	p := filepath.Join(c.dataDir, logName)
	return outputSection(p, readTail(p))
}

// outputSection formats the last tailLines lines of out under a header.
func outputSection(title string, out []byte) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	body := strings.Join(lines, "\n")
	if strings.TrimSpace(body) == "" {
		body = "(empty)"
	}
	return fmt.Sprintf("--- %s (last %d lines) ---\n%s", title, tailLines, body)
}

// readTail returns up to the last 64 KiB of a file.
func readTail(p string) []byte {
	f, err := os.Open(p)
	if err != nil {
		return []byte(err.Error())
	}
	defer f.Close()
	const maxTail = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > maxTail {
		_, _ = f.Seek(fi.Size()-maxTail, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return b
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// portConflict reports whether a failed start was caused by the port being
// taken: either the log written since offset says so, or the port is no
// longer free.
func portConflict(logFile string, offset int64, port int) bool {
	if f, err := os.Open(logFile); err == nil {
		defer f.Close()
		if _, err := f.Seek(offset, io.SeekStart); err == nil {
			b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
			if bytes.Contains(b, []byte("could not bind")) || bytes.Contains(b, []byte("Address already in use")) {
				return true
			}
		}
	}
	return !portFree(port)
}

// portFree reports whether port can be bound on 127.0.0.1.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(listenHost, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// freePort asks the kernel for a free port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(listenHost, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// readPostmasterPID returns the pid and port recorded in postmaster.pid.
func readPostmasterPID(pgData string) (pid, port int, err error) {
	f, err := os.Open(filepath.Join(pgData, "postmaster.pid"))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(lines) < 4 {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	if len(lines) < 4 {
		return 0, 0, errors.New("postmaster.pid is incomplete")
	}
	if pid, err = strconv.Atoi(lines[0]); err != nil {
		return 0, 0, fmt.Errorf("postmaster.pid: bad pid: %w", err)
	}
	if port, err = strconv.Atoi(lines[3]); err != nil {
		return 0, 0, fmt.Errorf("postmaster.pid: bad port: %w", err)
	}
	return pid, port, nil
}

var settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// settingArgs validates settings and returns them as sorted name=value
// strings.
func settingArgs(m map[string]string) ([]string, error) {
	out := make([]string, 0, len(m))
	for name, value := range m {
		if !settingName.MatchString(name) {
			return nil, fmt.Errorf("pgcluster: invalid setting name %q", name)
		}
		if slices.Contains(reservedSettings, strings.ToLower(name)) {
			return nil, fmt.Errorf("pgcluster: setting %q is managed by pgcluster and cannot be set", name)
		}
		if strings.ContainsAny(value, "\x00\n") {
			return nil, fmt.Errorf("pgcluster: value of setting %q contains a NUL or newline", name)
		}
		out = append(out, name+"="+value)
	}
	slices.Sort(out)
	return out, nil
}

// shellQuote quotes s for /bin/sh (pg_ctl passes -o through the shell).
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// cleanEnv returns the environment without PG* variables, so that e.g.
// PGPORT or PGDATA cannot interfere with the explicit arguments.
func cleanEnv() []string {
	env := os.Environ()
	return slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "PG") })
}

// lookupRunAs returns the credentials of the postgres OS user.
func lookupRunAs() (*syscall.Credential, error) {
	u, err := user.Lookup(runAsUser)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: running as root, but PostgreSQL refuses to run as root and OS user %q cannot be found (%v): create it (e.g. useradd --system %s) or run as a non-root user", runAsUser, err, runAsUser)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("pgcluster: OS user %q has a non-numeric uid/gid %q/%q", runAsUser, u.Uid, u.Gid)
	}
	if uid == 0 {
		return nil, fmt.Errorf("pgcluster: OS user %q has uid 0; PostgreSQL refuses to run as root", runAsUser)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// checkTraversable checks that the user of cred can traverse dir and every
// parent of it (symlinks resolved). Supplementary groups are not set for
// the server processes, so only the primary group counts.
func checkTraversable(dir string, cred *syscall.Credential) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	for d := real; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		perm := fi.Mode().Perm()
		var can bool
		switch {
		case st.Uid == cred.Uid:
			can = perm&0o100 != 0
		case st.Gid == cred.Gid:
			can = perm&0o010 != 0
		default:
			can = perm&0o001 != 0
		}
		if !can {
			return fmt.Errorf("pgcluster: directory %s (mode %04o, owner uid %d) is not traversable by OS user %q (uid %d), which runs PostgreSQL because this process runs as root: chmod o+x it (t.TempDir and os.MkdirTemp create 0700 directories) or use a data directory elsewhere", d, perm, st.Uid, runAsUser, cred.Uid)
		}
		if filepath.Dir(d) == d {
			return nil
		}
	}
}

// checkOwner checks that an existing cluster belongs to the user of cred.
func checkOwner(pgData string, cred *syscall.Credential) error {
	fi, err := os.Stat(pgData)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != cred.Uid {
		return fmt.Errorf("pgcluster: cluster directory %s is owned by uid %d, not by OS user %q (uid %d) that runs PostgreSQL: chown -R it or remove it", pgData, st.Uid, runAsUser, cred.Uid)
	}
	return nil
}

// mkdirAllMode creates dir and missing parents. Parents get mode 0755 and
// dir gets mode, regardless of the umask. Existing directories are left
// alone.
func mkdirAllMode(dir string, mode os.FileMode) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		_, err := os.Stat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		m := os.FileMode(0o755)
		if i == 0 {
			m = mode
		}
		if err := os.Mkdir(missing[i], m); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue // created concurrently; not ours to chmod
			}
			return err
		}
		if err := os.Chmod(missing[i], m); err != nil {
			return err
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// writeFileAtomic writes data to p via a temporary file and a rename.
func writeFileAtomic(p string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// lockDataDir takes an exclusive flock on DataDir/pg.lock, waiting while
// another process (or goroutine) holds it, bounded by ctx.
func lockDataDir(ctx context.Context, dataDir string, logger *slog.Logger) (unlock func(), err error) {
	p := filepath.Join(dataDir, lockName)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: open lock file: %w", err)
	}
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("pgcluster: lock %s: %w", p, err)
		}
		if !logged {
			logger.Info("waiting for another process starting PostgreSQL on the same data directory", "lock", p)
			logged = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("pgcluster: waiting for lock %s: %w", p, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
