package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Starting and stopping the server with pg_ctl.

const (
	startTries  = 3
	defaultWait = 60 * time.Second
)

// reservedSettings are managed by Start and may not be overridden through
// Config.Settings.
var reservedSettings = []string{"port", "listen_addresses", "unix_socket_directories"}

// Stop stops the server with `pg_ctl stop -m fast -w` and waits for it to
// exit; a throw-away cluster (Config.DataDir empty) then loses its
// directory. It is safe to call more than once and from several
// goroutines; calls after the first successful one return nil.
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
	if c.temporary {
		if err := os.RemoveAll(c.dataDir); err != nil {
			return fmt.Errorf("pgcluster: remove the throw-away data directory: %w", err)
		}
	}
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
