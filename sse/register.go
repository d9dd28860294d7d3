package sse

import presence "github.com/presenced/presenced"

// register adds s to the index with topics (nil for a channel stream whose
// topics are not loaded yet). From here on, published events for s wait in
// its pending queue: those after the broker's current position, or after
// the client's last id when resuming from an older one. (An id newer than
// the current position, from a node further ahead, must not hide events
// of ours: the backlog read covers up to it and raises the floor.) It
// fails once the broker is closed.
func (b *Broker) register(s *subscriber, topics map[presence.Topic]struct{}, lastID presence.Position, resume bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != stateOpen {
		return false
	}
	s.registered = true
	s.regPos = b.pos
	s.floor = b.pos
	if resume && lastID.Less(b.pos) {
		s.floor = lastID
	}
	b.subs[s] = struct{}{}
	if s.channelID != "" {
		m := b.channels[s.channelID]
		if m == nil {
			m = make(map[*subscriber]struct{})
			b.channels[s.channelID] = m
		}
		m[s] = struct{}{}
	}
	b.setTopicsLocked(s, topics)
	return true
}

// setTopicsLocked replaces the topics of s, touching only the index entries
// that change. Must hold b.mu.
func (b *Broker) setTopicsLocked(s *subscriber, topics map[presence.Topic]struct{}) {
	for t := range s.topics {
		if _, ok := topics[t]; !ok {
			b.index.remove(t, s)
		}
	}
	for t := range topics {
		if _, ok := s.topics[t]; !ok {
			b.index.add(t, s)
		}
	}
	s.mu.Lock()
	s.topics = topics
	s.mu.Unlock()
}

// unregister removes s from the broker; it is safe to call twice.
func (b *Broker) unregister(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.unregisterLocked(s)
}

func (b *Broker) unregisterLocked(s *subscriber) {
	if !s.registered {
		return
	}
	s.registered = false
	for t := range s.topics {
		b.index.remove(t, s)
	}
	delete(b.subs, s)
	if m := b.channels[s.channelID]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(b.channels, s.channelID)
		}
	}
}
