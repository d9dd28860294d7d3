package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A change's message carries its send time (unix nanoseconds), so a
// subscriber measures write→receive latency from the raw data line without
// decoding JSON: the load generator must cost far less than the server.
var (
	messageKey = []byte(`"message":"`)
	atKey      = []byte(`"at":"`)
)

// rawSubscriber holds one SSE connection and measures each event: lat from
// the writer's send (write→receive: includes the write's own queueing and
// transaction), sinceCommit from the event's at (the trigger's clock just
// before commit: commit→receive). Client and server share this machine's
// clock.
type rawSubscriber struct {
	received    atomic.Int64
	lat         []time.Duration
	sinceCommit []time.Duration
	seen        map[int64]struct{} // the writes' send times: each is one change
	duplicates  int64              // events received twice: must stay 0
}

// subscribe opens n streams on base for topic(i), waits until all are
// open, and returns them; they read until ctx ends.
func subscribe(ctx context.Context, base string, n int, topic func(i int) string, measure bool, wg *sync.WaitGroup) ([]*rawSubscriber, error) {
	c := &http.Client{Transport: bearer{&http.Transport{MaxIdleConnsPerHost: n}}}
	subs := make([]*rawSubscriber, n)
	opened := make(chan error, n)
	for i := range n {
		s := &rawSubscriber{seen: map[int64]struct{}{}}
		subs[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/events?topic="+topic(i), nil)
			res, err := c.Do(req)
			if err != nil || res.StatusCode != 200 {
				opened <- fmt.Errorf("subscribe: %v %v", res, err)
				return
			}
			defer res.Body.Close()
			opened <- nil
			r := bufio.NewReaderSize(res.Body, 4096)
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					return
				}
				if !bytes.HasPrefix(line, []byte("data:")) {
					continue
				}
				s.received.Add(1)
				if !measure {
					continue
				}
				now := time.Now()
				if j := bytes.Index(line, atKey); j >= 0 {
					rest := line[j+len(atKey):]
					if k := bytes.IndexByte(rest, '"'); k > 0 {
						if at, err := time.Parse(time.RFC3339Nano, string(rest[:k])); err == nil {
							s.sinceCommit = append(s.sinceCommit, now.Sub(at))
						}
					}
				}
				if j := bytes.Index(line, messageKey); j >= 0 {
					rest := line[j+len(messageKey):]
					if k := bytes.IndexByte(rest, '"'); k > 0 {
						if sent, err := strconv.ParseInt(string(rest[:k]), 10, 64); err == nil {
							s.lat = append(s.lat, now.Sub(time.Unix(0, sent)))
							if _, dup := s.seen[sent]; dup {
								s.duplicates++
							}
							s.seen[sent] = struct{}{}
						}
					}
				}
			}
		}()
	}
	for range n {
		if err := <-opened; err != nil {
			return nil, err
		}
	}
	return subs, nil
}

// write makes rate presence changes per second through base for d, spread
// over agents, each carrying its send time; it returns how many it made.
// Each PUT's round trip goes to put: the part of write→receive spent
// before the answer (pool wait, transaction, commit).
func write(ctx context.Context, o options, base string, rate int, d time.Duration, put *latencies) (int64, error) {
	agents := o.agents
	const writers = 16
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	c := httpClient(writers)
	var made atomic.Int64
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
				body := fmt.Sprintf(`{"status":"%s","message":"%d"}`, status, time.Now().UnixNano())
				sent := time.Now()
				err := viaHTTPBody(base, c)(ctx, agentID(i%agents), body)
				put.add(time.Since(sent))
				if err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					return
				}
				made.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return made.Load(), nil
}

// fanout writes rate changes/s through node A for d while subs subscribers
// on node B follow topic(i), and reports deliveries and latency.
func fanout(ctx context.Context, e *env, o options, subs, rate int, d time.Duration, topic func(int) string, wantPerEvent int) error {
	a, err := e.startNode(ctx)
	if err != nil {
		return err
	}
	b, err := e.startNode(ctx)
	if err != nil {
		return err
	}
	defer func() { a.stop(); b.stop() }()
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	ss, err := subscribe(sctx, b.url, subs, topic, true, &wg)
	if err != nil {
		cancel()
		return err
	}
	start := time.Now()
	var put latencies
	made, err := write(ctx, o, a.url, rate, d, &put)
	elapsed := time.Since(start)
	if err != nil {
		cancel()
		return err
	}
	want := made * int64(wantPerEvent)
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
	cancel()
	wg.Wait()
	var got, duplicates int64
	var lat, commit latencies
	for _, s := range ss {
		got += s.received.Load()
		duplicates += s.duplicates
		lat.addAll(s.lat)
		commit.addAll(s.sinceCommit)
	}
	// want counts the writes answered; one cut off by the end of the run
	// may still have committed, so got may exceed it. Duplicates are
	// counted by the writes' unique send times.
	fmt.Printf("%d subscribers on node B, %d changes/s asked through node A: %.0f changes/s made, %.0f deliveries/s, %d of %d deliveries made, %d duplicates\n",
		subs, rate, float64(made)/elapsed.Seconds(), float64(got)/elapsed.Seconds(), got, want, duplicates)
	fmt.Printf("  PUT round trip:         %s\n", put.summary())
	fmt.Printf("  write→receive latency:  %s\n", lat.summary())
	fmt.Printf("  commit→receive latency: %s\n", commit.summary())
	return nil
}

// scenarioEvents: (a) 500 changes/s with 100 subscribers on another node
// receiving all of them (targets: p50 ≤ 5 ms, p99 ≤ 50 ms).
func scenarioEvents(ctx context.Context, e *env, o options) error {
	return fanout(ctx, e, o, o.subscribers, 500, o.duration, func(int) string { return "agents.*.presence" }, o.subscribers)
}

// scenarioFanout: (b) 1,000 subscribers × 100 events/s (p99 ≤ 100 ms) and
// 5,000 subscribers × 20 events/s (p99 ≤ 250 ms), every delivery made.
func scenarioFanout(ctx context.Context, e *env, o options) error {
	all := func(int) string { return "agents.*.presence" }
	if err := fanout(ctx, e, o, 1000, 100, o.duration, all, 1000); err != nil {
		return err
	}
	return fanout(ctx, e, o, 5000, 20, o.duration, all, 5000)
}

// scenarioIdle: (c) 10,000 idle subscribers, the server's memory per
// subscriber (target ≤ 40 KB), from the node's resident set size.
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
	fmt.Printf("%d idle subscribers: node RSS %d KB → %d KB = %.1f KB per subscriber; after a GC in the node %d KB → %d KB = %.1f KB per subscriber (target ≤ 40 KB)\n",
		n, before, after, float64(after-before)/n, beforeLive, afterLive, float64(afterLive-beforeLive)/n)
	cancel()
	wg.Wait()
	return nil
}
