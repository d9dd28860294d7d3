//go:build unix

package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// publishFunc publishes event i with body, which carries its send time.
type publishFunc func(ctx context.Context, i int, body string) error

// viaPresence publishes event i as a presence change of agent i%agents
// through the node at base.
func viaPresence(base string, agents int) publishFunc {
	put := viaHTTPBody(base, httpClient(writers))
	return func(ctx context.Context, i int, body string) error { return put(ctx, agentID(i%agents), body) }
}

// writers is the number of concurrent publishers of the event scenarios.
const writers = 16

// write publishes rate events per second for d, each carrying its send
// time, and returns how many it made and when the last one was sent. Each
// publish's round trip goes to put: the part of write→receive spent
// before the answer (for presenced: pool wait, transaction, commit).
func write(ctx context.Context, o options, publish publishFunc, rate int, d time.Duration, put *latencies) (made int64, last time.Time, err error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n, lastSent atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) * writers / float64(rate))
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Writers start spread over one interval: 16 tickers started
			// together would send their changes in bursts of 16 (every
			// 32 ms at 500/s) rather than at the rate asked.
			if !o.burst {
				select {
				case <-ctx.Done():
					return
				case <-time.After(interval * time.Duration(w) / writers):
				}
			}
			t := time.NewTicker(interval)
			defer t.Stop()
			flip := false
			for i := w; ; i += writers {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				status := "busy"
				if flip = !flip; flip {
					status = "available"
				}
				sent := time.Now()
				body := fmt.Sprintf(`{"status":"%s","message":"%d"}`, status, sent.UnixNano())
				err := publish(ctx, i, body)
				put.add(time.Since(sent))
				if err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					return
				}
				n.Add(1)
				for {
					l := lastSent.Load()
					if l >= sent.UnixNano() || lastSent.CompareAndSwap(l, sent.UnixNano()) {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, time.Time{}, err
	}
	return n.Load(), time.Unix(0, lastSent.Load()), nil
}

// load is one fan-out run: subs subscribers of every event, rate events/s.
type load struct{ subs, rate int }

// fanout runs l against presenced in the shape asked (1: the writes and
// the subscribers on one node, 2: writes through node A, subscribers on
// node B) and reports deliveries, latency and the nodes' CPU.
func fanout(ctx context.Context, e *env, o options, shape int, l load, topic func(int) string) error {
	a, err := e.startNode(ctx)
	if err != nil {
		return err
	}
	b := a
	if shape == 2 {
		if b, err = e.startNode(ctx); err != nil {
			a.stop()
			return err
		}
	}
	defer func() {
		a.stop()
		if b != a {
			b.stop()
		}
	}()
	where := "on node B, writes through node A"
	if shape == 1 {
		where = "and writes on one node"
	}
	r := trial{
		label: fmt.Sprintf("presenced, %d subscribers × %d changes/s, subscribers %s", l.subs, l.rate, where),
		subscribe: func(ctx context.Context, wg *sync.WaitGroup) ([]*rawSubscriber, error) {
			return subscribe(ctx, b.url, l.subs, topic, true, wg)
		},
		publish: viaPresence(a.url, o.agents),
		commit:  true,
		procs:   []proc{a.proc()},
	}
	if b != a {
		r.procs = append(r.procs, b.proc())
	}
	return r.measure(ctx, o, l)
}

// trial is one measured fan-out against one server.
type trial struct {
	label     string
	subscribe func(ctx context.Context, wg *sync.WaitGroup) ([]*rawSubscriber, error)
	publish   publishFunc
	commit    bool   // the events carry their commit time (presenced)
	procs     []proc // whose CPU is reported: the nodes, the peer's process with -compare-pid
}

