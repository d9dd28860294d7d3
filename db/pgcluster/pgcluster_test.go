//go:build unix

package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/presencetest"
)

// fastSettings make the test clusters fast; durability does not matter.
var fastSettings = map[string]string{
	"fsync":              "off",
	"synchronous_commit": "off",
	"full_page_writes":   "off",
}

// testDataDir returns a not yet existing data directory in a temporary
// directory that the postgres OS user can traverse when we run as root.
func testDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		// t.TempDir makes 0700 directories: <root>/<TestName…>/<nnn>.
		for _, d := range []string{dir, filepath.Dir(dir)} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
	}
	return filepath.Join(dir, "data")
}

func startCluster(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("Stop in cleanup: %v", err)
		}
	})
	return c
}

// psql runs one SQL command through the psql of the cluster's BinDir and
// returns its unaligned, tuples-only output.
func psql(t *testing.T, c *Cluster, dbURL, sql string) (string, error) {
	t.Helper()
	bin := filepath.Join(c.BinDir(), "psql")
	if !isExecutable(bin) {
		t.Skipf("no psql in %s", c.BinDir())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dbURL, "-c", sql)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func mustPsql(t *testing.T, c *Cluster, dbURL, sql string) string {
	t.Helper()
	out, err := psql(t, c, dbURL, sql)
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
	return out
}

func readPortFile(t *testing.T, dataDir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, portName))
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStartStopRestart(t *testing.T) {
	t.Parallel()
	requireBinDir(t)
	dataDir := testDataDir(t)
	var logs presencetest.SyncBuffer
	cfg := Config{
		DataDir:  dataDir,
		Settings: fastSettings,
		Logger:   slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}

	// First start: initdb.
	c1 := startCluster(t, cfg)
	if c1.DataDir() != dataDir {
		t.Errorf("DataDir() = %q, want %q", c1.DataDir(), dataDir)
	}
	if got := readPortFile(t, dataDir); got != c1.Port() {
		t.Errorf("pg.port = %d, Port() = %d", got, c1.Port())
	}
	if !strings.Contains(logs.String(), "initialising PostgreSQL cluster") {
		t.Errorf("first start did not log initdb:\n%s", logs.String())
	}
	for _, want := range []string{"PostgreSQL ready", "port=" + strconv.Itoa(c1.Port()), "password_file=", "psql=", dataDir} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}

	pwPath := filepath.Join(dataDir, passwordName)
	fi, err := os.Stat(pwPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("password file mode = %v, want 0600", fi.Mode().Perm())
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Geteuid() {
		t.Errorf("password file owned by uid %d, want %d", st.Uid, os.Geteuid())
	}
	password, err := os.ReadFile(pwPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.TrimSpace(string(password))); n < 26 {
		t.Errorf("password has %d characters, want >= 26 (128 bits)", n)
	}
	if strings.Contains(logs.String(), strings.TrimSpace(string(password))) {
		t.Error("the password appears in the log")
	}

	if got := mustPsql(t, c1, c1.URL(), "select 1"); got != "1" {
		t.Errorf("select 1 = %q", got)
	}
	mustPsql(t, c1, c1.URL(), "create database presenced_test")
	if got := mustPsql(t, c1, c1.DatabaseURL("presenced_test"), "select current_database()"); got != "presenced_test" {
		t.Errorf("current_database() = %q", got)
	}
	// scram-sha-256 is enforced on TCP.
	bad := strings.Replace(c1.URL(), strings.TrimSpace(string(password)), "wrong", 1)
	if out, err := psql(t, c1, bad, "select 1"); err == nil || !strings.Contains(out, "password authentication failed") {
		t.Errorf("connecting with a wrong password: err=%v out=%q", err, out)
	}

	// A second Start while the server still runs (as after a crash of the
	// process that started it) reuses the server.
	logs.Reset()
	c2 := startCluster(t, cfg)
	if c2.Port() != c1.Port() {
		t.Errorf("reused server port = %d, want %d", c2.Port(), c1.Port())
	}
	if !strings.Contains(logs.String(), "reusing PostgreSQL server") {
		t.Errorf("second start did not log reuse:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "initialising") {
		t.Errorf("second start ran initdb:\n%s", logs.String())
	}
	mustPsql(t, c2, c2.URL(), "select 1")

	// Stop, twice, from both handles.
	if err := c2.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := c2.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := c1.Stop(); err != nil {
		t.Errorf("Stop of an already stopped server: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, pgDataName, "postmaster.pid")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("postmaster.pid after Stop: %v", err)
	}

	// Restart with the old port taken: a new port, same cluster and password.
	oldPort := c1.Port()
	l, err := net.Listen("tcp", net.JoinHostPort(listenHost, strconv.Itoa(oldPort)))
	if err != nil {
		t.Fatalf("occupy old port: %v", err)
	}
	defer l.Close()
	logs.Reset()
	c3 := startCluster(t, cfg)
	if c3.Port() == oldPort {
		t.Errorf("restart used the taken port %d", oldPort)
	}
	if got := readPortFile(t, dataDir); got != c3.Port() {
		t.Errorf("pg.port = %d after restart, Port() = %d", got, c3.Port())
	}
	if strings.Contains(logs.String(), "initialising") {
		t.Errorf("restart ran initdb:\n%s", logs.String())
	}
	if got, _ := os.ReadFile(pwPath); !bytes.Equal(got, password) {
		t.Error("password file changed on restart")
	}
	if c3.URL() != strings.Replace(c1.URL(), ":"+strconv.Itoa(oldPort)+"/", ":"+strconv.Itoa(c3.Port())+"/", 1) {
		t.Errorf("URL changed beyond the port: %s vs %s", c3.URL(), c1.URL())
	}
	// The database created before the restart is still there.
	mustPsql(t, c3, c3.DatabaseURL("presenced_test"), "select 1")
	if err := c3.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := c3.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestSettingsApplied(t *testing.T) {
	t.Parallel()
	requireBinDir(t)
	settings := map[string]string{
		"fsync":              "off",
		"synchronous_commit": "off",
		"full_page_writes":   "off",
		"work_mem":           "7MB",
		// Values with spaces, quotes and $ survive pg_ctl's shell.
		"search_path":  `"$user", public`,
		"cluster_name": "it's a test",
	}
	c := startCluster(t, Config{DataDir: testDataDir(t), Settings: settings, Logger: slog.New(slog.DiscardHandler)})
	for name, want := range map[string]string{
		"fsync":        "off",
		"work_mem":     "7MB",
		"search_path":  `"$user", public`,
		"cluster_name": "it's a test",
		// Managed by Start.
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": "",
		"port":                    strconv.Itoa(c.Port()),
		"password_encryption":     "scram-sha-256",
		"server_encoding":         "UTF8",
	} {
		if got := mustPsql(t, c, c.URL(), "show "+name); got != want {
			t.Errorf("SHOW %s = %q, want %q", name, got, want)
		}
	}
}

func TestStartFailureShowsServerLog(t *testing.T) {
	t.Parallel()
	requireBinDir(t)
	dataDir := testDataDir(t)
	settings := map[string]string{"fsync": "off", "shared_buffers": "bogus"}
	c, err := Start(context.Background(), Config{DataDir: dataDir, Settings: settings, Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		c.Stop()
		t.Fatal("Start with an invalid setting succeeded")
	}
	for _, want := range []string{"pg_ctl start", filepath.Join(dataDir, logName), `invalid value for parameter "shared_buffers"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestSettingsRejected(t *testing.T) {
	t.Parallel()
	for _, s := range []map[string]string{
		{"port": "5432"},
		{"listen_addresses": "*"},
		{"Unix_Socket_Directories": "/tmp"},
		{"bad name": "x"},
		{"work_mem": "1MB\n"},
	} {
		_, err := Start(context.Background(), Config{DataDir: t.TempDir(), Settings: s, Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			t.Errorf("Start with settings %v succeeded", s)
		}
	}
}

func TestNotTraversable(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("only relevant when running as root")
	}
	if _, err := lookupRunAs(); err != nil {
		t.Skip(err)
	}
	binDir := requireBinDir(t)
	closed := t.TempDir()
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Config{DataDir: filepath.Join(closed, "data"), BinDir: binDir, Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		t.Fatal("Start succeeded below a 0700 root directory")
	}
	if !strings.Contains(err.Error(), "directory "+closed+" ") || !strings.Contains(err.Error(), "not traversable") {
		t.Errorf("error does not name %s: %v", closed, err)
	}
}

func TestStartCancelled(t *testing.T) {
	t.Parallel()
	binDir := requireBinDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	_, err := Start(ctx, Config{DataDir: testDataDir(t), BinDir: binDir, Settings: fastSettings, Logger: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Start with a cancelled context: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Start with a cancelled context took %v", d)
	}
}
