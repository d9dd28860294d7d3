package db

// The listener's check, on every (re)connect, that what it delivered is
// still in the log: after a failover it may not be (docs/ha.md).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

// Rewinds counts the reconnects that found the delivered position gone
// from the log (OnRewind).
func (l *Listener) Rewinds() int64 { return l.rewinds.Load() }

// checkHistory runs on every (re)connect, before the first read. When the
// server is not the one of the last connection (another address, or
// another timeline: a promotion) the pool's connections are dropped, as
// they lead to the old server; each would otherwise fail one request.
// When the last delivered event is not in the log with its epoch, the
// listener goes on from the log's head and calls OnRewind.
func (l *Listener) checkHistory(ctx context.Context, conn *pgx.Conn) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	epoch, err := l.db.q.EventEpoch(cctx, conn)
	if err != nil {
		return err
	}
	server := fmt.Sprintf("%s/%d", conn.PgConn().Conn().RemoteAddr(), epoch)
	var fenced bool
	if l.server != "" && server != l.server {
		l.Logger.Warn("event listener reconnected to another primary; dropping the pool's connections to the old one",
			"was", l.server, "now", server)
		l.db.pool.Reset()
		// Every event this node served lately must be in the new
		// primary's log; the first one that is not was lost, and so may
		// be every later one of its epoch that a reader saw.
		epochs, xids, ids := l.db.served.positions()
		lost, err := l.db.q.EventFirstMissing(cctx, conn, dbsqlc.EventFirstMissingParams{Epochs: epochs, Xids: xids, Ids: ids})
		if err != nil {
			return err
		}
		if len(lost) > 0 {
			f := lost[0]
			if err := pgx.BeginFunc(cctx, conn, func(tx pgx.Tx) error {
				if err := l.db.q.EventFenceSet(cctx, tx, dbsqlc.EventFenceSetParams{Epoch: f.Epoch, Xid: f.Xid, ID: f.ID}); err != nil {
					return err
				}
				return l.db.q.EventFenceMark(cctx, tx, dbsqlc.EventFenceMarkParams{Epoch: f.Epoch, Xid: f.Xid, ID: f.ID})
			}); err != nil {
				return err
			}
			fenced = true
			l.Logger.Error("events this node served are not in the new primary's log (lost in a failover with asynchronous replication); readers that may have seen them get a reset",
				"first_lost", presence.Position{Epoch: uint32(f.Epoch), Xid: uint64(f.Xid), ID: f.ID}.String())
		}
	}
	l.server = server
	pos := l.Position()
	if pos.IsZero() {
		if fenced {
			l.rewind(pos)
		}
		return nil
	}
	check, err := l.db.q.EventResumeCheck(cctx, conn, dbsqlc.EventResumeCheckParams{
		AfterXid: int64(pos.Xid), AfterID: pos.ID, Epoch: int32(pos.Epoch)})
	if err != nil {
		return err
	}
	if check.OnHistory {
		if fenced {
			l.rewind(pos) // its own position stands; the streams it fed may not
		}
		return nil
	}
	row, err := l.db.q.EventHead(cctx, conn)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	head := presence.Position{Epoch: uint32(row.Epoch), Xid: uint64(row.Xid), ID: row.ID}
	l.Logger.Error("the last event delivered is not in the database's log (lost in a failover with asynchronous replication?); every stream resumes by id and gets a reset if it saw a lost event",
		"delivered", pos.String(), "head", head.String())
	l.position.Store(&head)
	l.rewind(head)
	return nil
}

// rewind ends what the listener fed: its subscribers resume by id.
func (l *Listener) rewind(p presence.Position) {
	l.rewinds.Add(1)
	if l.OnRewind != nil {
		l.OnRewind(p)
	}
}
