package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/presenced/presenced/db"
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

// openCommandDB opens the database of a one-shot command (migrate, token,
// export), logging to stderr as cfg says: the database (the private
// cluster started if needed) and a db.DB on it. closeAll closes the DB,
// then stops the cluster.
func openCommandDB(ctx context.Context, cfg Config, stderr io.Writer) (d *db.DB, closeAll func(), err error) {
	log, err := cfg.logger(stderr)
	if err != nil {
		return nil, nil, err
	}
	database, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	d = db.NewDB(database.URL)
	d.Logger = log
	if err := d.Open(ctx); err != nil {
		database.Close()
		return nil, nil, err
	}
	return d, func() { d.Close(); database.Close() }, nil
}
