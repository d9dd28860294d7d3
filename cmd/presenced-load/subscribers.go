//go:build unix

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

// The SSE subscribers of the events, fanout and idle scenarios.

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
	last        atomic.Int64 // when the newest event arrived, unix nanoseconds
	lat         []time.Duration
	sinceCommit []time.Duration
	seen        map[int64]struct{} // the writes' send times: each is one change
	duplicates  int64              // events received twice: must stay 0
}

// subscribe opens n streams on base for topic(i), waits until all are
// open, and returns them; they read until ctx ends.
func subscribe(ctx context.Context, base string, n int, topic func(i int) string, measure bool, wg *sync.WaitGroup) ([]*rawSubscriber, error) {
	c := &http.Client{Transport: bearer{&http.Transport{MaxIdleConnsPerHost: n}}}
	return subscribeURLs(ctx, c, n, func(i int) string { return base + "/v1/events?topic=" + topic(i) }, measure, wg)
}

// subscribeURLs opens n streams with c, stream i on url(i): those of
// presenced or of a peer (-compare-url).
func subscribeURLs(ctx context.Context, c *http.Client, n int, url func(i int) string, measure bool, wg *sync.WaitGroup) ([]*rawSubscriber, error) {
	subs := make([]*rawSubscriber, n)
	opened := make(chan error, n)
	for i := range n {
		s := &rawSubscriber{seen: map[int64]struct{}{}}
		subs[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "GET", url(i), nil)
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
				now := time.Now()
				s.received.Add(1)
				s.last.Store(now.UnixNano())
				if !measure {
					continue
				}
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
