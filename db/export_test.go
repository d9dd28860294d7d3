package db

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	presence "github.com/presenced/presenced"
)

// RunPresenceBatch runs changes as one batch of group commit, in the
// order given (as if they arrived so), and returns each one's answer.
func (db *DB) RunPresenceBatch(agents []string, changes []presence.PresenceChange) ([]*presence.Record, []error) {
	return db.RunPresenceBatchAs(nil, agents, changes)
}

// RunPresenceBatchAs is RunPresenceBatch with each change made as a
// request with tokens[i] (nil, or a nil element: none).
func (db *DB) RunPresenceBatchAs(tokens []*presence.Token, agents []string, changes []presence.PresenceChange) ([]*presence.Record, []error) {
	b := newPresenceBatcher(db, len(agents))
	batch := make([]*presenceRequest, len(agents))
	for i := range agents {
		ch := changes[i]
		if ch.Source == "" {
			ch.Source = presence.SourceManual
		}
		ctx := context.Background()
		if tokens != nil && tokens[i] != nil {
			ctx = presence.WithToken(ctx, tokens[i])
		}
		batch[i] = &presenceRequest{ctx: ctx, agent: agents[i], ch: ch, res: make(chan presenceResult, 1)}
	}
	b.run(batch)
	recs, errs := make([]*presence.Record, len(agents)), make([]error, len(agents))
	for i, r := range batch {
		res := <-r.res
		recs[i], errs[i] = res.rec, res.err
	}
	return recs, errs
}

// WindowStart exposes windowStart to the plan checks of history_test.go.
var WindowStart = windowStart

// EmptyCursor is a window read's cursor before its first page.
var EmptyCursor = cursor{}

// Pool gives the tests of package db_test the services' own pool: to set
// the scene in SQL and to watch the pool itself. Outside the tests nothing
// reaches it (DB.PoolStat serves the metrics).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Conn opens a connection set up as the listener sets up its own.
func (l *Listener) Conn(ctx context.Context) (*pgx.Conn, error) { return l.connect(ctx) }

// HoldPresenceBatch makes group commit count a batch of n changes in
// flight, as if one ran, until release; a batch forming meanwhile waits
// for company at most linger.
func (db *DB) HoldPresenceBatch(n int, linger time.Duration) (release func()) {
	db.batch.linger = linger
	db.batch.started(n)
	return func() { db.batch.ended(n) }
}

// MaxTokenLookups is the most token lookups in flight at once.
const MaxTokenLookups = maxTokenLookups

// HoldTokenLookups makes every token lookup from now on, once its query
// has run, report how many secrets it carried on sizes and wait for a
// value on release before it answers. QueuedTokenLookups tells how many
// lookups wait for one.
func (db *DB) HoldTokenLookups() (sizes <-chan int, release chan<- struct{}) {
	s, r := make(chan int, 100), make(chan struct{}, 100)
	run := db.tokens.run
	db.tokens.run = func(ctx context.Context, hashes [][]byte) []tokenLookup {
		out := run(ctx, hashes)
		s <- len(hashes)
		<-r
		return out
	}
	return s, r
}

// CountTokenLookups counts, from now on, the secrets the token lookups
// carry.
func (db *DB) CountTokenLookups() *atomic.Int64 {
	var n atomic.Int64
	run := db.tokens.run
	db.tokens.run = func(ctx context.Context, hashes [][]byte) []tokenLookup {
		n.Add(int64(len(hashes)))
		return run(ctx, hashes)
	}
	return &n
}

// QueuedTokenLookups is how many token lookups wait for a lookup to carry them.
func (db *DB) QueuedTokenLookups() int {
	db.tokens.mu.Lock()
	defer db.tokens.mu.Unlock()
	return len(db.tokens.queue)
}
