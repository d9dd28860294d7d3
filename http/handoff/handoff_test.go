package handoff_test

import (
	"context"
	"slices"
	"testing"

	"github.com/presenced/presenced/http/handoff"
)

func TestHandoff(t *testing.T) {
	t.Run("NotDetached", func(t *testing.T) {
		ctx, h := handoff.New(t.Context())
		ran := false
		h.AtEnd(func() { ran = true })
		if !ran {
			t.Error("AtEnd waited without a detached handler")
		}
		h.Release()
		if ctx.Err() == nil {
			t.Error("Release left the context open")
		}
	})
	t.Run("Detached", func(t *testing.T) {
		parent, cancel := context.WithCancel(t.Context())
		ctx, h := handoff.New(parent)
		if !h.Detach() {
			t.Fatal("Detach refused")
		}
		var order []int
		h.AtEnd(func() { order = append(order, 1) })
		h.AtEnd(func() { order = append(order, 2) })
		cancel() // net/http does this when the handler returns
		h.Release()
		if ctx.Err() != nil || len(order) != 0 {
			t.Fatalf("ended before End: %v %v", ctx.Err(), order)
		}
		h.End(42)
		h.AtEnd(func() { order = append(order, 3) }) // late: runs at once
		if ctx.Err() == nil || !slices.Equal(order, []int{1, 2, 3}) || h.Written() != 42 {
			t.Fatalf("after End: %v %v %d", ctx.Err(), order, h.Written())
		}
	})
	t.Run("ClientGoneFirst", func(t *testing.T) {
		parent, cancel := context.WithCancel(t.Context())
		_, h := handoff.New(parent)
		cancel()
		if h.Detach() {
			t.Error("Detach of a request whose client has gone")
		}
	})
}
