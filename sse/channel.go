package sse

import (
	"encoding/json"

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
	topics map[presence.Topic]struct{} // nil when err is set
	err    error
}

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
	return &channelChange{id: id, topics: topics, err: err}
}

// applyChannelChange gives the open streams of a channel its new topics.
// It returns the streams to end: with a topic list the broker refuses (over
// MaxTopics, say) they reconnect and get the error. Must hold b.mu.
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
	for s := range subs {
		b.setTopicsLocked(s, allowedTopics(c.topics, s.allow))
		s.channelUpdated = true
	}
	return nil
}

// allowedTopics returns the topics that allow lets through: topics itself
// when that is all of them (sets are shared, never changed), a new set
// otherwise.
func allowedTopics(topics map[presence.Topic]struct{}, allow func(presence.Topic) bool) map[presence.Topic]struct{} {
	if allow == nil {
		return topics
	}
	for t := range topics {
		if allow(t) {
			continue
		}
		out := make(map[presence.Topic]struct{}, len(topics))
		for u := range topics {
			if allow(u) {
				out[u] = struct{}{}
			}
		}
		return out
	}
	return topics
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
