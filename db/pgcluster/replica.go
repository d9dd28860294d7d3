package pgcluster

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Streaming standbys (Config.StandbyOf), promotion and a sudden death, for
// tests of failover.

// ensureStandby makes DataDir/pgdata a base backup of primary, set up to
// stream from it, unless it already holds a cluster.
func (c *Cluster) ensureStandby(ctx context.Context, primary *Cluster) error {
	if _, err := os.Stat(filepath.Join(c.pgData, "PG_VERSION")); err == nil {
		return nil
	}
	if err := os.RemoveAll(c.pgData); err != nil {
		return fmt.Errorf("pgcluster: remove incomplete standby: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(c.dataDir, passwordName), []byte(primary.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgcluster: write password file: %w", err)
	}
	// pg_basebackup fills an empty directory, as the postgres user.
	if err := os.Mkdir(c.pgData, 0o700); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if err := c.chown(c.pgData); err != nil {
		return err
	}
	c.logger.Info("taking a base backup for a standby", "primary_port", primary.port, "data_dir", c.pgData)
	cmd := c.command(ctx, "pg_basebackup", "-D", c.pgData, "-h", listenHost, "-p", strconv.Itoa(primary.port),
		"-U", superuser, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync")
	cmd.Env = append(cmd.Env, "PGPASSWORD="+primary.password)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgcluster: pg_basebackup failed: %w\n%s", err, outputSection("pg_basebackup output", out))
	}
	return nil
}

// MultiHostURL returns a URL of database name that names every cluster
// given, in order, with target_session_attrs=read-write: a client tries
// them in turn and takes the one that accepts writes (the primary). The
// clusters must share the superuser password (a standby made with
// Config.StandbyOf does).
func MultiHostURL(name string, clusters ...*Cluster) string {
	hosts := make([]string, len(clusters))
	for i, c := range clusters {
		hosts[i] = net.JoinHostPort(listenHost, strconv.Itoa(c.port))
	}
	return (&url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(superuser, clusters[0].password),
		Host:     strings.Join(hosts, ","),
		Path:     "/" + name,
		RawQuery: "sslmode=disable&target_session_attrs=read-write",
	}).String()
}

// Promote ends recovery of a standby (pg_ctl promote -w): it becomes a
// primary on a new timeline.
func (c *Cluster) Promote(ctx context.Context) error {
	if out, err := c.pgCtl(ctx, "promote", "-D", c.pgData, "-w", "-t", "60"); err != nil {
		return fmt.Errorf("pgcluster: pg_ctl promote failed: %w\n%s%s", err, outputSection("pg_ctl output", out), c.logTail())
	}
	return nil
}

// Kill kills the server at once (SIGKILL), as a machine that dies would
// stop it: no shutdown checkpoint, no goodbye to clients or standbys. It
// kills the backends with the postmaster: a backend left running finishes
// the statement in hand, and a commit made after the "crash" would be a
// write no machine loss could make. Stop afterwards returns nil.
func (c *Cluster) Kill() error {
	pid, _, err := readPostmasterPID(c.pgData)
	if err != nil {
		return fmt.Errorf("pgcluster: kill: %w", err)
	}
	if err := killServer(pid); err != nil {
		return fmt.Errorf("pgcluster: kill postmaster %d: %w", pid, err)
	}
	return nil
}
