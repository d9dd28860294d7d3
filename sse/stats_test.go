package sse

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The figures package metrics exposes: every event queued on a stream is
// delivered, a resumed backlog included; a client that falls behind costs
// one dropped event, and its stream.
func TestStatsCountDeliveredAndDroppedEvents(t *testing.T) {
	var conns connStates
	f := newFixture(t, Config{BufferSize: 16, WriteTimeout: time.Minute}, conns.setup)
	stalledClient(t, f, "/v1/events?topic=agents.*.presence")
	healthy := f.stream("/v1/events?topic=agents.*.presence", "")
	waitFor(t, "two subscribers", func() bool { return f.b.Subscribers() == 2 })

	body := `{"pad":"` + strings.Repeat("x", 2000) + `"}`
	first := f.emit("agents.a0.presence", "presence", body)
	healthy.expectEvents(first)
	for i := 1; i < 200; i++ {
		healthy.expectEvents(f.emit(fmt.Sprintf("agents.a%d.presence", i), "presence", body))
	}
	waitFor(t, "the stalled subscriber to go", func() bool { return f.b.Subscribers() == 1 })
	if n := f.b.EventsDropped(); n != 1 {
		t.Errorf("EventsDropped() = %d, want 1 (the stalled client's stream)", n)
	}
	delivered := f.b.EventsDelivered()
	// The stalled stream took what its buffers held before it was dropped.
	if delivered < 200 || delivered >= 400 {
		t.Errorf("EventsDelivered() = %d, want the healthy stream's 200 plus some of the stalled one's", delivered)
	}

	// A stream resumed after the first event gets the other 199 from the log.
	resumed := f.stream("/v1/events?topic=agents.*.presence", first.Position.String())
	for range 199 {
		if fr := resumed.next(); fr.Ping {
			t.Fatal("ping before the backlog ended")
		}
	}
	waitFor(t, "the backlog to count", func() bool { return f.b.EventsDelivered() == delivered+199 })
}
