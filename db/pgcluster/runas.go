package pgcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Running the server's programs: as the postgres OS user when we run as
// root (PostgreSQL refuses to run as root), in a process group of their
// own, without PG* environment variables. The Unix-only calls are in
// runas_unix.go.

// runAsUser is the OS user the server runs as when we run as root.
const runAsUser = "postgres"

// osUser is the user the server's processes run as.
type osUser struct{ uid, gid uint32 }

// lookupRunAs returns the postgres OS user.
func lookupRunAs() (*osUser, error) {
	u, err := user.Lookup(runAsUser)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: running as root, but PostgreSQL refuses to run as root and OS user %q cannot be found (%v): create it (e.g. useradd --system %s) or run as a non-root user", runAsUser, err, runAsUser)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("pgcluster: OS user %q has a non-numeric uid/gid %q/%q", runAsUser, u.Uid, u.Gid)
	}
	if uid == 0 {
		return nil, fmt.Errorf("pgcluster: OS user %q has uid 0; PostgreSQL refuses to run as root", runAsUser)
	}
	return &osUser{uid: uint32(uid), gid: uint32(gid)}, nil
}

// runAsIfRoot returns the postgres OS user when we run as root, else nil:
// the server's programs then run as we do.
func runAsIfRoot() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	return lookupRunAs()
}

// command prepares a server-side command: as the postgres user when we run
// as root, in its own process group, in the data directory, without PG*
// environment variables.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, name), args...)
	cmd.Dir = c.dataDir
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = sysProcAttr(c.runAs)
	// The postmaster forked by pg_ctl writes to the log file, but do not
	// hang forever should a descendant keep our output pipe open.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// chown gives p to the postgres user when we run as root.
func (c *Cluster) chown(p string) error {
	return chownTo(p, c.runAs)
}

// chownTo gives p to u; nil u leaves p alone.
func chownTo(p string, u *osUser) error {
	if u == nil {
		return nil
	}
	if err := os.Chown(p, int(u.uid), int(u.gid)); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}

// cleanEnv returns the environment without PG* variables, so that e.g.
// PGPORT or PGDATA cannot interfere with the explicit arguments.
func cleanEnv() []string {
	env := os.Environ()
	return slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "PG") })
}
