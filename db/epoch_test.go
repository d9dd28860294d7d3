package db_test

import (
	"testing"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/dbtest"
)

// A position names its event with the epoch (timeline) it was written on;
// resuming after a position whose event is not in the log with that epoch
// resets, as does a position the log never held. An id of the older form
// (epoch 0) resumes from events written before epochs.
func TestReadEventsChecksTheEpoch(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	mustAgent(t, d, "a2")
	var evs []presence.Event
	for deadline := time.Now().Add(10 * time.Second); len(evs) < 2; time.Sleep(10 * time.Millisecond) {
		var err error
		evs, err = d.ReadEvents(ctx, presence.Position{}, 10)
		ok(t, err)
		if time.Now().After(deadline) {
			t.Fatalf("events: %d", len(evs))
		}
	}
	first := evs[0].Position
	if first.Epoch != 1 {
		t.Fatalf("epoch of a new event = %d, want the timeline 1", first.Epoch)
	}
	head, err := d.HeadPosition(ctx)
	ok(t, err)
	if head.Epoch != 1 {
		t.Fatalf("head %v has no epoch", head)
	}
	rest, err := d.ReadEvents(ctx, first, 10)
	ok(t, err)
	if len(rest) != 1 || rest[0].Position != evs[1].Position {
		t.Fatalf("after %v: %+v", first, rest)
	}
	// The same xid and id on another history: a new primary handed them
	// out again after the old one died with them unshipped.
	for _, p := range []presence.Position{
		{Epoch: 2, Xid: first.Xid, ID: first.ID},
		{Epoch: 0, Xid: first.Xid, ID: first.ID},                   // an old-form id of a new event
		{Epoch: 1, Xid: first.Xid, ID: first.ID + 1_000_000},       // never in the log
		{Epoch: 1, Xid: evs[1].Position.Xid + 1_000, ID: first.ID}, // past the head
	} {
		_, err := d.ReadEvents(ctx, p, 10)
		mustCode(t, err, presence.ERESET)
	}
	// Events written before epochs carry 0, and old-form ids resume there.
	_, err = d.Pool().Exec(ctx, `UPDATE events SET epoch = 0 WHERE id = $1`, first.ID)
	ok(t, err)
	old, err := presence.ParsePosition(presence.Position{Xid: first.Xid, ID: first.ID}.String())
	ok(t, err)
	rest, err = d.ReadEvents(ctx, old, 10)
	ok(t, err)
	if len(rest) != 1 || rest[0].Position != evs[1].Position {
		t.Fatalf("after the old-form id %v: %+v", old, rest)
	}
}
