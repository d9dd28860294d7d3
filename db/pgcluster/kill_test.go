//go:build unix

package pgcluster

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Kill is a machine's death: a backend in the middle of a statement dies
// with the postmaster rather than finishing it (and committing) on its
// own. A CPU-bound statement never checks for the postmaster's death, so
// it would run on for a minute if only the postmaster were killed.
func TestKillTakesTheBackends(t *testing.T) {
	t.Parallel()
	requireBinDir(t)
	c := startCluster(t, Config{DataDir: testDataDir(t), Settings: fastSettings})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	busy := make(chan error, 1)
	go func() {
		_, err := conn.Exec(ctx, "SELECT count(*) FROM generate_series(1, 10000000000)")
		busy <- err
	}()
	time.Sleep(200 * time.Millisecond) // the statement is running

	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("backend %d still runs 5 s after Kill", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := <-busy; err == nil {
		t.Fatal("the statement of a killed server succeeded")
	}
}

// alive reports whether process pid runs: it exists and is not a zombie
// (a container's init may never reap the orphans it inherits).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) // no /proc: trust kill
	}
	// pid (comm) state ...: comm may hold spaces, the state follows the last ')'.
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) == 0 || fields[0] != "Z"
}
