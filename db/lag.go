package db

import (
	"context"
	"time"

	"github.com/presenced/presenced/db/internal/dbsqlc"
)

// MaxLagCount caps the events Lag counts, so that reading the lag of a
// listener far behind stays one short index walk.
const MaxLagCount = 10_000

// Lag reads how far the listener is behind the log: the final events after
// the position it has delivered (at most MaxLagCount) and the age of the
// oldest of them, by the database's clock. Both are 0 when it has
// delivered everything. The metrics of a node expose them; a lag that
// grows while the database is busy means this node cannot keep up.
func (l *Listener) Lag(ctx context.Context) (events int64, age time.Duration, err error) {
	pos := l.Position()
	row, err := l.db.q.EventLag(ctx, l.db.pool, dbsqlc.EventLagParams{
		AfterXid: int64(pos.Xid), AfterID: pos.ID, MaxRows: MaxLagCount})
	if err != nil {
		return 0, 0, interpretError(err)
	}
	return row.Events, time.Duration(row.AgeSeconds * float64(time.Second)), nil
}
