package sse

import (
	"encoding/json"
	"slices"
	"time"

	presence "github.com/presenced/presenced"
)

// A channel's topic list lives in the database. Its open streams learn of a
// change through the event log: an event on presence.ChannelTopic(id) whose
// body is the new list. Such events only change the index; clients never
// see them.

// channelBody is the body of an event on a channel's topic.
type channelBody struct {
	ID     string   `json:"id"`
	Topics []string `json:"topics"`
}

// channelChange is a channel event, parsed.
type channelChange struct {
	id     string
	ev     presence.Event              // the channel event itself
	topics map[presence.Topic]struct{} // nil when err is set
	err    error
}

// KindForbidden is the last event of a channel stream whose channel was
// given a topic that the stream's token may not read: the stream ends
// after it, rather than go on silently without that topic. Its id is the
// position of the change; its topic the channel's (channels.{id}); its
// body names the refused topics. A reconnect gets 403 until the channel's
// topics are ones the token may read again.
const KindForbidden = "forbidden"

// forbiddenBody is the body of a KindForbidden event.
type forbiddenBody struct {
	Channel string   `json:"channel"`
	Topics  []string `json:"topics"` // the refused ones, at most maxForbiddenListed
	Message string   `json:"message"`
}

const maxForbiddenListed = 20

// hasChannelStreams reports whether channel id has an open stream here.
func (b *Broker) hasChannelStreams(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.channels[id]) > 0
}

// parseChannelChange parses the topic list of a channel event. It returns
// nil for a body that does not decode.
func (b *Broker) parseChannelChange(id string, ev presence.Event) *channelChange {
	var body channelBody
	if err := json.Unmarshal(ev.Body, &body); err != nil {
		b.logger.Error("sse: channel event with a bad body ignored", "position", ev.Position.String(), "err", err)
		return nil
	}
	topics, err := b.parseTopics(body.Topics)
	return &channelChange{id: id, ev: ev, topics: topics, err: err}
}

// applyChannelChange gives the open streams of a channel its new topics.
// It returns the streams to end: with a topic list the broker refuses (over
// MaxTopics, say) they reconnect and get the error. A stream whose token
// may not read one of the new topics ends too, after a KindForbidden event
// (endForbidden). Must hold b.mu.
func (b *Broker) applyChannelChange(c *channelChange) (evicted []*subscriber) {
	subs := b.channels[c.id]
	if c.err != nil {
		b.logger.Error("sse: channel topics refused; its streams end", "channel", c.id, "err", c.err)
		for s := range subs {
			evicted = append(evicted, s)
		}
		for _, s := range evicted {
			b.unregisterLocked(s)
		}
		return evicted
	}
	var forbidden []*subscriber
	for s := range subs {
		if !readsAll(c.topics, s.allow) {
			forbidden = append(forbidden, s)
			continue
		}
		b.setTopicsLocked(s, c.topics)
		s.channelUpdated = true
	}
	for _, s := range forbidden {
		b.unregisterLocked(s)
		if !b.endForbidden(s, c) {
			evicted = append(evicted, s)
		}
	}
	return evicted
}

// endForbidden queues the KindForbidden event on s, unregistered already,
// as its last frame: its writer ends s once it is written, after the
// events queued before it (a stream still catching up writes it after its
// pending events). False when it cannot (its buffer is full): end it now;
// its reconnect gets 403. Must hold b.mu.
func (b *Broker) endForbidden(s *subscriber, c *channelChange) bool {
	var refused []string
	for t := range c.topics {
		if !s.allow(t) {
			refused = append(refused, t.String())
		}
	}
	slices.Sort(refused)
	body, _ := json.Marshal(forbiddenBody{
		Channel: c.id,
		Topics:  refused[:min(len(refused), maxForbiddenListed)],
		Message: "The channel now holds topics this token may not read; the stream ends. Narrow the channel's topics or use a token that may read them.",
	})
	ev := presence.Event{Position: c.ev.Position, Topic: c.ev.Topic, Kind: KindForbidden, At: time.Now().UTC(), Body: body}
	s.mu.Lock()
	if !s.live {
		// Not live yet: its writer takes the final event after the
		// pending ones (takePending, under the same lock, so the stream
		// is either live and gets the frame below, or gets this).
		s.final = &ev
		s.mu.Unlock()
		return true
	}
	s.mu.Unlock()
	fs := b.framers.live.frame([]presence.Event{ev})
	if fs == nil {
		return false // the broker is closing
	}
	// The writer ends the stream once it has written a last frame; s is
	// unregistered, so nothing is queued after it. A stream with a
	// deliverer gets it after the frames the deliverer has not written,
	// which passes it to the writer.
	last := &wire{b: fs[0], last: true}
	s.mu.Lock()
	if s.worker != nil {
		s.queue = append(s.queue, last)
		due := !s.scheduled
		s.scheduled = true
		s.mu.Unlock()
		if due {
			s.worker.add([]*subscriber{s})
		}
		return true
	}
	s.mu.Unlock()
	s.inFlight.Add(1)
	select {
	case s.out <- last:
	default:
		s.inFlight.Add(-1)
		return false
	}
	return true
}

// readsAll reports whether allow lets every topic through (nil allows
// everything).
func readsAll(topics map[presence.Topic]struct{}, allow func(presence.Topic) bool) bool {
	if allow == nil {
		return true
	}
	for t := range topics {
		if !allow(t) {
			return false
		}
	}
	return true
}

// setChannelTopics gives a channel stream the topics loaded at connect,
// unless a channel event has already given it newer ones.
func (b *Broker) setChannelTopics(s *subscriber, topics map[presence.Topic]struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.registered && !s.channelUpdated {
		b.setTopicsLocked(s, topics)
	}
}
