package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNoPgBouncer is returned when the pgbouncer binary cannot be found.
var ErrNoPgBouncer = errors.New("pgcluster: no pgbouncer binary in PATH or /usr/sbin: install it (apt-get install pgbouncer, or make test-deps)")

// BouncerConfig configures StartBouncer.
type BouncerConfig struct {
	// Dir holds the configuration and the log; it must exist, and be
	// traversable by the postgres OS user when running as root.
	Dir string
	// TargetURL names the server every database is passed through to, and
	// the user and password the pooler logs in with (and accepts).
	TargetURL string
	// PoolMode is session, transaction or statement; default transaction.
	PoolMode string
	// PoolSize is the server connections per database and user; default 10.
	PoolSize int
}

// Bouncer is a running PgBouncer in front of a Cluster, for tests and
// measurements of presenced behind a pooler.
type Bouncer struct {
	port     int
	user     string
	password string
	log      string
	cmd      *exec.Cmd
	done     chan struct{}

	mu      sync.Mutex
	stopped bool
}

// StartBouncer starts pgbouncer in the foreground (as the postgres OS user
// when running as root: PgBouncer refuses to run as root) on a free port of
// 127.0.0.1, with plain password authentication of the target's superuser,
// and returns once it accepts connections.
func StartBouncer(ctx context.Context, cfg BouncerConfig) (*Bouncer, error) {
	if err := checkPlatform(); err != nil {
		return nil, err
	}
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if bin = "/usr/sbin/pgbouncer"; !isExecutable(bin) {
			return nil, ErrNoPgBouncer
		}
	}
	if cfg.PoolMode == "" {
		cfg.PoolMode = "transaction"
	}
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = 10
	}
	target, err := url.Parse(cfg.TargetURL)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: target URL: %w", err)
	}
	password, _ := target.User.Password()
	user := target.User.Username()
	runAs, err := runAsIfRoot()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	b := &Bouncer{port: port, user: user, password: password, log: filepath.Join(cfg.Dir, "pgbouncer.log"), done: make(chan struct{})}
	users := filepath.Join(cfg.Dir, "pgbouncer.users")
	if err := os.WriteFile(users, []byte(fmt.Sprintf("%q %q\n", user, password)), 0o600); err != nil {
		return nil, err
	}
	ini := filepath.Join(cfg.Dir, "pgbouncer.ini")
	conf := fmt.Sprintf(`[databases]
* = host=%s port=%s

[pgbouncer]
listen_addr = %s
listen_port = %d
unix_socket_dir =
auth_type = plain
auth_file = %s
pool_mode = %s
default_pool_size = %d
max_client_conn = 1000
ignore_startup_parameters = extra_float_digits
`, target.Hostname(), target.Port(), listenHost, port, users, cfg.PoolMode, cfg.PoolSize)
	if err := os.WriteFile(ini, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(b.log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	for _, p := range []string{users, ini} {
		if err := chownTo(p, runAs); err != nil {
			return nil, err
		}
	}
	b.cmd = exec.Command(bin, ini)
	b.cmd.Env = cleanEnv()
	b.cmd.Stdout, b.cmd.Stderr = logf, logf
	b.cmd.SysProcAttr = sysProcAttr(runAs)
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgcluster: start pgbouncer: %w", err)
	}
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	addr := net.JoinHostPort(listenHost, strconv.Itoa(port))
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return b, nil
		}
		select {
		case <-b.done:
			return nil, fmt.Errorf("pgcluster: pgbouncer exited at start\n%s", outputSection(b.log, readTail(b.log)))
		case <-ctx.Done():
			_ = b.Stop()
			return nil, fmt.Errorf("pgcluster: waiting for pgbouncer: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// DatabaseURL returns the URL of database name through the pooler.
func (b *Bouncer) DatabaseURL(name string) string {
	return (&url.URL{Scheme: "postgres", User: url.UserPassword(b.user, b.password),
		Host: net.JoinHostPort(listenHost, strconv.Itoa(b.port)), Path: "/" + name, RawQuery: "sslmode=disable"}).String()
}

// Port returns the port the pooler listens on.
func (b *Bouncer) Port() int { return b.port }

// Stop stops pgbouncer (SIGINT: safe shutdown) and waits for it.
func (b *Bouncer) Stop() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return nil
	}
	b.stopped = true
	_ = b.cmd.Process.Signal(os.Interrupt) // SIGINT
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
	return nil
}

// LogTail returns the end of the pooler's log, for a failing test.
func (b *Bouncer) LogTail() string { return strings.TrimSpace(string(readTail(b.log))) }
