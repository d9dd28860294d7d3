package sse

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	presence "github.com/presenced/presenced"
)

// resetBody is the envelope body of the presence.KindReset event: why the
// client's id cannot be resumed from (past the retention window, lost in a
// failover, past the log's head) and what to do. That event's id is the
// log's head at that moment (for a log pruned empty, the position it was
// pruned through), so that a later reconnect resumes from there; its topic
// is the stream's topic patterns, comma-separated as ?topic= takes them;
// the stream goes on live after it.
func resetBody(why string) json.RawMessage {
	body, _ := json.Marshal(struct {
		Reload  bool   `json:"reload"`
		Message string `json:"message"`
	}{true, why + " Reload the state, then go on from this event."})
	return body
}

// backlog is the first page of a resumed stream, read before the stream
// starts so that a log that cannot be read still gets an HTTP error.
type backlog struct {
	after  presence.Position // the page follows this position
	events []presence.Event
	reset  bool   // the client's id cannot be resumed from; after is the log's head
	why    string // why not, for the reset event
}

// firstPage reads the first page after the client's last id. When the log
// no longer holds the events after it (ERESET), or never held that id (it
// is past the log's head: a restored database, another cluster), it reads
// from the log's head instead and marks the backlog reset.
func (b *Broker) firstPage(ctx context.Context, after presence.Position) (backlog, error) {
	evs, err := b.cfg.Log.ReadEvents(ctx, after, b.pageSize)
	pruned := presence.ErrorCode(err) == presence.ERESET
	switch {
	case err != nil && !pruned:
		return backlog{}, err
	case !pruned && (len(evs) > 0 || !b.Position().Less(after)):
		return backlog{after: after, events: evs}, nil
	}
	why := presence.ErrorMessage(err)
	head, err := b.cfg.Log.HeadPosition(ctx)
	if err != nil {
		return backlog{}, err
	}
	if !pruned {
		if !head.Less(after) {
			return backlog{after: after}, nil // written on a node further ahead; we catch up
		}
		why = fmt.Sprintf("Event %s is past the head of the event log (a restored database, or another one).", after)
	}
	if evs, err = b.cfg.Log.ReadEvents(ctx, head, b.pageSize); err != nil {
		return backlog{}, err
	}
	return backlog{after: head, events: evs, reset: true, why: why}, nil
}

// write is a stream's writer: it writes the header, the backlog and the
// pending events, then the live ones, with a ping every Heartbeat, until
// ctx ends or a write fails.
func (b *Broker) write(ctx context.Context, s *subscriber, start backlog, resume bool, sk sink) error {
	if err := sk.write(nil); err != nil {
		return err
	}
	tick := time.NewTicker(b.cfg.Heartbeat)
	defer tick.Stop()
	if err := b.catchUp(ctx, s, start, resume, sk, tick.C); err != nil {
		return err
	}
	return b.live(ctx, s, sk, tick.C)
}

// catchUp writes the backlog of a resumed stream, then the events published
// meanwhile, and makes s live. Why no event is lost or doubled:
//
//   - s was registered before the first log read, so every event published
//     after registration is in its pending queue, and every event published
//     before it is in the log by the time of that read (the listener
//     publishes what it has read from the log);
//   - the backlog is read until a short page, so it ends at or after every
//     event published before registration;
//   - s.advance raises s's floor to each page's end: pending events at or
//     before it were in the backlog and are dropped, later ones are kept;
//   - takePending makes s live in the same critical section in which it
//     finds the pending queue empty, so Publish queues the next event for
//     the writer, after everything written so far.
//
// Without resume the stream starts after the broker's position at
// registration; only the pending events are written.
//
// A log read that fails ends the stream; the client resumes by id.
func (b *Broker) catchUp(ctx context.Context, s *subscriber, start backlog, resume bool, sk sink, tick <-chan time.Time) error {
	if resume {
		if start.reset {
			reset := presence.Event{Position: start.after, Topic: s.topicList(), Kind: presence.KindReset, At: time.Now().UTC(), Body: resetBody(start.why)}
			if err := writeFrames(sk, b.framers.backlog([]presence.Event{reset})); err != nil {
				return err
			}
			s.advance(start.after)
		}
		after, page := start.after, start.events
		var wanted []presence.Event
		for {
			wanted = wanted[:0]
			for _, ev := range page {
				if s.wantsEvent(ev) {
					wanted = append(wanted, ev)
				}
				after = ev.Position
			}
			if err := b.writeEvents(sk, wanted); err != nil {
				return err
			}
			s.advance(after)
			if len(page) < b.pageSize {
				break
			}
			select {
			case <-tick:
				// A slow log read must not look like a dead stream.
				if err := sk.write(b.framers.ping); err != nil {
					return err
				}
			default:
			}
			var err error
			if page, err = b.cfg.Log.ReadEvents(ctx, after, b.pageSize); err != nil {
				// ERESET too: the client reconnects and gets the reset.
				if ctx.Err() == nil {
					b.logger.Warn("sse: backlog read failed; the stream ends and the client resumes by id", "err", err)
				}
				return err
			}
		}
		if after.Less(s.regPos) {
			b.logger.Error("sse: the log read is behind the published position; events may be missing",
				"read", after.String(), "published", s.regPos.String())
		}
	}
	for {
		evs, last := s.takePending()
		if evs == nil {
			return nil // live
		}
		if err := b.writeEvents(sk, evs); err != nil {
			return err
		}
		if last {
			return errLastWritten
		}
		s.advance(evs[len(evs)-1].Position)
	}
}

// writeEvents frames evs and writes them, counted as delivered.
func (b *Broker) writeEvents(sk sink, evs []presence.Event) error {
	if len(evs) == 0 {
		return nil
	}
	frames := b.framers.backlog(evs)
	if frames == nil {
		return errStreamEnded // the broker is closing
	}
	if err := writeFrames(sk, frames); err != nil {
		return err
	}
	b.delivered.Add(uint64(len(evs)))
	return nil
}

// wantsEvent reports whether a backlog event is for s. Channel events are
// internal; they reach a stream only as a change of its topics. Events that
// Publish would refuse are skipped here too.
func (s *subscriber) wantsEvent(ev presence.Event) bool {
	t, err := presence.ParseTopic(ev.Topic, false)
	if err != nil || t.Root == presence.TopicChannels || strings.ContainsAny(ev.Kind, "\r\n") {
		return false
	}
	return s.wants(t)
}

// topicList is s's topic patterns, sorted and comma-separated.
func (s *subscriber) topicList() string {
	s.mu.Lock()
	topics := s.topics
	s.mu.Unlock()
	list := make([]string, 0, len(topics))
	for t := range topics {
		list = append(list, t.String())
	}
	slices.Sort(list)
	return strings.Join(list, ",")
}
