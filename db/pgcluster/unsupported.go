//go:build !unix

package pgcluster

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"syscall"
)

// pgcluster drives PostgreSQL the Unix way: pg_ctl -o through /bin/sh,
// process groups, flock and, under root, the postgres OS user. Elsewhere
// the package still builds, so that presenced does (with a database URL),
// but Start and StartBouncer return errUnsupported. These stand in for
// runas_unix.go and lock_unix.go.

var errUnsupported = fmt.Errorf("pgcluster: a private PostgreSQL needs a Unix system, not %s: pass --database-url", runtime.GOOS)

func checkPlatform() error { return errUnsupported }

func killServer(int) error { return errUnsupported }

func sysProcAttr(*osUser) *syscall.SysProcAttr { return nil }

func checkTraversable(string, *osUser) error { return errUnsupported }

func checkOwner(string, *osUser) error { return errUnsupported }

func lockDataDir(context.Context, string, *slog.Logger) (func(), error) {
	return nil, errUnsupported
}
