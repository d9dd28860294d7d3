package presencetest

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"sync"
	"time"

	presence "github.com/presenced/presenced"
)

// EventLog is an in-memory presence.EventLog. The n-th event added has
// xid 5,000,000,000+3n and id 7n: an xid far from the id (as the xid8 of
// a database past its first wraparound is), so that a test that mixes
// them up fails. The zero value is an empty log.
type EventLog struct {
	mu         sync.Mutex
	events     []presence.Event
	pruned     presence.Position // reading after a position before it is ERESET
	n          int64
	beforeRead func() // called at the start of every ReadEvents, outside mu
	readErr    error  // returned by ReadEvents when set
}

var _ presence.EventLog = (*EventLog)(nil)

// Add appends an event and returns it.
func (l *EventLog) Add(topic, kind, body string) presence.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	ev := presence.Event{
		Position: presence.Position{Xid: 5_000_000_000 + uint64(l.n)*3, ID: l.n * 7},
		Topic:    topic,
		Kind:     kind,
		At:       time.Unix(1_700_000_000+l.n, 0).UTC(),
		Body:     json.RawMessage(body),
	}
	l.events = append(l.events, ev)
	return ev
}

// Prune drops the events at or before p, as the retention job does.
func (l *EventLog) Prune(p presence.Position) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruned = p
	i := sort.Search(len(l.events), func(i int) bool { return p.Less(l.events[i].Position) })
	l.events = slices.Clone(l.events[i:])
}

// SetBeforeRead makes every ReadEvents call f first (nil: nothing).
func (l *EventLog) SetBeforeRead(f func()) {
	l.mu.Lock()
	l.beforeRead = f
	l.mu.Unlock()
}

// SetReadErr makes ReadEvents fail with err, as a database that is down
// would (nil: read again).
func (l *EventLog) SetReadErr(err error) {
	l.mu.Lock()
	l.readErr = err
	l.mu.Unlock()
}

// After returns the events after p whose topic is one of topics.
func (l *EventLog) After(p presence.Position, topics ...string) []presence.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []presence.Event
	for _, ev := range l.events {
		if p.Less(ev.Position) && slices.Contains(topics, ev.Topic) {
			out = append(out, ev)
		}
	}
	return out
}

// ReadEvents implements presence.EventLog.
func (l *EventLog) ReadEvents(ctx context.Context, after presence.Position, limit int) ([]presence.Event, error) {
	l.mu.Lock()
	hook, err := l.beforeRead, l.readErr
	l.mu.Unlock()
	if hook != nil {
		hook()
	}
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if after.Less(l.pruned) {
		return nil, presence.Errorf(presence.ERESET, "Position %s is past the retention window.", after)
	}
	i := sort.Search(len(l.events), func(i int) bool { return after.Less(l.events[i].Position) })
	j := min(len(l.events), i+limit)
	return slices.Clone(l.events[i:j]), nil
}

// HeadPosition implements presence.EventLog.
func (l *EventLog) HeadPosition(ctx context.Context) (presence.Position, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) == 0 {
		return l.pruned, nil
	}
	return l.events[len(l.events)-1].Position, nil
}
