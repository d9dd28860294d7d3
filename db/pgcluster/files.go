package pgcluster

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The files of Config.DataDir (see the package documentation) and of the
// cluster: postmaster.pid, the password, port, log and lock files. The
// lock itself (flock) is in lock_unix.go.

// File names inside Config.DataDir.
const (
	pgDataName   = "pgdata"
	passwordName = "pg.password"
	portName     = "pg.port"
	logName      = "postgresql.log"
	lockName     = "pg.lock"

	tailLines = 20
)

// passwordFile returns the path of the file holding the superuser password.
func (c *Cluster) passwordFile() string { return filepath.Join(c.dataDir, passwordName) }

// readPassword reads the superuser password kept in DataDir/pg.password.
func (c *Cluster) readPassword() error {
	pw, err := os.ReadFile(c.passwordFile())
	if err != nil {
		return fmt.Errorf("pgcluster: the cluster in %s exists but its password file cannot be read (remove %s to start from scratch): %w", c.pgData, c.dataDir, err)
	}
	c.password = strings.TrimSpace(string(pw))
	if c.password == "" {
		return fmt.Errorf("pgcluster: password file %s is empty (remove %s to start from scratch)", c.passwordFile(), c.dataDir)
	}
	return nil
}

// prepareLogFile creates the server log file so that the postgres user can
// append to it even though DataDir belongs to the caller.
func (c *Cluster) prepareLogFile() error {
	p := filepath.Join(c.dataDir, logName)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("pgcluster: create server log: %w", err)
	}
	f.Close()
	return c.chown(p)
}

// logTail returns the last lines of the server log, formatted for an error.
func (c *Cluster) logTail() string {
	p := filepath.Join(c.dataDir, logName)
	return outputSection(p, readTail(p))
}

// outputSection formats the last tailLines lines of out under a header.
func outputSection(title string, out []byte) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	body := strings.Join(lines, "\n")
	if strings.TrimSpace(body) == "" {
		body = "(empty)"
	}
	return fmt.Sprintf("--- %s (last %d lines) ---\n%s", title, tailLines, body)
}

// readTail returns up to the last 64 KiB of a file.
func readTail(p string) []byte {
	f, err := os.Open(p)
	if err != nil {
		return []byte(err.Error())
	}
	defer f.Close()
	const maxTail = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > maxTail {
		_, _ = f.Seek(fi.Size()-maxTail, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return b
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readPostmasterPID returns the pid and port recorded in postmaster.pid.
func readPostmasterPID(pgData string) (pid, port int, err error) {
	f, err := os.Open(filepath.Join(pgData, "postmaster.pid"))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(lines) < 4 {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	if len(lines) < 4 {
		return 0, 0, errors.New("postmaster.pid is incomplete")
	}
	if pid, err = strconv.Atoi(lines[0]); err != nil {
		return 0, 0, fmt.Errorf("postmaster.pid: bad pid: %w", err)
	}
	if port, err = strconv.Atoi(lines[3]); err != nil {
		return 0, 0, fmt.Errorf("postmaster.pid: bad port: %w", err)
	}
	return pid, port, nil
}

// mkdirAllMode creates dir and missing parents. Parents get mode 0755 and
// dir gets mode, regardless of the umask. Existing directories are left
// alone.
func mkdirAllMode(dir string, mode os.FileMode) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		_, err := os.Stat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		m := os.FileMode(0o755)
		if i == 0 {
			m = mode
		}
		if err := os.Mkdir(missing[i], m); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue // created concurrently; not ours to chmod
			}
			return err
		}
		if err := os.Chmod(missing[i], m); err != nil {
			return err
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// writeFileAtomic writes data to p via a temporary file and a rename.
func writeFileAtomic(p string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}
