package db_test

import (
	"fmt"
	"testing"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
)

// A listener whose subscribers hold it up shows the events it has not
// delivered and how old the oldest is; once it catches up, both are 0.
func TestListenerLagCountsUndeliveredEvents(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	gate := make(chan struct{})
	released := false
	release := func() {
		if !released {
			released = true
			close(gate)
		}
	}
	l := db.NewListener(d, func(presence.Event) { <-gate })
	l.PollInterval = 100 * time.Millisecond
	ok(t, l.Open(ctx))
	t.Cleanup(func() { release(); _ = l.Close() })

	events, age, err := l.Lag(ctx)
	ok(t, err)
	if events != 0 || age != 0 {
		t.Fatalf("lag of a fresh listener: %d events, %v", events, age)
	}
	for i := range 3 {
		mustAgent(t, d, fmt.Sprintf("a%d", i))
	}
	// Events become final once every older transaction of the cluster
	// has ended (other tests write too).
	deadline := time.Now().Add(10 * time.Second)
	for events < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("lag: %d events, want 3", events)
		}
		time.Sleep(10 * time.Millisecond)
		events, age, err = l.Lag(ctx)
		ok(t, err)
	}
	if events != 3 || age <= 0 || age > time.Minute {
		t.Fatalf("lag while held up: %d events, %v", events, age)
	}

	release()
	for deadline := time.Now().Add(10 * time.Second); events != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("lag after catching up: %d events", events)
		}
		events, age, err = l.Lag(ctx)
		ok(t, err)
	}
	if age != 0 {
		t.Fatalf("age when caught up: %v", age)
	}
}
