package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/presenced/presenced/db/pgcluster"
)

// databaseName is the database presenced creates in its private cluster.
const databaseName = "presenced"

// localDatabase is where the data lives: the URL to connect to and, when
// presenced started a private PostgreSQL for it, that cluster.
type localDatabase struct {
	URL     string
	Cluster *pgcluster.Cluster
}

// openDatabase returns the configured database URL, or starts the private
// cluster under the data directory and creates the presenced database in it.
func openDatabase(ctx context.Context, cfg Config, log *slog.Logger) (*localDatabase, error) {
	if cfg.DatabaseURL != "" {
		return &localDatabase{URL: cfg.DatabaseURL}, nil
	}
	cluster, err := pgcluster.Start(ctx, pgcluster.Config{DataDir: cfg.DataDir, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := ensureDatabase(ctx, cluster.URL(), databaseName); err != nil {
		_ = cluster.Stop()
		return nil, err
	}
	url := cluster.DatabaseURL(databaseName)
	log.Info("using the private PostgreSQL; open a shell on it with: presenced psql --data-dir "+cfg.DataDir,
		"data_dir", cluster.DataDir(), "port", cluster.Port(), "database", databaseName)
	return &localDatabase{URL: url, Cluster: cluster}, nil
}

// Close stops the private cluster, if any.
func (d *localDatabase) Close() error {
	if d == nil || d.Cluster == nil {
		return nil
	}
	return d.Cluster.Stop()
}

// ensureDatabase creates the database unless it exists. CREATE DATABASE
// cannot run in a transaction or take parameters, so the name is a constant.
func ensureDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to the private PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return err
}
