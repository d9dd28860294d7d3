package sse

import (
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/internal/presencetest"
)

// BenchmarkPublish measures one Publish with many subscribers and topics.
// Subscribers are registered and live, each with its own channel (no HTTP
// connection: one goroutine per subscriber drains it, as its writer
// would), so the cost is the index look-ups, the framing and one channel
// send per receiver.
//
//	exact:      10,000 subscribers × 10 topics; each event has 1 receiver
//	wildcard:   the same plus 100 subscribers of agents.*.presence
//	channel:    one subscriber with 100,000 topics; the event is its
//	none:       10,000 × 10 topics; no subscriber matches
func BenchmarkPublish(b *testing.B) {
	for _, bc := range []struct {
		name                string
		subs, perSub, wilds int
		match               bool
		buffer              int
	}{
		{"exact/10k-subs-100k-topics", 10_000, 10, 0, true, 0},
		{"wildcard/10k-subs-100k-topics+100-wildcard", 10_000, 10, 100, true, 0},
		{"channel/1-sub-100k-topics", 1, 100_000, 0, true, 1 << 16},
		{"none/10k-subs-100k-topics", 10_000, 10, 0, false, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			br := New(Config{Log: &presencetest.EventLog{}, BufferSize: bc.buffer, Logger: quiet})
			if err := br.Open(); err != nil {
				b.Fatal(err)
			}
			var evictions atomic.Int64
			var drained sync.WaitGroup
			var all []*subscriber
			add := func(topics []string) {
				set, err := br.parseTopics(topics)
				if err != nil {
					b.Fatal(err)
				}
				s := &subscriber{cancel: func() { evictions.Add(1) }, maxQueue: br.cfg.BufferSize, out: make(chan *wire, br.cfg.BufferSize)}
				drained.Go(func() {
					for range s.out {
					}
				})
				br.register(s, set, presence.Position{}, false)
				s.live = true
				all = append(all, s)
			}
			var targets []string
			for i := range bc.subs {
				topics := make([]string, bc.perSub)
				for j := range topics {
					topics[j] = "agents.a" + strconv.Itoa(i*bc.perSub+j) + ".presence"
				}
				add(topics)
				targets = append(targets, topics...)
			}
			for range bc.wilds {
				add([]string{"agents.*.presence"})
			}
			if !bc.match {
				targets = []string{"agents.nobody.routing"}
			}
			b.Cleanup(func() {
				for _, s := range all {
					br.unregister(s)
					close(s.out)
				}
				drained.Wait()
				br.Close()
			})
			body := json.RawMessage(`{"agent_id":"a1","status_id":"available","since":"2026-01-01T00:00:00Z"}`)

			b.ReportAllocs()
			var n int64
			for b.Loop() {
				n++
				br.Publish(presence.Event{
					Position: presence.Position{Xid: uint64(n), ID: n},
					Topic:    targets[int(n)%len(targets)],
					Kind:     "presence",
					Body:     body,
				})
			}
			b.ReportMetric(float64(evictions.Load()), "evictions")
		})
	}
	b.Run("channel-replace/100k-topics", func(b *testing.B) {
		br := New(Config{Log: &presencetest.EventLog{}, Logger: quiet})
		if err := br.Open(); err != nil {
			b.Fatal(err)
		}
		s := &subscriber{cancel: func() {}, channelID: "c1", maxQueue: 1}
		br.register(s, nil, presence.Position{}, false)
		b.Cleanup(func() { br.unregister(s); br.Close() })
		var bodies [2]json.RawMessage
		for k, prefix := range []string{"a", "b"} {
			topics := make([]string, presence.MaxTopics)
			for i := range topics {
				topics[i] = "agents." + prefix + strconv.Itoa(i) + ".presence"
			}
			bodies[k], _ = json.Marshal(channelBody{ID: "c1", Topics: topics})
		}
		var n int64
		for b.Loop() {
			n++
			br.Publish(presence.Event{Position: presence.Position{Xid: 1, ID: n}, Topic: "channels.c1", Kind: "channel", Body: bodies[n%2]})
		}
	})
}
