package sse

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A backlog published in one burst, as the listener does when it catches
// up after an outage, reaches every subscriber that reads as fast as it
// can, whole, however much it overflows their buffers: Publish goes at the
// pace the streams take it. A subscriber that does not read at all is
// still dropped, and costs the burst a bounded wait.
func TestBurstKeepsSubscribersThatKeepUp(t *testing.T) {
	var conns connStates
	f := newFixture(t, Config{WriteTimeout: time.Minute}, conns.setup)
	stalled := stalledClient(t, f, "/v1/events?topic=agents.*.presence")
	const healthy, burst = 4, 3000
	var got [healthy]atomic.Int64
	ended := make(chan int, healthy)
	for i := range healthy {
		ts := f.stream("/v1/events?topic=agents.*.presence", "")
		go func() {
			for fr := range ts.frames {
				if !fr.Ping {
					got[i].Add(1)
				}
			}
			ended <- i
		}()
	}
	waitFor(t, "every subscriber", func() bool { return f.b.Subscribers() == healthy+1 })

	body := `{"pad":"` + strings.Repeat("x", 200) + `"}`
	start := time.Now()
	for i := range burst {
		f.emit(fmt.Sprintf("agents.a%d.presence", i%100), "presence", body)
	}
	took := time.Since(start)
	waitFor(t, "every event at every subscriber that keeps up", func() bool {
		select {
		case i := <-ended:
			t.Fatalf("subscriber %d was dropped after %d of %d events", i, got[i].Load(), burst)
		default:
		}
		for i := range healthy {
			if got[i].Load() < burst {
				return false
			}
		}
		return true
	})
	expectClosed(t, stalled)
	if n := f.b.Subscribers(); n != healthy {
		t.Errorf("Subscribers() = %d, want the %d that keep up", n, healthy)
	}
	if d := f.b.EventsDropped(); d != 1 {
		t.Errorf("EventsDropped() = %d, want 1 (the stalled subscriber)", d)
	}
	t.Logf("burst of %d events published in %v", burst, took)
	if took > 10*time.Second {
		t.Errorf("the burst took %v", took)
	}
}
