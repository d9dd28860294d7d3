package sse

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	presence "github.com/presenced/presenced"
)

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
