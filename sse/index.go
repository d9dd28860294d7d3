package sse

import presence "github.com/presenced/presenced"

// topicIndex maps a topic pattern to the subscribers of that pattern. An
// event finds its subscribers with the look-ups of Topic.MatchKeys (at most
// four), whatever the number of subscribers and topics.
//
// Most patterns have one subscriber (an agent's own topics, a channel's
// 100,000 topics), so an entry holds that one inline and grows a map only
// when a second subscriber comes: a map per entry would cost some 200 bytes
// per topic.
type topicIndex map[presence.Topic]indexEntry

type indexEntry struct {
	one  *subscriber              // the only subscriber, when many is nil
	many map[*subscriber]struct{} // two or more subscribers
}

func (x topicIndex) add(t presence.Topic, s *subscriber) {
	e := x[t]
	switch {
	case e.many != nil:
		e.many[s] = struct{}{}
	case e.one == nil:
		e.one = s
	case e.one != s:
		e.many = map[*subscriber]struct{}{e.one: {}, s: {}}
		e.one = nil
	}
	x[t] = e
}

func (x topicIndex) remove(t presence.Topic, s *subscriber) {
	e, ok := x[t]
	switch {
	case !ok:
	case e.many != nil:
		delete(e.many, s)
		if len(e.many) == 0 {
			delete(x, t)
		}
	case e.one == s:
		delete(x, t)
	}
}

// each calls f for every subscriber of pattern t. f must not change x.
func (x topicIndex) each(t presence.Topic, f func(*subscriber)) {
	e, ok := x[t]
	switch {
	case !ok:
	case e.many != nil:
		for s := range e.many {
			f(s)
		}
	default:
		f(e.one)
	}
}
