package db

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/presenced/presenced/db/internal/dbsqlc"
)

// Advisory lock keys of background duties; one node at a time runs each.
const (
	lockKeyPrune int64 = 0x70726573_00000001 // "pres" + 1
	lockKeySweep int64 = 0x70726573_00000002
)

// Pruner deletes events older than the retention window, on one node at a
// time, and records where it cut so that a reader behind the cut is told to
// reset.
type Pruner struct {
	db        *DB
	Retention time.Duration
	Interval  time.Duration
	// OnPrune, when set, is told the outcome of every background round:
	// the events deleted (0 when another node holds the lock) and the
	// error. The node's metrics count rounds with it.
	OnPrune func(deleted int64, err error)

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// NewPruner returns a pruner; retention <= 0 means the default of 7 days.
func NewPruner(db *DB, retention time.Duration) *Pruner {
	if retention <= 0 {
		retention = 7 * 24 * time.Hour
	}
	return &Pruner{db: db, Retention: retention, Interval: time.Minute}
}

// Open starts pruning in the background.
func (p *Pruner) Open() {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(p.Interval)
		defer t.Stop()
		for {
			n, err := p.Prune(ctx, time.Now())
			if err != nil && ctx.Err() == nil {
				p.db.Logger.Warn("event pruning failed", "err", err)
			}
			if p.OnPrune != nil && ctx.Err() == nil {
				p.OnPrune(n, err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops the pruner.
func (p *Pruner) Close() {
	if p.cancel != nil {
		p.cancel()
		p.done.Wait()
	}
}

// Prune deletes the events older than now - Retention if this node wins the
// lock, and returns how many it deleted.
func (p *Pruner) Prune(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := p.db.inTx(ctx, func(tx pgx.Tx) error {
		ok, err := p.db.q.AdvisoryTryXactLock(ctx, tx, lockKeyPrune)
		if err != nil || !ok {
			return err
		}
		cut, err := p.db.q.EventPruneCut(ctx, tx, now.Add(-p.Retention))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		if n, err = p.db.q.EventPrune(ctx, tx, dbsqlc.EventPruneParams{CutXid: cut.Xid, CutID: cut.ID}); err != nil {
			return err
		}
		return p.db.q.EventSetPrunedThrough(ctx, tx, dbsqlc.EventSetPrunedThroughParams{CutXid: cut.Xid, CutID: cut.ID})
	})
	return n, err
}

// Cut reports whether a prune at now would cut anything, without
// deleting: EventPruneCut alone, for the load program's figure.
func (p *Pruner) Cut(ctx context.Context, now time.Time) (bool, error) {
	_, err := p.db.q.EventPruneCut(ctx, p.db.pool, now.Add(-p.Retention))
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
