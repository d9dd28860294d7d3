//go:build unix

// Command presenced-load measures presenced end to end on this machine and
// prints the figures the issues ask for. It starts a private PostgreSQL
// (durable settings: fsync and synchronous commit on) unless --database-url
// is given, and runs presenced nodes as child processes (itself, re-executed
// in "node" mode) so that a node's memory is its own.
//
//	go run ./cmd/presenced-load                      # every scenario
//	go run ./cmd/presenced-load -scenario presence   # one of: presence, notify, bulk, events, fanout, idle, work, history
//	go run ./cmd/presenced-load -scenario fanout -nodes 1 -cpu-hog
//	go run ./cmd/presenced-load -scenario fanout -compare-url 'http://127.0.0.1:3000/.well-known/mercure?topic=x'
//
// The events and fanout scenarios run on one node serving the writes and
// the subscribers, then on two (-nodes). -compare-url measures a peer SSE
// server with the same subscribers and publishers after presenced
// (compare.go); -cpu-hog keeps one core busy for the whole run.
//
// -cpuprofile DIR writes a CPU profile of this process (the load clients)
// to DIR/load.pprof and of every node to DIR/node-<pid>.pprof.
//
// It builds on Unix only: it signals its child nodes (SIGUSR1) and reads
// CPU and memory from getrusage and /proc.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

type options struct {
	scenario    string
	databaseURL string
	duration    time.Duration
	agents      int
	clients     int
	cpuprofile  string // a directory
	subscribers int    // events scenario; 0: its default of 100
	burst       bool   // events and fanout: writers send together, in bursts
	// history scenario: the two sizes of seeded history, in days.
	historySmall, historyDays int

	nodes          string // events and fanout: "1" one node, "2" two, "1,2" both
	loads          string // fanout: the loads to run, e.g. 5000x20; "" all
	cpuHog         bool   // a child process keeps one core busy for the whole run
	compareURL     string // fanout: a peer SSE server's subscribe URL
	comparePublish string // how to publish to the peer (compare.go)
	compareToken   string // bearer token for the peer; "" anonymous
	comparePID     int    // the peer's process, whose CPU is reported
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "node" {
		os.Exit(runNode(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "hog" {
		os.Exit(runHog())
	}
	var o options
	flag.StringVar(&o.scenario, "scenario", "all", "presence, notify, bulk, events, fanout, idle, work, history or all")
	flag.StringVar(&o.databaseURL, "database-url", "", "use this database (its contents are replaced) instead of a private PostgreSQL")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long each timed run lasts")
	flag.IntVar(&o.agents, "agents", 10_000, "agents to seed")
	flag.IntVar(&o.clients, "clients", 16, "concurrent writers for the throughput scenarios")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write CPU profiles of the load program and of every node to this directory")
	flag.IntVar(&o.subscribers, "subscribers", 100, "subscribers of the events scenario (1 shows the latency without the fan-out's CPU load)")
	flag.BoolVar(&o.burst, "burst", false, "events and fanout: start the 16 writers together, so that they send in bursts of 16, as the load program did before")
	flag.IntVar(&o.historySmall, "history-small", 1, "history: days of spell history at the first size")
	flag.IntVar(&o.historyDays, "history-days", 7, "history: days of spell history at the second size (600k spells a day for 10,000 agents; 7 is what seeds and rolls up within 10 minutes on the 2-core development machine, see docs/performance.md)")
	flag.StringVar(&o.nodes, "nodes", "1,2", "events and fanout: 1 runs writes and subscribers on one node, 2 writes through node A and subscribers on node B; 1,2 both")
	flag.StringVar(&o.loads, "loads", "", "fanout: the loads to run, subscribers x events/s, comma-separated (1000x100,5000x20,10000x10); empty: all")
	flag.BoolVar(&o.cpuHog, "cpu-hog", false, "keep one core busy with a child process's busy loop for the whole run")
	flag.StringVar(&o.compareURL, "compare-url", "", "fanout: also measure this peer SSE server, whose subscribers open this URL (e.g. http://127.0.0.1:3000/.well-known/mercure?topic=x)")
	flag.StringVar(&o.comparePublish, "compare-publish", defaultComparePublish, "how to publish to the peer: METHOD URL [key=value ...], with {url} (-compare-url without its query), {topic} and {data}")
	flag.StringVar(&o.compareToken, "compare-token", "", "bearer token (a JWT for Mercure) sent to the peer; empty: anonymous")
	flag.IntVar(&o.comparePID, "compare-pid", 0, "the peer's process id, to report its CPU next to presenced's")
	flag.Parse()
	if len(o.shapes()) == 0 {
		fmt.Fprintln(os.Stderr, "presenced-load: -nodes wants 1, 2 or 1,2")
		os.Exit(2)
	}
	if o.cpuprofile != "" {
		stop, err := startCPUProfile(filepath.Join(o.cpuprofile, "load.pprof"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "presenced-load:", err)
			os.Exit(1)
		}
		defer stop()
		os.Setenv(nodeProfileEnv, o.cpuprofile)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if o.cpuHog {
		stopHog, err := startCPUHog()
		if err != nil {
			fmt.Fprintln(os.Stderr, "presenced-load:", err)
			os.Exit(1)
		}
		defer stopHog()
	}
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "presenced-load:", err)
		os.Exit(1)
	}
}

// nodeProfileEnv tells a node child where to write its CPU profile.
const nodeProfileEnv = "PRESENCED_LOAD_CPUPROFILE"

// startCPUProfile profiles this process into path until stop.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func run(ctx context.Context, o options) error {
	e, err := openEnv(ctx, o)
	if err != nil {
		return err
	}
	defer e.Close()
	all := map[string]func(context.Context, *env, options) error{
		"presence": scenarioPresence,
		"notify":   scenarioNotify,
		"bulk":     scenarioBulk,
		"events":   scenarioEvents,
		"fanout":   scenarioFanout,
		"idle":     scenarioIdle,
		"work":     scenarioWork,
		"history":  scenarioHistory,
	}
	order := []string{"presence", "notify", "bulk", "events", "fanout", "idle", "work", "history"}
	if o.scenario != "all" {
		if all[o.scenario] == nil {
			return fmt.Errorf("unknown scenario %q (want %s or all)", o.scenario, strings.Join(order, ", "))
		}
		order = []string{o.scenario}
	}
	fmt.Printf("presenced-load: %d agents, %d clients, %s runs, PostgreSQL %s\n", o.agents, o.clients, o.duration, e.pgVersion)
	for _, name := range order {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Printf("\n== %s\n", name)
		if err := all[name](ctx, e, o); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}
