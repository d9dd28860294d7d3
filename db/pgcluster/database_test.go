//go:build unix

package pgcluster

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// A throw-away cluster with a database: the database answers, a second
// StartDatabase on the same directory finds it there, and Stop removes the
// temporary directory.
func TestStartDatabase(t *testing.T) {
	t.Parallel()
	requireBinDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := StartDatabase(ctx, Config{Settings: fastSettings, Logger: slog.New(slog.DiscardHandler)}, "Odd Name")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	currentDatabase := func(c *Cluster) string {
		t.Helper()
		conn, err := pgx.Connect(ctx, c.DatabaseURL("Odd Name"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var name string
		if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		return name
	}
	if got := currentDatabase(c); got != "Odd Name" {
		t.Fatalf("current_database() = %q", got)
	}

	// The same directory again (the server still runs): the database is
	// found, not created twice.
	again, err := StartDatabase(ctx, Config{DataDir: c.DataDir(), Logger: slog.New(slog.DiscardHandler)}, "Odd Name")
	if err != nil {
		t.Fatalf("StartDatabase on an existing database: %v", err)
	}
	if got := currentDatabase(again); got != "Odd Name" {
		t.Fatalf("current_database() = %q", got)
	}

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.DataDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the throw-away data directory is still there after Stop: %v", err)
	}
}
