package db

import (
	"sync"
	"time"

	presence "github.com/presenced/presenced"
)

// servedWindow and servedMax bound what a node remembers of the events it
// served: enough to cover the events a primary can lose in a failover (the
// last moments before it died, not yet shipped to the standby).
const (
	servedWindow = 2 * time.Minute
	servedMax    = 100_000
)

// servedLog remembers the positions of the events this node served lately,
// published live by the listener or read from the log for a resuming
// stream. When the listener reconnects to a new primary it checks them all
// against the new primary's log: one that is missing was lost, and its
// epoch is fenced there (event_fences), so that every reader that may have
// seen it gets a reset.
type servedLog struct {
	mu      sync.Mutex
	entries []servedEntry // entries[start:] are remembered
	start   int
}

type servedEntry struct {
	pos presence.Position
	at  time.Time
}

func (s *servedLog) add(now time.Time, ps ...presence.Position) {
	if len(ps) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ps {
		s.entries = append(s.entries, servedEntry{pos: p, at: now})
	}
	// Forget from the front: entries are in the order served, so by time.
	for s.start < len(s.entries) && (len(s.entries)-s.start > servedMax || now.Sub(s.entries[s.start].at) > servedWindow) {
		s.start++
	}
	if s.start > len(s.entries)/2 { // copy the rest down now and then, not on every add
		s.entries = append(s.entries[:0], s.entries[s.start:]...)
		s.start = 0
	}
}

// positions returns the remembered positions as the three arrays of the
// EventFirstMissing query.
func (s *servedLog) positions() (epochs []int32, xids, ids []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	live := s.entries[s.start:]
	epochs, xids, ids = make([]int32, len(live)), make([]int64, len(live)), make([]int64, len(live))
	for i, e := range live {
		epochs[i], xids[i], ids[i] = int32(e.pos.Epoch), int64(e.pos.Xid), e.pos.ID
	}
	return epochs, xids, ids
}
