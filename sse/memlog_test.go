package sse

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	presence "github.com/presenced/presenced"
)

// memLog is an in-memory presence.EventLog. Positions have a large xid
// unlike the id, so that a test that mixes them up fails.
type memLog struct {
	mu         sync.Mutex
	events     []presence.Event
	pruned     presence.Position // reading after a position before it is ERESET
	n          int64
	beforeRead func() // called at the start of every ReadEvents, outside mu
	readErr    error  // returned by ReadEvents when set
}

var _ presence.EventLog = (*memLog)(nil)

func newMemLog() *memLog { return &memLog{} }

// add appends an event and returns it.
func (l *memLog) add(topic, kind, body string) presence.Event {
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

// prune drops the events at or before p, as the retention job does.
func (l *memLog) prune(p presence.Position) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruned = p
	i := sort.Search(len(l.events), func(i int) bool { return p.Less(l.events[i].Position) })
	l.events = slices.Clone(l.events[i:])
}

func (l *memLog) setBeforeRead(f func()) {
	l.mu.Lock()
	l.beforeRead = f
	l.mu.Unlock()
}

// after returns the events after p whose topic is one of topics.
func (l *memLog) after(p presence.Position, topics ...string) []presence.Event {
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

func (l *memLog) ReadEvents(ctx context.Context, after presence.Position, limit int) ([]presence.Event, error) {
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

func (l *memLog) HeadPosition(ctx context.Context) (presence.Position, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) == 0 {
		return l.pruned, nil
	}
	return l.events[len(l.events)-1].Position, nil
}

// memChannels is an in-memory presence.ChannelService. A topic change is
// published through emit, as the database trigger would.
type memChannels struct {
	mu       sync.Mutex
	channels map[string]*presence.Channel
	emit     func(topic, kind, body string) presence.Event
}

var _ presence.ChannelService = (*memChannels)(nil)

func (c *memChannels) CreateChannel(ctx context.Context, topics []string) (*presence.Channel, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := &presence.Channel{ID: fmt.Sprintf("c%d", len(c.channels)+1), Topics: topics}
	c.channels[ch.ID] = ch
	return ch, nil
}

func (c *memChannels) FindChannelByID(ctx context.Context, id string) (*presence.Channel, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.channels[id]
	if !ok {
		return nil, presence.Errorf(presence.ENOTFOUND, "Channel %q not found.", id)
	}
	cp := *ch
	return &cp, nil
}

func (c *memChannels) SetChannelTopics(ctx context.Context, id string, topics []string) (*presence.Channel, error) {
	c.mu.Lock()
	ch, ok := c.channels[id]
	if !ok {
		c.mu.Unlock()
		return nil, presence.Errorf(presence.ENOTFOUND, "Channel %q not found.", id)
	}
	ch.Topics = topics
	c.mu.Unlock()
	body, _ := json.Marshal(channelBody{ID: id, Topics: topics})
	c.emit(presence.ChannelTopic(id), "channel", string(body))
	return ch, nil
}
