package db

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// Many callers at once through a few slots, batches of varying length: each
// call gets its own answer, and when the last has returned no slot is
// still taken and nothing waits. A lead lost on the way (a call answered
// by another leader's batch while a lead waited for it) keeps a slot
// taken for good; with every slot lost the calls would wait forever.
func TestCoalescerKeepsItsLeads(t *testing.T) {
	t.Parallel()
	c := &coalescer[int, int]{
		maxBatch: 4, timeout: time.Second, maxLeaders: func() int { return 3 },
		run: func(_ context.Context, in []int) []int {
			if rand.IntN(2) == 0 {
				time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
			}
			out := make([]int, len(in))
			for i, v := range in {
				out[i] = 2 * v
			}
			return out
		},
	}
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 300 {
				if v := g*1000 + i; c.call(context.Background(), v) != 2*v {
					t.Errorf("call %d: the wrong answer", v)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("calls still waiting after a minute: every slot lost")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leaders != 0 || len(c.queue) != 0 {
		t.Errorf("after the last call: %d slots taken, %d calls queued", c.leaders, len(c.queue))
	}
}

// A queued call that holds a lead is left to run its own batch: taken into
// another's, it could return with that batch's answer and leave its lead
// unreceived, the slot taken for good.
func TestCoalescerLeavesALeaderItsCall(t *testing.T) {
	t.Parallel()
	var ran [][]int
	c := &coalescer[int, int]{maxBatch: 10, timeout: time.Second, maxLeaders: func() int { return 2 },
		run: func(_ context.Context, in []int) []int { ran = append(ran, in); return in }}
	call := func(v int, leading bool) *coalescedCall[int, int] {
		r := &coalescedCall[int, int]{in: v, done: make(chan int, 1), lead: make(chan struct{}, 1), leading: leading}
		if leading {
			r.lead <- struct{}{}
		}
		return r
	}
	// self runs a batch while other, handed the other slot's lead, has
	// not yet run its own; x waits for any batch.
	self, other, x := call(1, true), call(2, true), call(3, false)
	<-self.lead
	c.queue, c.leaders, c.limit = []*coalescedCall[int, int]{self, other, x}, 2, 2
	c.runBatch(context.Background(), self)
	if fmt.Sprint(ran) != "[[1 3]]" || len(other.done) != 0 || len(c.queue) != 1 || c.queue[0] != other || c.leaders != 1 {
		t.Fatalf("batches %v; the other leader's call answered: %v; queue %d, leaders %d",
			ran, len(other.done) != 0, len(c.queue), c.leaders)
	}
	// other runs its own batch and gives its slot back.
	<-other.lead
	c.runBatch(context.Background(), other)
	if fmt.Sprint(ran) != "[[1 3] [2]]" || c.leaders != 0 || len(c.queue) != 0 {
		t.Errorf("batches %v, leaders %d, queue %d", ran, c.leaders, len(c.queue))
	}
}
