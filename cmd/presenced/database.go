package main

import (
	"context"
	"errors"
	"log/slog"

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
// cluster under the data directory with the presenced database in it.
func openDatabase(ctx context.Context, cfg Config, log *slog.Logger) (*localDatabase, error) {
	if cfg.DatabaseURL != "" {
		return &localDatabase{URL: cfg.DatabaseURL}, nil
	}
	if cfg.DataDir == "" {
		// pgcluster would start a throw-away cluster, whose data Stop deletes.
		return nil, errors.New("the data directory is empty: name one for the private PostgreSQL (--data-dir) or pass --database-url")
	}
	cluster, err := pgcluster.StartDatabase(ctx, pgcluster.Config{DataDir: cfg.DataDir, Logger: log}, databaseName)
	if err != nil {
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
