package db

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

// Sweeper declares lost the sessions that stopped beating: every
// Policy.SweepEvery it marks lost each live session whose last beat is older
// than Policy.StaleAfter, so that a silent client is found within
// Policy.DeadAfter. Marking a session lost may turn its agent DISCONNECTED,
// which the state trigger publishes in the same transaction. Every node
// runs a sweeper; the one that wins the advisory lock sweeps, the others
// skip that round.
type Sweeper struct {
	db *DB
	// Policy is the heartbeat policy (DB.HeartbeatPolicy() by default).
	Policy presence.HeartbeatPolicy
	// BatchSize bounds the agents one transaction locks, so a mass
	// disconnect (a site losing its network) does not hold thousands of
	// agent locks at once.
	BatchSize int
	// OnSweep, when set, is told the outcome of every background round:
	// the sessions marked lost (0 when another node holds the lock) and
	// the error. The node's metrics count rounds with it.
	OnSweep func(lost int64, err error)

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// NewSweeper returns a sweeper with the database's heartbeat policy.
func NewSweeper(db *DB) *Sweeper {
	return &Sweeper{db: db, Policy: db.HeartbeatPolicy(), BatchSize: 500}
}

// Open starts sweeping in the background.
func (s *Sweeper) Open() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(max(s.Policy.OrDefault().SweepEvery(), time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			n, err := s.Sweep(ctx)
			if err != nil && ctx.Err() == nil {
				s.db.Logger.Warn("heartbeat sweep failed", "err", err)
			}
			if s.OnSweep != nil && ctx.Err() == nil {
				s.OnSweep(n, err)
			}
		}
	}()
}

// Close stops the sweeper.
func (s *Sweeper) Close() {
	if s.cancel != nil {
		s.cancel()
		s.done.Wait()
	}
}

// Sweep marks the silent sessions lost if this node wins the lock, and
// returns how many it marked. The database's clock decides what is silent,
// the same clock that stamped the beats.
func (s *Sweeper) Sweep(ctx context.Context) (int64, error) {
	var total int64
	for {
		n, more, err := s.sweepBatch(ctx)
		total += n
		if err != nil || !more {
			return total, err
		}
	}
}

func (s *Sweeper) sweepBatch(ctx context.Context) (marked int64, more bool, err error) {
	staleMS := s.Policy.OrDefault().StaleAfter().Milliseconds()
	batch := s.BatchSize
	if batch <= 0 {
		batch = 500
	}
	err = s.db.inTx(ctx, func(tx pgx.Tx) error {
		won, err := s.db.q.AdvisoryTryXactLock(ctx, tx, lockKeySweep)
		if err != nil || !won {
			return err
		}
		agents, err := s.db.q.SessionStaleAgents(ctx, tx, dbsqlc.SessionStaleAgentsParams{
			StaleAfterMs: staleMS, MaxRows: int32(batch)})
		if err != nil || len(agents) == 0 {
			return err
		}
		// Every change of an agent takes its row lock first (in id order
		// here, as AgentLockByIDs sorts), so the state events of one agent
		// stay in order with its logins, logouts and beats.
		if _, err := s.db.q.AgentLockByIDs(ctx, tx, agents); err != nil {
			return err
		}
		if marked, err = s.db.q.SessionMarkLost(ctx, tx, dbsqlc.SessionMarkLostParams{
			AgentIds: agents, StaleAfterMs: staleMS}); err != nil {
			return err
		}
		more = len(agents) == batch
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return marked, more, nil
}
