package db_test

import (
	"testing"

	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
)

// The pool size: DefaultMaxConns unless the URL or the field says
// otherwise (docs/performance.md: pgx's default of 4 starved HTTP writes).
func TestPoolSize(t *testing.T) {
	url := dbtest.NewDatabase(t)
	for _, tc := range []struct {
		name  string
		url   string
		field int32
		want  int32
	}{
		{"default", url, 0, db.DefaultMaxConns()},
		{"from the URL", url + "&pool_max_conns=3", 0, 3},
		{"from the field", url + "&pool_max_conns=3", 5, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := db.NewDB(tc.url)
			d.MaxConns = tc.field
			if err := d.Open(t.Context()); err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if got := d.Pool().Stat().MaxConns(); got != tc.want {
				t.Errorf("pool size %d, want %d", got, tc.want)
			}
		})
	}
	if db.DefaultMaxConns() < 8 {
		t.Errorf("DefaultMaxConns() = %d, want at least 8", db.DefaultMaxConns())
	}
}
