package presence

import (
	"context"
	"time"
)

// Channel is a named, server-side subscription: its topic list lives in the
// database so that a client can connect to any node, and changing the list
// reaches the node that serves the stream through the event log (topic
// ChannelTopic(id)).
type Channel struct {
	ID        string    `json:"id"`
	Topics    []string  `json:"topics"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// OwnerTokenID is the token that created the channel (WithToken in
	// CreateChannel's context); nil: none, only admin tokens manage it.
	OwnerTokenID *string `json:"-"`
}

// MayManage reports whether t may read, change and stream channel c: its
// owner and admin tokens may; other tokens are told it does not exist.
func (c *Channel) MayManage(t *Token) bool {
	return t.Has(ScopeAdmin) || (t != nil && c.OwnerTokenID != nil && *c.OwnerTokenID == t.ID)
}

// ChannelTopic is the internal topic on which changes of a channel's topic
// list are published. It is not matched by wildcard subscriptions.
func ChannelTopic(channelID string) string { return "channels." + channelID }

// ChannelService stores channels.
type ChannelService interface {
	// CreateChannel stores a new channel, owned by the token of ctx
	// (WithToken), if any. EINVALID for a bad topic list.
	CreateChannel(ctx context.Context, topics []string) (*Channel, error)
	// FindChannelByID returns a channel. ENOTFOUND when unknown.
	FindChannelByID(ctx context.Context, id string) (*Channel, error)
	// SetChannelTopics replaces the topic list; the change is published on
	// ChannelTopic(id). ENOTFOUND, EINVALID.
	SetChannelTopics(ctx context.Context, id string, topics []string) (*Channel, error)
}

// ChannelNotFound is the error for a channel id that names no channel, or
// one that the asking token may not see.
func ChannelNotFound(id string) error {
	return ReasonErrorf(ENOTFOUND, "channel_not_found", "Channel %q does not exist.", id)
}
