// Package dbtest gives tests a real PostgreSQL: one private cluster per test
// process (or the server named by PRESENCED_TEST_DATABASE_URL), a template
// database migrated once, and a fresh clone of it for every test, so tests
// run in parallel without seeing each other's rows.
package dbtest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/pgcluster"
)

// EnvURL names an existing server to use instead of a private cluster (a
// superuser URL; each process makes its own template and databases there).
const EnvURL = "PRESENCED_TEST_DATABASE_URL"

var (
	once     sync.Once
	onceErr  error
	cluster  *pgcluster.Cluster
	adminURL string
	template string
	seq      atomic.Int64
	createMu sync.Mutex // CREATE DATABASE ... TEMPLATE wants no other user of the template
)

// Main runs the tests of a package and stops the private cluster after
// them. Call it from TestMain: os.Exit(dbtest.Main(m)). A package that
// also checks for leaked goroutines calls presencetest.Main(m, dbtest.Stop)
// instead.
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the private cluster, if one was started, and removes it.
func Stop() {
	if cluster != nil {
		_ = cluster.Stop()
		cluster = nil
	}
}

// setup makes the template: on a throw-away private cluster, or on the
// server EnvURL names.
func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	template = fmt.Sprintf("presenced_tmpl_%d", os.Getpid())
	if adminURL = os.Getenv(EnvURL); adminURL == "" {
		c, err := pgcluster.StartDatabase(ctx, pgcluster.Config{
			Logger: slog.New(slog.DiscardHandler),
			// Durability buys nothing in a throw-away cluster.
			Settings: map[string]string{"fsync": "off", "synchronous_commit": "off",
				"full_page_writes": "off", "max_connections": "300"},
		}, template)
		if err != nil {
			return err
		}
		cluster, adminURL = c, c.URL()
	} else {
		// A server shared with other runs: a template an earlier process
		// with the same pid left behind goes first.
		if err := exec(ctx, adminURL, "DROP DATABASE IF EXISTS "+template); err != nil {
			return err
		}
		if err := exec(ctx, adminURL, "CREATE DATABASE "+template); err != nil {
			return err
		}
	}
	d := db.NewDB(DatabaseURL(template))
	if err := d.Open(ctx); err != nil {
		return err
	}
	defer d.Close()
	return d.Migrate(ctx)
}

// DatabaseURL returns the URL of a database on the test server.
func DatabaseURL(name string) string {
	if cluster != nil {
		return cluster.DatabaseURL(name)
	}
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Password, cfg.Host, cfg.Port, name)
}

// NewDatabase creates a fresh, migrated database for t, dropped when t ends,
// and returns its URL.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	once.Do(func() { onceErr = setup() })
	if onceErr != nil {
		tb.Fatalf("dbtest: start PostgreSQL: %v", onceErr)
	}
	name := fmt.Sprintf("presenced_test_%d_%d", os.Getpid(), seq.Add(1))
	ctx := context.Background()
	createMu.Lock()
	err := exec(ctx, adminURL, "CREATE DATABASE "+name+" TEMPLATE "+template+" STRATEGY FILE_COPY")
	createMu.Unlock()
	if err != nil {
		tb.Fatalf("dbtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		_ = exec(context.Background(), adminURL, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return DatabaseURL(name)
}

// MustOpenDB returns an open *db.DB on a fresh database, closed when t ends.
func MustOpenDB(tb testing.TB) *db.DB {
	tb.Helper()
	d := db.NewDB(NewDatabase(tb))
	d.Logger = slog.New(slog.DiscardHandler) // expected reconnects would fill the test output
	if err := d.Open(context.Background()); err != nil {
		tb.Fatalf("dbtest: open: %v", err)
	}
	tb.Cleanup(func() { _ = d.Close() })
	return d
}

// MustOpenPool returns a pool of the test's own on the database at url,
// closed when tb ends, for a test that sets the scene in SQL behind the
// services' back: rows the API cannot make, a table dropped to provoke a
// failure, transactions held open. It has as many connections as a
// node's pool (db.DefaultMaxConns) and the services' UTC time zone.
func MustOpenPool(tb testing.TB, url string) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	cfg.MaxConns = db.DefaultMaxConns()
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("dbtest: open pool: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

func exec(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}
