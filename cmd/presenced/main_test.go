package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/db/dbtest"
	"github.com/presenced/presenced/internal/presencetest"
)

func TestMain(m *testing.M) { presencetest.Main(m, dbtest.Stop) }

func runCmd(t *testing.T, ctx context.Context, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestCommandLine(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	out, _, err := runCmd(t, ctx, "version")
	if err != nil || !strings.HasPrefix(out, "presenced ") {
		t.Fatalf("version: %q %v", out, err)
	}
	out, _, err = runCmd(t, ctx, "help")
	if err != nil || !strings.Contains(out, "presenced serve") || !strings.Contains(out, "presenced migrate") {
		t.Fatalf("help: %q %v", out, err)
	}
	_, errOut, err := runCmd(t, ctx, "serve", "--help")
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(errOut, "$PRESENCED_ADDR") || !strings.Contains(errOut, "$DATABASE_URL") {
		t.Fatalf("serve --help: %q %v", errOut, err)
	}
	_, _, err = runCmd(t, ctx, "frobnicate")
	if exitCode(err) != 2 {
		t.Fatalf("unknown command: %v", err)
	}
	_, _, err = runCmd(t, ctx, "migrate", "sideways", "--database-url", "postgres://x")
	if exitCode(err) != 2 {
		t.Fatalf("bad migrate action: %v", err)
	}
	_, _, err = runCmd(t, ctx, "serve", "--presence-batch", "0", "--database-url", "postgres://x")
	if exitCode(err) != 2 {
		t.Fatalf("--presence-batch 0: %v", err)
	}
	_, _, err = runCmd(t, ctx, "serve", "--sse-deliverers", "-1", "--database-url", "postgres://x")
	if exitCode(err) != 2 {
		t.Fatalf("--sse-deliverers -1: %v", err)
	}
}

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t) // migrated already
	out, _, err := runCmd(t, t.Context(), "migrate", "status", "--database-url", url)
	if err != nil || !strings.Contains(out, "00001_core.sql") || !strings.Contains(out, "applied") {
		t.Fatalf("status: %q %v", out, err)
	}
	out, _, err = runCmd(t, t.Context(), "migrate", "up", "--database-url", url)
	if err != nil || !strings.Contains(out, "no pending migrations") {
		t.Fatalf("up: %q %v", out, err)
	}
}

func TestServeStartsAndStops(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, _, err := runCmd(t, ctx, "serve", "--addr", addr, "--database-url", url, "--data-dir", t.TempDir(), "--log-level", "warn")
		done <- err
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel() // what SIGINT does
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// The help of a command lists its flags by section, each with its
// environment variable and default.
func TestHelpGroupsFlagsWithTheirEnvironment(t *testing.T) {
	t.Parallel()
	_, errOut, err := runCmd(t, t.Context(), "help", "serve")
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("help serve: %v", err)
	}
	for _, want := range []string{"Network:", "Database:", "Logging:", "Security:",
		"--addr string", "$PRESENCED_ADDR, default 127.0.0.1:8080", "--log-format string", "$PRESENCED_LOG_FORMAT, default text",
		"--presence-batch int", "$PRESENCED_PRESENCE_BATCH, default 256", "--sse-deliverers int", "$PRESENCED_SSE_DELIVERERS"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("help serve lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Index(errOut, "Network:") > strings.Index(errOut, "Security:") {
		t.Error("sections out of order")
	}
	out, _, err := runCmd(t, t.Context(), "help")
	if err != nil || !strings.Contains(out, "/metrics") || !strings.Contains(out, "/openapi.json") || !strings.Contains(out, "access_token") {
		t.Fatalf("help: %v\n%s", err, out)
	}
}

// presenced export writes a month of spells as the retention's CSV; a bad
// month is a usage error.
func TestExportCommand(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	if _, err := dbtest.MustOpenPool(t, url).Exec(t.Context(), `SELECT spells_partitions_ensure('2026-01-01Z', '2026-03-01Z');
		INSERT INTO agents (id, name) VALUES ('a1', 'A');
		INSERT INTO spells (agent_id, status_id, source, started_at, ended_at) VALUES
		('a1', 'busy', 'manual', '2026-01-10 10:00Z', '2026-01-10 12:00Z'),
		('a1', 'meal', 'manual', '2026-01-10 12:00Z', '2026-02-02 09:00Z'),
		('a1', 'available', 'manual', '2026-02-02 09:00Z', NULL)`); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "jan.csv")
	out, _, err := runCmd(t, t.Context(), "export", "2026-01", "--out", file, "--database-url", url)
	if err != nil || !strings.Contains(out, "wrote "+file) {
		t.Fatalf("export: %q %v", out, err)
	}
	csv, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "id,agent_id,status_id,") ||
		!strings.Contains(lines[1], ",busy,") || !strings.Contains(lines[2], ",meal,") {
		t.Fatalf("January's spells:\n%s", csv)
	}
	for _, args := range [][]string{{"export"}, {"export", "2026-13"}, {"export", "2026-01", "2026-02"}} {
		_, _, err := runCmd(t, t.Context(), append(args, "--database-url", url)...)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
