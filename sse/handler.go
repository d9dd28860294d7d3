package sse

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/http/handoff"
	"github.com/presenced/presenced/http/httperror"
)

// ServeEvents serves GET /v1/events?topic=T&topic=U: the events of those
// topic patterns (a topic parameter may also hold a comma-separated list).
// Errors, before the stream starts: 422 for a bad or missing topic, 413 for
// more than MaxTopics, 400 for a bad Last-Event-ID, 503 when the broker is
// not open or the log cannot be read.
func (b *Broker) ServeEvents(w http.ResponseWriter, r *http.Request) {
	var raw []string
	for _, v := range r.URL.Query()["topic"] {
		raw = append(raw, strings.Split(v, ",")...)
	}
	if len(raw) == 0 {
		writeError(w, presence.Errorf(presence.EINVALID, "Name at least one topic: ?topic=agents.*.presence."))
		return
	}
	topics, err := b.parseTopics(raw)
	if err == nil {
		err = b.authorize(r, topics)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	b.serve(w, r, topics, "")
}

// ServeChannel serves GET /v1/channels/{id}/events: the stream of a
// channel, whose topics follow the channel's subscriptions while the
// stream is open. It answers 404 for an unknown channel, or when the
// broker has no ChannelService; otherwise as ServeEvents.
func (b *Broker) ServeChannel(w http.ResponseWriter, r *http.Request, channelID string) {
	if b.cfg.Channels == nil {
		writeError(w, presence.Errorf(presence.ENOTFOUND, "Channel %q not found.", channelID))
		return
	}
	b.serve(w, r, nil, channelID)
}

// serve runs one stream. In order:
//
//  1. register the subscriber: from here every published event for it is
//     kept, in its pending queue;
//  2. (channels) load the channel's topics;
//  3. (resume) read the first page of the backlog, so that a log that
//     cannot be read still gets an HTTP error;
//  4. hijack the connection when it can (conn.go) and go on in a goroutine
//     of its own, letting the handler return; else go on here;
//  5. write the header, the backlog, then the pending events, then go live
//     (Broker.write).
//
// The stream ends when its context ends (client gone, write failed or
// timed out, subscriber dropped, broker closed) and the feeder has
// finished. Broker.Close waits for it either way.
func (b *Broker) serve(w http.ResponseWriter, r *http.Request, topics map[presence.Topic]struct{}, channelID string) {
	after, resume, err := lastEventID(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if !b.enter() {
		writeError(w, presence.Errorf(presence.EUNAVAILABLE, "The event stream is not available; retry later."))
		return
	}
	h := handoff.From(r.Context())
	if h == nil {
		// Served without the http package's middleware: the stream still
		// needs a context that outlives a handler that returns early.
		ctx, own := handoff.New(r.Context())
		defer own.Release()
		h, r = own, r.WithContext(ctx)
	}
	ctx, cancel := context.WithCancel(r.Context())
	stopOnClose := context.AfterFunc(b.ctx, cancel)
	s := &subscriber{cancel: cancel, done: ctx.Done(), channelID: channelID, maxQueue: b.cfg.BufferSize, out: make(chan *wire, b.cfg.BufferSize)}
	// end releases what the stream holds, handler or not.
	end := func() {
		stopOnClose()
		cancel()
		b.unregister(s)
		b.wg.Done()
	}

	start, err := b.setUp(ctx, r, s, topics, channelID, after, resume)
	if err != nil {
		b.writeError(w, err)
		end()
		return
	}

	if conn, header := hijack(w, r); conn != nil {
		for k, v := range b.framers.header {
			header[k] = slices.Clone(v)
		}
		cs := newConnSink(conn, header, b.cfg.WriteTimeout)
		if d := cs.direct(); d != nil {
			s.setDirect(d, b.assign())
		}
		run := func() {
			var watcher sync.WaitGroup
			watcher.Go(func() { watchClose(conn, cancel) })
			b.run(ctx, s, start, resume, cs)
			cs.close() // which ends the watcher's read
			watcher.Wait()
		}
		if h.Detach() {
			go func() {
				defer end()
				run()
				h.End(cs.bytesWritten())
			}()
			return
		}
		// The client has gone already: its context has ended, and so does
		// the stream, at once.
		defer end()
		run()
		return
	}
	defer end()
	b.run(ctx, s, start, resume, &httpSink{w: w, rc: http.NewResponseController(w), timeout: b.cfg.WriteTimeout,
		header: b.framers.header, warn: b.warnNoDeadline})
}

// setUp makes s ready to stream: registered, with its topics, and with
// the first page of its backlog when it resumes. Errors are the ones
// ServeEvents and ServeChannel document; s may be registered even so.
func (b *Broker) setUp(ctx context.Context, r *http.Request, s *subscriber, topics map[presence.Topic]struct{}, channelID string, after presence.Position, resume bool) (backlog, error) {
	if b.cfg.Authorize != nil {
		s.allow = func(t presence.Topic) bool { return b.cfg.Authorize(r, t) == nil }
	}
	if !b.register(s, topics, after, resume) {
		return backlog{}, presence.Errorf(presence.EUNAVAILABLE, "The event stream is not available; retry later.")
	}
	if channelID != "" {
		ch, err := b.cfg.Channels.FindChannelByID(ctx, channelID)
		if err != nil {
			return backlog{}, err
		}
		topics, err := b.parseTopics(ch.Topics)
		if err == nil {
			err = b.authorize(r, topics)
		}
		if err != nil {
			return backlog{}, err
		}
		b.setChannelTopics(s, topics)
	}
	if !resume {
		return backlog{}, nil
	}
	return b.firstPage(ctx, after)
}

// run streams to s until ctx ends or a write fails; either way the
// stream ends, and s leaves the broker.
func (b *Broker) run(ctx context.Context, s *subscriber, start backlog, resume bool, sk sink) {
	aborted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { sk.abort(); close(aborted) })
	_ = b.write(ctx, s, start, resume, sk)
	s.cancel()
	// A late abort must not set a past deadline on a connection that
	// net/http may reuse: wait for it to finish before returning.
	if !stop() {
		<-aborted
	}
	b.unregister(s)
}

func (b *Broker) warnNoDeadline() {
	b.warnOnce.Do(func() {
		b.logger.Warn("sse: the ResponseWriter does not support write deadlines; a stuck client holds its stream until the client goes")
	})
}

// parseTopics parses a stream's topic list: presence.ParseTopics, with at
// most Config.MaxTopics.
func (b *Broker) parseTopics(raw []string) (map[presence.Topic]struct{}, error) {
	return presence.ParseTopics(raw, b.cfg.MaxTopics)
}

// authorize asks Config.Authorize about every topic of a stream.
func (b *Broker) authorize(r *http.Request, topics map[presence.Topic]struct{}) error {
	if b.cfg.Authorize == nil {
		return nil
	}
	for t := range topics {
		if err := b.cfg.Authorize(r, t); err != nil {
			return err
		}
	}
	return nil
}

// lastEventID returns the position a reconnecting client has seen: the
// Last-Event-ID header (sent by browsers on reconnect) or else the
// last_event_id parameter (for a first connect, where EventSource cannot
// set headers). The header wins: on reconnect the URL still holds the
// first id.
func lastEventID(r *http.Request) (presence.Position, bool, error) {
	s := r.Header.Get("Last-Event-ID")
	if s == "" {
		s = r.URL.Query().Get("last_event_id")
	}
	if s == "" {
		return presence.Position{}, false, nil
	}
	p, err := presence.ParsePosition(s)
	if err != nil {
		// Not echoed whole: a header may be kilobytes long.
		if len(s) > 64 {
			s = strings.ToValidUTF8(s[:64], "") + "…"
		}
		return presence.Position{}, false, presence.Errorf(presence.EBADREQUEST,
			"Last-Event-ID %q is not an event id; send the id of an event this API sent.", s)
	}
	return p, true, nil
}

// writeError logs an internal error, then writes it.
func (b *Broker) writeError(w http.ResponseWriter, err error) {
	if code := presence.ErrorCode(err); code == presence.EINTERNAL || code == presence.EUNAVAILABLE {
		b.logger.Error("sse: stream not started", "err", err)
	}
	writeError(w, err)
}

// writeError answers a stream that cannot start with err, as every error
// answer of the API is written (httperror.Write), and not to be cached.
func writeError(w http.ResponseWriter, err error) {
	w.Header().Set("Cache-Control", "no-store")
	httperror.Write(w, err)
}
