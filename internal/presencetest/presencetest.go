// Package presencetest holds what the tests of several presenced packages
// share: a TestMain that checks for leaked goroutines and an in-memory
// event log. It imports only the domain package and goleak, so that the
// tests of every package can use it, package sse's internal tests
// included; helpers that need a database or a node sit beside those
// (db/dbtest, node/nodetest).
package presencetest

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Main runs the tests of a package, then cleanups (for instance
// dbtest.Stop), and fails the run when the tests passed but left
// goroutines behind. Call it from TestMain:
//
//	func TestMain(m *testing.M) { presencetest.Main(m, dbtest.Stop) }
func Main(m *testing.M, cleanups ...func()) {
	code := m.Run()
	for _, f := range cleanups {
		f()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
