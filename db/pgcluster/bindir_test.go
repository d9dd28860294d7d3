//go:build unix

package pgcluster

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// requireBinDir skips the test when no PostgreSQL is installed.
func requireBinDir(t *testing.T) string {
	t.Helper()
	dir, err := FindBinDir()
	if errors.Is(err, ErrNoBinaries) {
		t.Skip("PostgreSQL server binaries not installed")
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestFindBinDir(t *testing.T) {
	t.Parallel()
	dir := requireBinDir(t)
	if missing := hasBinaries(dir); missing != "" {
		t.Errorf("FindBinDir() = %s, which lacks %s", dir, missing)
	}
	if !filepath.IsAbs(dir) {
		t.Errorf("FindBinDir() = %q, not absolute", dir)
	}
	t.Logf("FindBinDir() = %s", dir)
}

// fakeBinDir creates dir with executable stubs of the given binaries.
func fakeBinDir(t *testing.T, dir string, names ...string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFindBinDirSearchOrder(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	empty := fakeBinDir(t, filepath.Join(root, "empty"))
	onPath := fakeBinDir(t, filepath.Join(root, "onpath"), requiredBinaries...)
	fromPgConfig := fakeBinDir(t, filepath.Join(root, "frompgconfig"), requiredBinaries...)
	pgConfigDir := filepath.Join(root, "pgconfig")
	if err := os.MkdirAll(pgConfigDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pgConfigDir, "pg_config"), []byte("#!/bin/sh\necho "+fromPgConfig+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	badPgConfigDir := filepath.Join(root, "badpgconfig")
	if err := os.MkdirAll(badPgConfigDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(badPgConfigDir, "pg_config"), []byte("#!/bin/sh\necho "+empty+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A symlink to initdb on PATH resolves to the real bin directory.
	linkDir := filepath.Join(root, "links")
	if err := os.MkdirAll(linkDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(onPath, "initdb"), filepath.Join(linkDir, "initdb")); err != nil {
		t.Fatal(err)
	}

	versions := filepath.Join(root, "lib", "postgresql")
	for _, v := range []string{"9.6", "15", "16", "100"} {
		fakeBinDir(t, filepath.Join(versions, v, "bin"), requiredBinaries...)
	}
	fakeBinDir(t, filepath.Join(versions, "101", "bin"), "initdb", "pg_ctl") // incomplete: skipped
	glob := filepath.Join(versions, "*", "bin")

	list := func(dirs ...string) string { return strings.Join(dirs, string(os.PathListSeparator)) }
	for _, tc := range []struct {
		name string
		s    binSearch
		want string
	}{
		{"PATH first", binSearch{path: list(empty, onPath, pgConfigDir), versionGlob: glob}, onPath},
		{"PATH symlink resolved", binSearch{path: list(linkDir, pgConfigDir), versionGlob: glob}, onPath},
		{"pg_config second", binSearch{path: list(empty, pgConfigDir), versionGlob: glob}, fromPgConfig},
		{"useless pg_config skipped", binSearch{path: list(badPgConfigDir), versionGlob: glob}, filepath.Join(versions, "100", "bin")},
		{"highest version, numerically", binSearch{path: empty, versionGlob: glob}, filepath.Join(versions, "100", "bin")},
	} {
		got, err := findBinDir(tc.s)
		if err != nil || got != tc.want {
			t.Errorf("%s: findBinDir = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestErrNoBinaries(t *testing.T) {
	t.Parallel()
	const sentence = "no PostgreSQL server binaries found (looked in PATH, pg_config --bindir and /usr/lib/postgresql/*/bin): install PostgreSQL (e.g. apt-get install postgresql) or pass --database-url"
	if ErrNoBinaries.Error() != sentence {
		t.Errorf("ErrNoBinaries = %q", ErrNoBinaries)
	}
	empty := t.TempDir()
	_, err := findBinDir(binSearch{path: empty, versionGlob: filepath.Join(empty, "*", "bin")})
	if err != ErrNoBinaries {
		t.Fatalf("findBinDir with nothing installed: %v, want ErrNoBinaries", err)
	}
	if err.Error() != sentence {
		t.Errorf("message = %q", err)
	}

	// An explicit BinDir without binaries.
	missing := filepath.Join(empty, "no", "such", "bin")
	_, err = Start(context.Background(), Config{DataDir: filepath.Join(empty, "data"), BinDir: missing, Logger: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, ErrNoBinaries) {
		t.Fatalf("Start with a missing BinDir: %v, want an ErrNoBinaries error", err)
	}
	if !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "install PostgreSQL") {
		t.Errorf("message does not name the bin directory or the fix: %v", err)
	}
}

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want int // sign
	}{
		{"15", "16", -1}, {"16", "100", -1}, {"9.6", "15", -1}, {"9.6", "9.10", -1},
		{"15", "15", 0}, {"100", "15", 1}, {"devel", "15", -1},
	} {
		got := compareVersions(tc.a, tc.b)
		if (got < 0) != (tc.want < 0) || (got > 0) != (tc.want > 0) {
			t.Errorf("compareVersions(%q, %q) = %d, want sign %d", tc.a, tc.b, got, tc.want)
		}
	}
}
