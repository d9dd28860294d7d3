package pgcluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// ensureInitialised runs initdb unless DataDir/pgdata already holds a
// cluster.
func (c *Cluster) ensureInitialised(ctx context.Context, settings []string) error {
	if _, err := os.Stat(filepath.Join(c.pgData, "PG_VERSION")); err == nil {
		if c.runAs != nil {
			if err := checkOwner(c.pgData, c.runAs); err != nil {
				return err
			}
		}
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pgcluster: %w", err)
	}

	// No cluster. Leftovers of an interrupted initdb are not a cluster.
	if entries, err := os.ReadDir(c.pgData); err == nil && len(entries) > 0 {
		c.logger.Warn("removing leftovers of an interrupted initdb", "dir", c.pgData)
		if err := os.RemoveAll(c.pgData); err != nil {
			return fmt.Errorf("pgcluster: remove incomplete cluster: %w", err)
		}
	}
	if err := os.Mkdir(c.pgData, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if err := c.chown(c.pgData); err != nil {
		return err
	}

	password := rand.Text() // 26 base32 characters: 130 bits
	if err := writeFileAtomic(filepath.Join(c.dataDir, passwordName), []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgcluster: write password file: %w", err)
	}
	// initdb (running as the postgres user) must read the password, which
	// pg.password (owned by the caller) does not allow: use a temporary copy.
	pwFile := filepath.Join(c.dataDir, "initdb.pwfile")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgcluster: write initdb password file: %w", err)
	}
	defer os.Remove(pwFile)
	if err := c.chown(pwFile); err != nil {
		return err
	}

	args := []string{
		"-D", c.pgData,
		"--auth=scram-sha-256",
		"--username=" + superuser,
		"--pwfile=" + pwFile,
		"--encoding=UTF8",
		"--no-locale",
	}
	if slices.Contains(settings, "fsync=off") {
		args = append(args, "--no-sync") // the server will not sync either
	}
	c.logger.Info("initialising PostgreSQL cluster", "data_dir", c.pgData, "bin_dir", c.binDir)
	start := time.Now()
	cmd := c.command(ctx, "initdb", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return fmt.Errorf("pgcluster: initdb failed: %w\n%s", err, outputSection("initdb output", out))
	}
	c.logger.Debug("initdb done", "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}
