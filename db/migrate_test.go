package db_test

import (
	"testing"

	"github.com/presenced/presenced/db/dbtest"
)

// Every migration rolls back cleanly and applies again: operators rely on
// "presenced migrate down" when a release goes wrong.
func TestMigrationsDownAndUpAgain(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	m, err := d.NewMigrator()
	ok(t, err)
	defer m.Close()
	status, err := m.Status(ctx)
	ok(t, err)
	for range status {
		if _, err := m.Down(ctx); err != nil {
			t.Fatalf("down: %v", err)
		}
	}
	var tables int
	ok(t, d.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version'`).Scan(&tables))
	if tables != 0 {
		t.Fatalf("%d tables left after rolling everything back", tables)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	mustAgent(t, d, "a1")
}
