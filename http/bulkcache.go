package http

import (
	"sync"

	presence "github.com/presenced/presenced"
)

// bulkCache keeps recent bulk presence answers, keyed by query string and
// stamped with the event position they were read at. Every committed change
// writes an event, so while this node's position has not moved the answer
// cannot have changed, and a wallboard that polls without If-None-Match
// costs a memory copy instead of reading and encoding 10,000 rows. It is
// exactly as fresh as the ETag: behind the database by the listener's lag.
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
