package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrNoBinaries is returned (possibly wrapped) when no PostgreSQL server
// binaries can be found. Its message tells the user what to do.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries found (looked in PATH, pg_config --bindir and /usr/lib/postgresql/*/bin): install PostgreSQL (e.g. apt-get install postgresql) or pass --database-url")

// requiredBinaries must all be present in a bin directory.
var requiredBinaries = []string{"initdb", "pg_ctl", "postgres"}

// binSearch describes where FindBinDir looks; tests inject their own roots.
type binSearch struct {
	path        string // PATH-style list searched for initdb and pg_config
	versionGlob string // glob of versioned bin directories, e.g. /usr/lib/postgresql/*/bin
}

// versionedBinGlob is the last place FindBinDir looks (Debian/Ubuntu layout).
var versionedBinGlob = "/usr/lib/postgresql/*/bin"

// FindBinDir finds a directory holding initdb, pg_ctl and postgres. It looks
// first in PATH (the directory of initdb, symlinks resolved), then at the
// output of `pg_config --bindir`, then at the highest version under
// /usr/lib/postgresql/*/bin (versions compared numerically). It returns
// ErrNoBinaries when nothing is found.
func FindBinDir() (string, error) {
	return findBinDir(binSearch{path: os.Getenv("PATH"), versionGlob: versionedBinGlob})
}

func findBinDir(s binSearch) (string, error) {
	// 1. PATH.
	if p := lookPathIn("initdb", s.path); p != "" {
		if real, err := filepath.EvalSymlinks(p); err == nil && hasBinaries(filepath.Dir(real)) == "" {
			return filepath.Dir(real), nil
		}
		if hasBinaries(filepath.Dir(p)) == "" {
			return filepath.Dir(p), nil
		}
	}
	// 2. pg_config --bindir.
	if p := lookPathIn("pg_config", s.path); p != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, p, "--bindir").Output()
		cancel()
		if dir := strings.TrimSpace(string(out)); err == nil && dir != "" && hasBinaries(dir) == "" {
			return dir, nil
		}
	}
	// 3. Highest version under the versioned glob.
	if s.versionGlob != "" {
		matches, _ := filepath.Glob(s.versionGlob)
		slices.SortFunc(matches, func(a, b string) int {
			return compareVersions(versionOf(b), versionOf(a)) // descending
		})
		for _, dir := range matches {
			if hasBinaries(dir) == "" {
				return dir, nil
			}
		}
	}
	return "", ErrNoBinaries
}

// versionOf returns the version component of a path like
// /usr/lib/postgresql/15/bin (the parent of the last element).
func versionOf(binDir string) string {
	return filepath.Base(filepath.Dir(binDir))
}

// compareVersions compares dotted versions numerically ("9.6" < "15" <
// "100"); non-numeric parts sort before numeric ones.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y string
		if i < len(as) {
			x = as[i]
		}
		if i < len(bs) {
			y = bs[i]
		}
		xn, xerr := strconv.Atoi(x)
		yn, yerr := strconv.Atoi(y)
		switch {
		case xerr == nil && yerr == nil:
			if c := xn - yn; c != 0 {
				return c
			}
		case xerr == nil:
			return 1
		case yerr == nil:
			return -1
		default:
			if c := strings.Compare(x, y); c != 0 {
				return c
			}
		}
	}
	return 0
}

// lookPathIn is exec.LookPath with an explicit PATH list. It returns "" when
// name is not found.
func lookPathIn(name, pathList string) string {
	for _, dir := range filepath.SplitList(pathList) {
		if dir == "" {
			continue // an empty element means ".", which we never want
		}
		p := filepath.Join(dir, name)
		if isExecutable(p) {
			return p
		}
	}
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// hasBinaries returns the first required binary missing from dir, or "".
func hasBinaries(dir string) string {
	for _, b := range requiredBinaries {
		if !isExecutable(filepath.Join(dir, b)) {
			return b
		}
	}
	return ""
}

// binDirError reports an explicitly configured BinDir that lacks a binary.
// It matches ErrNoBinaries with errors.Is.
type binDirError struct{ dir, missing string }

func (e *binDirError) Error() string {
	return fmt.Sprintf("PostgreSQL server binary %q not found in bin directory %s: install PostgreSQL (e.g. apt-get install postgresql), point the bin directory at its binaries, or pass --database-url", e.missing, e.dir)
}

func (e *binDirError) Is(target error) bool { return target == ErrNoBinaries }
