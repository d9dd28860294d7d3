package pgcluster

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// StartDatabase starts a cluster as Start does and creates the database
// name in it unless it is there already (a cluster reused from an earlier
// run keeps its databases): the one way presenced, its tests and its load
// program get a database of their own. The database's URL is
// c.DatabaseURL(name). When the database cannot be made, the cluster is
// stopped again.
func StartDatabase(ctx context.Context, cfg Config, name string) (*Cluster, error) {
	c, err := Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := c.createDatabase(ctx, name); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return c, nil
}

// createDatabase creates the database name unless it exists. CREATE
// DATABASE takes no parameters: the name is quoted as an identifier.
func (c *Cluster) createDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		return fmt.Errorf("pgcluster: connect to the private PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("pgcluster: look for database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("pgcluster: create database %q: %w", name, err)
	}
	return nil
}
