package http

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	presence "github.com/presenced/presenced"
)

// bulkCache keeps recent bulk presence answers, keyed by query string and
// stamped with the event position they were read at. Every committed change
// writes an event, so while this node's position has not moved the answer
// cannot have changed, and a wallboard that polls without If-None-Match
// costs a memory copy instead of reading and encoding 10,000 rows. It is
// exactly as fresh as the ETag: behind the database by the listener's lag,
// except for this node's own answered writes (writeFence).
type bulkCache struct {
	mu      sync.Mutex
	entries map[string]bulkEntry
}

type bulkEntry struct {
	pos  presence.Position
	body []byte
}

// Bounds: a handful of distinct queries (the floor, a queue or a status
// filter), each at most a few MB.
const (
	bulkCacheEntries  = 16
	bulkCacheMaxBytes = 8 << 20
)

// get returns the answer to query read at pos, if cached.
func (c *bulkCache) get(query string, pos presence.Position) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[query]
	if !ok || e.pos != pos {
		return nil, false
	}
	return e.body, true
}

// put caches body as the answer to query read at pos. Positions only move
// forward, so answers read at another position can never be served again:
// they go first. Past the bound the answer is simply not cached.
func (c *bulkCache) put(query string, pos presence.Position, body []byte) {
	if len(body) > bulkCacheMaxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]bulkEntry)
	}
	for k, e := range c.entries {
		if e.pos != pos {
			delete(c.entries, k)
		}
	}
	if len(c.entries) < bulkCacheEntries {
		c.entries[query] = bulkEntry{pos: pos, body: body}
	}
}

// writeFence gives the bulk read read-your-writes. Its ETag and bulkCache
// follow this node's event listener, which publishes a committed change a
// few milliseconds after the change's answer has gone out; in between, a
// bulk read would answer the old record, or 304 to the ETag read before the
// write. So every write this node answers is counted just before its
// answer is written (its transaction has committed by then), and a bulk
// read that finds writes answered since the last sync first asks the
// listener to sync (Server.EventSync): to publish every event committed
// before the call. Reads after a sync cost nothing until the next write.
//
// A sync normally takes one read of the log, about a millisecond. When it
// takes longer than maxSyncWait (the listener is reconnecting, or events
// wait behind a long open transaction), the read goes to the database,
// without 304 and without the cache, and answers a body newer than its
// ETag, never older.
type writeFence struct {
	answered atomic.Uint64 // writes this node has answered
	synced   atomic.Uint64 // of those, the ones the listener has published
}

// maxSyncWait bounds a bulk read's wait for the listener.
const maxSyncWait = 100 * time.Millisecond

// wait returns true when the listener has published every write answered
// before the call, after a sync if need be; false when the sync did not
// finish within maxSyncWait. A nil sync counts as synced.
func (f *writeFence) wait(ctx context.Context, sync func(context.Context) error) bool {
	n := f.answered.Load()
	if sync == nil || n <= f.synced.Load() {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, maxSyncWait)
	defer cancel()
	if sync(ctx) != nil {
		return false
	}
	for {
		s := f.synced.Load()
		if s >= n || f.synced.CompareAndSwap(s, n) {
			return true
		}
	}
}

// serveFenced serves a request through outer, counting the answer of every
// request that may write (any method but GET, HEAD and OPTIONS).
func (s *Server) serveFenced(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		w = &fencedWriter{ResponseWriter: w, fence: &s.fence}
	}
	s.outer(w, r)
}

// fencedWriter counts its answer once, before the status line is written.
type fencedWriter struct {
	http.ResponseWriter
	fence   *writeFence
	counted bool
}

func (fw *fencedWriter) count() {
	if !fw.counted {
		fw.counted = true
		fw.fence.answered.Add(1)
	}
}

func (fw *fencedWriter) WriteHeader(code int) {
	if code >= 200 { // 1xx are informational; the answer follows
		fw.count()
	}
	fw.ResponseWriter.WriteHeader(code)
}

func (fw *fencedWriter) Write(p []byte) (int, error) {
	fw.count()
	return fw.ResponseWriter.Write(p)
}

func (fw *fencedWriter) Unwrap() http.ResponseWriter { return fw.ResponseWriter }
