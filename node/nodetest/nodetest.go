// Package nodetest starts presenced nodes for tests, as db/dbtest gives
// them databases.
package nodetest

import (
	"log/slog"
	"testing"

	"github.com/presenced/presenced/node"
)

// AdminToken is the bootstrap admin token of every node MustOpen starts.
const AdminToken = "nodetest-admin-token-0123456789abcdef0123456789"

// MustOpen starts a node on the database at url, on a free port of
// 127.0.0.1, and closes it when tb ends.
func MustOpen(tb testing.TB, url string) *node.Node {
	tb.Helper()
	return MustOpenConfig(tb, node.Config{DatabaseURL: url})
}

// MustOpenConfig starts a node with cfg and closes it when tb ends. What
// cfg leaves empty: a free port of 127.0.0.1, AdminToken, and a logger
// that discards.
func MustOpenConfig(tb testing.TB, cfg node.Config) *node.Node {
	tb.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.AdminToken == "" {
		cfg.AdminToken = AdminToken
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := node.New(cfg)
	if err := n.Open(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = n.Close() })
	return n
}