// measure opens the subscribers, publishes for o.duration, waits up to
// 10 s for every delivery and prints the figures.
func (r trial) measure(ctx context.Context, o options, l load) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	ss, err := r.subscribe(sctx, &wg)
	if err != nil {
		return err
	}
	cpu0 := make([]time.Duration, len(r.procs))
	for i, p := range r.procs {
		cpu0[i] = p.cpu()
	}
	start := time.Now()
	var put latencies
	made, last, err := write(ctx, o, r.publish, l.rate, o.duration, &put)
	elapsed := time.Since(start)
	if err != nil {
		return err
	}
	want := made * int64(l.subs)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var got int64
		for _, s := range ss {
			got += s.received.Load()
		}
		if got >= want {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	busy := make([]string, len(r.procs))
	var cpu time.Duration
	for i, p := range r.procs {
		used := p.cpu() - cpu0[i]
		cpu += used
		busy[i] = fmt.Sprintf("%.2f", used.Seconds()/time.Since(start).Seconds())
	}
	cancel()
	wg.Wait()
	var got, duplicates int64
	var lat, commit latencies
	var newest int64
	for _, s := range ss {
		got += s.received.Load()
		duplicates += s.duplicates
		lat.addAll(s.lat)
		commit.addAll(s.sinceCommit)
		newest = max(newest, s.last.Load())
	}
	// want counts the publishes answered; one cut off by the end of the
	// run may still have committed, so got may exceed it. Duplicates are
	// counted by the publishes' unique send times.
	fmt.Printf("%s:\n  %.0f published/s, %.0f deliveries/s, %d of %d deliveries made, %d duplicates; the last %s after the last publish\n",
		r.label, float64(made)/elapsed.Seconds(), float64(got)/elapsed.Seconds(), got, want, duplicates,
		round(time.Unix(0, newest).Sub(last)))
	if len(r.procs) > 0 && got > 0 {
		// CPU per delivery holds still on a busy machine, where latency
		// does not: compare it across runs made at different loads.
		fmt.Printf("  server CPU:             %s cores; %.1f µs per delivery (writes included)\n",
			strings.Join(busy, " + "), float64(cpu.Microseconds())/float64(got))
	}
	fmt.Printf("  publish round trip:     %s\n", put.summary())
	fmt.Printf("  write→receive latency:  %s\n", lat.summary())
	if r.commit {
		fmt.Printf("  commit→receive latency: %s\n", commit.summary())
	}
	return nil
}

// shapes returns the node shapes of o.nodes, one node first by default.
func (o options) shapes() []int {
	var out []int
	for _, f := range strings.Split(o.nodes, ",") {
		switch strings.TrimSpace(f) {
		case "1":
			out = append(out, 1)
		case "2":
			out = append(out, 2)
		}
	}
	return out
}

// scenarioEvents: (a) 500 changes/s with 100 subscribers receiving all of
// them (targets: p50 ≤ 5 ms, p99 ≤ 50 ms), in each shape of -nodes.
func scenarioEvents(ctx context.Context, e *env, o options) error {
	for _, shape := range o.shapes() {
		if err := fanout(ctx, e, o, shape, load{o.subscribers, 500}, func(int) string { return "agents.*.presence" }); err != nil {
			return err
		}
	}
	return nil
}

// fanoutLoads are the loads of the fanout scenario and their targets.
var fanoutLoads = []struct {
	load
	target string
}{
	{load{1000, 100}, "p99 ≤ 60 ms"},
	{load{5000, 20}, "p99 ≤ 250 ms; with -cpu-hog: p99 ≤ 1 s, the last within 2 s of the last publish"},
	{load{10_000, 10}, "p99 ≤ 500 ms"},
}

// scenarioFanout: (b) every subscriber on agents.*.presence, every
// delivery made, at each load of fanoutLoads, in each shape of -nodes and,
// with -compare-url, against the peer right after.
func scenarioFanout(ctx context.Context, e *env, o options) error {
	all := func(int) string { return "agents.*.presence" }
	for _, l := range fanoutLoads {
		if o.loads != "" && !slices.Contains(strings.Split(o.loads, ","), fmt.Sprintf("%dx%d", l.subs, l.rate)) {
			continue
		}
		fmt.Printf("-- %d subscribers × %d events/s (target %s)\n", l.subs, l.rate, l.target)
		for _, shape := range o.shapes() {
			if err := fanout(ctx, e, o, shape, l.load, all); err != nil {
				return err
			}
		}
		if o.compareURL != "" {
			if err := comparePeer(ctx, o, l.load); err != nil {
				return err
			}
		}
	}
	return nil
}

// scenarioIdle: (c) 10,000 idle subscribers, the server's memory per
// subscriber (target ≤ 36 KB), from the node's resident set size.
func scenarioIdle(ctx context.Context, e *env, o options) error {
	const n = 10_000
	b, err := e.startNode(ctx)
	if err != nil {
		return err
	}
	defer b.stop()
	time.Sleep(time.Second)
	before, err := b.rssKB(false)
	if err != nil {
		return err
	}
	beforeLive, err := b.rssKB(true)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if _, err := subscribe(sctx, b.url, n, func(i int) string { return "agents." + agentID(i%o.agents) + ".presence" }, false, &wg); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	after, err := b.rssKB(false)
	if err != nil {
		return err
	}
	afterLive, err := b.rssKB(true)
	if err != nil {
		return err
	}
	fmt.Printf("%d idle subscribers: node RSS %d KB → %d KB = %.1f KB per subscriber; after a GC in the node %d KB → %d KB = %.1f KB per subscriber (target ≤ 36 KB)\n",
		n, before, after, float64(after-before)/n, beforeLive, afterLive, float64(afterLive-beforeLive)/n)
	cancel()
	wg.Wait()
	return nil
}
