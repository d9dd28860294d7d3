package db_test

import (
	"testing"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
)

// A log pruned empty still knows where it is: its head is the position it
// was pruned through, not zero (a reset event carried id 0-0, and a
// stream resuming from there would read from the start of time).
func TestHeadPositionOfALogPrunedEmpty(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	var evs []presence.Event
	for deadline := time.Now().Add(10 * time.Second); len(evs) == 0; time.Sleep(10 * time.Millisecond) {
		var err error
		evs, err = d.ReadEvents(ctx, presence.Position{}, 100)
		ok(t, err)
		if time.Now().After(deadline) {
			t.Fatal("no event became readable")
		}
	}
	last := evs[len(evs)-1].Position
	_, err := d.Pool().Exec(ctx, `UPDATE events SET at = at - interval '2 hours'`)
	ok(t, err)
	if _, err := db.NewPruner(d, time.Hour).Prune(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if rest, err := d.ReadEvents(ctx, last, 10); err != nil || len(rest) != 0 {
		t.Fatalf("the log is not empty: %v %v", rest, err)
	}
	head, err := d.HeadPosition(ctx)
	ok(t, err)
	if head != last {
		t.Fatalf("head of the pruned-empty log = %s, want %s", head, last)
	}
}
