//go:build unix

package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/pgcluster"
	presencehttp "github.com/presenced/presenced/http"
	"github.com/presenced/presenced/node"
)

// env is the database under test and the nodes started on it.
type env struct {
	url       string
	pgVersion string
	cluster   *pgcluster.Cluster // the private PostgreSQL, unless -database-url
	db        *db.DB             // in-process services, for the direct ceiling and seeding
	// sql is the load program's own connections, for what it does behind
	// the services' back: seeding in bulk, resetting between rounds,
	// switching triggers off, and the report queries a reporting tool
	// runs on the report schema.
	sql   *pgxpool.Pool
	nodes []*childNode
}

func openEnv(ctx context.Context, o options) (_ *env, err error) {
	e := &env{url: o.databaseURL}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	if e.url == "" {
		// Durable, as in production: fsync and synchronous commit stay on.
		e.cluster, err = pgcluster.StartDatabase(ctx, pgcluster.Config{Logger: slog.New(slog.DiscardHandler),
			Settings: map[string]string{"max_connections": "200"}}, "presenced")
		if err != nil {
			return nil, err
		}
		e.url = e.cluster.DatabaseURL("presenced")
	}
	if e.sql, err = openSQL(ctx, e.url); err != nil {
		return nil, err
	}
	if o.databaseURL != "" {
		if _, err := e.sql.Exec(ctx, "DROP SCHEMA IF EXISTS report CASCADE; DROP SCHEMA public CASCADE; CREATE SCHEMA public"); err != nil {
			return nil, err
		}
	}
	// The same pool size as a node's (db.DefaultMaxConns: twice the
	// cores, at least 8), so that the direct ceiling and the HTTP figure
	// differ by HTTP alone. Without group commit: the direct figures are
	// of one transaction per change.
	e.db = db.NewDB(e.url)
	e.db.PresenceBatch = 1
	if err := e.db.Open(ctx); err != nil {
		return nil, err
	}
	if err := e.db.Migrate(ctx); err != nil {
		return nil, err
	}
	if err := e.sql.QueryRow(ctx, "SHOW server_version").Scan(&e.pgVersion); err != nil {
		return nil, err
	}
	if err := e.seed(ctx, o.agents); err != nil {
		return nil, err
	}
	return e, nil
}

// openSQL opens the load program's own pool on url, in UTC as the
// services' sessions are (the seeds add days to timestamps).
func openSQL(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	cfg.ConnConfig.RuntimeParams["application_name"] = "presenced-load"
	return pgxpool.NewWithConfig(ctx, cfg)
}

// seed creates agents a00000… with the batch endpoint's service, 1,000 at
// a time, each with a current spell.
func (e *env) seed(ctx context.Context, n int) error {
	for start := 0; start < n; start += presence.MaxBatchSize {
		var items []presence.AgentInput
		for i := start; i < min(n, start+presence.MaxBatchSize); i++ {
			items = append(items, presence.AgentInput{ID: agentID(i)})
		}
		if _, err := e.db.UpsertAgents(ctx, items); err != nil {
			return err
		}
	}
	if _, err := e.sql.Exec(ctx, `INSERT INTO spells (agent_id, status_id, source, started_at)
		SELECT id, 'available', 'manual', now() FROM agents`); err != nil {
		return err
	}
	// Statistics now, as autovacuum would do a little later.
	_, err := e.sql.Exec(ctx, `ANALYZE`)
	return err
}

func agentID(i int) string { return fmt.Sprintf("a%05d", i) }

func (e *env) Close() {
	for _, n := range e.nodes {
		n.stop()
	}
	if e.db != nil {
		e.db.Close()
	}
	if e.sql != nil {
		e.sql.Close()
	}
	if e.cluster != nil {
		_ = e.cluster.Stop() // and removes its throw-away directory
	}
}

// childNode is a presenced node running in a child process.
type childNode struct {
	url string
	cmd *exec.Cmd
}

// startNode runs a node in a child process and waits until it serves;
// args are more flags of runNode.
func (e *env) startNode(ctx context.Context, args ...string) (*childNode, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{"node", "--database-url", e.url}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "READY ") {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("node did not start: %q %v", line, err)
	}
	n := &childNode{url: strings.TrimSpace(strings.TrimPrefix(line, "READY ")), cmd: cmd}
	e.nodes = append(e.nodes, n)
	return n, nil
}

func (n *childNode) stop() {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
	}
}

// rssKB reads the child's resident memory from /proc; with collect, after
// the child collected its garbage.
func (n *childNode) rssKB(collect bool) (int, error) {
	if collect {
		_ = n.cmd.Process.Signal(syscall.SIGUSR1)
		time.Sleep(time.Second)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.Atoi(f[1])
		}
	}
	return 0, errors.New("no VmRSS")
}

// runNode is the child: one node on the given database, until SIGTERM.
func runNode(args []string) int {
	fs := flag.NewFlagSet("node", flag.ExitOnError)
	url := fs.String("database-url", "", "database")
	batch := fs.Int("presence-batch", 0, "most presence changes in one transaction (0: the default, 1: group commit off)")
	_ = fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if dir := os.Getenv(nodeProfileEnv); dir != "" {
		stopProfile, err := startCPUProfile(filepath.Join(dir, fmt.Sprintf("node-%d.pprof", os.Getpid())))
		if err != nil {
			fmt.Fprintln(os.Stderr, "node:", err)
			return 1
		}
		defer stopProfile()
	}
	// No rate limit: the load is the point.
	n := node.New(node.Config{Addr: "127.0.0.1:0", DatabaseURL: *url, SkipMigrations: true, AdminToken: loadToken,
		PresenceBatch: *batch,
		Security:      presencehttp.Security{MaxStreamsPerToken: 1_000_000},
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err := n.Open(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		return 1
	}
	fmt.Println("READY", n.URL())
	// SIGUSR1: collect garbage and return it to the OS, so that the parent
	// reads live memory from /proc rather than garbage not yet collected.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for range usr1 {
			debug.FreeOSMemory()
		}
	}()
	<-ctx.Done()
	_ = n.Close()
	return 0
}

// loadToken is the admin token the nodes are started with; every request
// of the load program sends it, as a real client would send its own.
const loadToken = "presenced-load-admin-token-0123456789abcdef"

// httpClient keeps enough idle connections for every worker and sends the
// token.
func httpClient(conns int) *http.Client {
	return &http.Client{Transport: bearer{&http.Transport{
		MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}}
}

// bearer adds the token to every request.
type bearer struct{ next http.RoundTripper }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+loadToken)
	return b.next.RoundTrip(r)
}
