// Package handoff lets an HTTP handler go on serving its request after it
// returns, and lets the middleware around it act at the request's real end.
//
// It is the HTTP transport's request lifecycle, not a domain concept, so it
// lives under http/ rather than in the root package. It is a package of its
// own, standard library only, because both transports use it: the http
// package's middleware (access log, metrics, the count of a token's open
// streams) and the sse package's hijacked streams, and sse must not import
// the http package.
package handoff

import (
	"context"
	"sync"
)

// Handoff lets an HTTP handler go on serving its request after it
// returns. An SSE stream hijacks its connection and is written from a
// goroutine of its own, so that the handler goroutine, whose stack the
// middleware chain has grown, ends instead of holding that stack for the
// stream's life. Middleware that acts when a request ends (the access log,
// the metrics, the count of a token's open streams) registers that work
// with AtEnd, which waits for the stream's real end.
//
// net/http cancels a request's context when its handler returns, hijacked
// or not, so the context of a handoff is linked to the request's context
// only until Detach.
type Handoff struct {
	cancel context.CancelFunc
	stop   func() bool // unlinks the context from the request's

	mu       sync.Mutex
	detached bool
	ended    bool
	written  int64
	atEnd    []func()
}

type handoffKey struct{}

// New returns the context to serve a request with, given the request's
// own, and its Handoff. Whoever makes it calls Release once the handler
// has returned.
func New(parent context.Context) (context.Context, *Handoff) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	h := &Handoff{cancel: cancel}
	h.stop = context.AfterFunc(parent, cancel)
	return context.WithValue(ctx, handoffKey{}, h), h
}

// From returns the Handoff of ctx, or nil.
func From(ctx context.Context) *Handoff {
	h, _ := ctx.Value(handoffKey{}).(*Handoff)
	return h
}

// Detach tells h that the handler goes on serving after it returns; it
// must then call End exactly once. It returns false when the request has
// already ended (its client went away): then there is nothing to serve.
func (h *Handoff) Detach() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.detached || h.ended || !h.stop() {
		return false
	}
	h.detached = true
	return true
}

// End ends a detached request: its context is canceled and the work
// registered with AtEnd runs, in the order registered. written is the
// size of the body sent after Detach, for the access log.
func (h *Handoff) End(written int64) {
	h.mu.Lock()
	h.ended = true
	h.written = written
	fns := h.atEnd
	h.atEnd = nil
	h.mu.Unlock()
	h.cancel()
	for _, fn := range fns {
		fn()
	}
}

// AtEnd runs fn when the request ends: at once, unless the handler has
// detached and not ended yet.
func (h *Handoff) AtEnd(fn func()) {
	h.mu.Lock()
	if h.detached && !h.ended {
		h.atEnd = append(h.atEnd, fn)
		h.mu.Unlock()
		return
	}
	h.mu.Unlock()
	fn()
}

// Detached reports whether the handler detached.
func (h *Handoff) Detached() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.detached
}

// Written returns the size End reported (0 before End).
func (h *Handoff) Written() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.written
}

// Release ends the request once its handler has returned, unless the
// handler detached.
func (h *Handoff) Release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.detached {
		return
	}
	h.ended = true
	h.stop()
	h.cancel()
}
