package db

import (
	"context"
	"time"

	"github.com/presenced/presenced/db/internal/dbsqlc"
)

// maxBeatBatch bounds the beats one statement carries.
const maxBeatBatch = 1000

// newBeatCoalescer returns the coalescer that puts the heartbeats that
// arrive together into one UPDATE: one statement and one commit for many
// beats costs the database a fraction of one each, which is what lets a
// node absorb thousands of beats per second. Up to half the pool's
// connections run batches, so beats never take every connection.
func newBeatCoalescer(db *DB) *coalescer[beatRequest, beatResult] {
	return &coalescer[beatRequest, beatResult]{
		run:        db.beatMany,
		maxBatch:   maxBeatBatch,
		timeout:    30 * time.Second,
		maxLeaders: func() int { return int(db.pool.Stat().MaxConns()) / 2 },
	}
}

type beatRequest struct {
	id   string
	idle *bool
}

type beatResult struct {
	ok  bool // beaten; false: take the slow path
	err error
}

// beatMany applies a batch of beats in one statement. A session beaten
// twice in one batch is beaten once; its later beats answer false, and
// the slow path applies them in turn.
func (db *DB) beatMany(ctx context.Context, batch []beatRequest) []beatResult {
	n := len(batch)
	p := dbsqlc.SessionBeatManyParams{
		Ids: make([]string, 0, n), IdleGiven: make([]bool, 0, n), Idle: make([]bool, 0, n)}
	first := make(map[string]bool, n)
	for _, r := range batch {
		if first[r.id] {
			continue
		}
		first[r.id] = true
		p.Ids = append(p.Ids, r.id)
		p.IdleGiven = append(p.IdleGiven, r.idle != nil)
		p.Idle = append(p.Idle, r.idle != nil && *r.idle)
	}
	beaten, err := db.q.SessionBeatMany(ctx, db.pool, p)
	ok := make(map[string]bool, len(beaten))
	for _, id := range beaten {
		ok[id] = true
	}
	out := make([]beatResult, n)
	for i, r := range batch {
		if first[r.id] {
			out[i] = beatResult{ok: ok[r.id], err: err}
			first[r.id] = false
		} else {
			out[i] = beatResult{err: err}
		}
	}
	return out
}
