package presence

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Position is the place of an event in the log. Events are totally ordered by
// (Xid, ID): Xid is the 64-bit id of the writing transaction and ID a
// sequence value taken at insert. A reader reads only below its snapshot's
// xmin, where no transaction can still add a row, so a reader that has seen
// Position p never misses a row that sorts after p (see DESIGN.md).
type Position struct {
	Xid uint64
	ID  int64
}

// IsZero reports whether p is the position before every event.
func (p Position) IsZero() bool { return p.Xid == 0 && p.ID == 0 }

// Less reports whether p sorts before q.
func (p Position) Less(q Position) bool {
	if p.Xid != q.Xid {
		return p.Xid < q.Xid
	}
	return p.ID < q.ID
}

// String renders p as the SSE event id "<xid>-<id>". Clients treat it as an
// opaque string and send it back as Last-Event-ID.
func (p Position) String() string {
	return strconv.FormatUint(p.Xid, 10) + "-" + strconv.FormatInt(p.ID, 10)
}

// ParsePosition parses the form written by Position.String.
func ParsePosition(s string) (Position, error) {
	x, i, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return Position{}, Errorf(EBADREQUEST, "Event id %q is not of the form <xid>-<id>.", s)
	}
	xid, err1 := strconv.ParseUint(x, 10, 64)
	id, err2 := strconv.ParseInt(i, 10, 64)
	if err1 != nil || err2 != nil || id < 0 {
		return Position{}, Errorf(EBADREQUEST, "Event id %q is not of the form <xid>-<id>.", s)
	}
	return Position{Xid: xid, ID: id}, nil
}

// Event is one committed change, as read from the event log.
type Event struct {
	Position Position
	Topic    string          // e.g. "agents.a1.presence"
	Kind     string          // the SSE event name, e.g. "presence"
	At       time.Time       // when the change was made
	Body     json.RawMessage // the new state of the changed thing
}

// Envelope is the JSON data line of an SSE event, after Genesys' notification
// body: {topic, version, at, body}.
type Envelope struct {
	Topic   string          `json:"topic"`
	Version int             `json:"version"`
	At      time.Time       `json:"at"`
	Body    json.RawMessage `json:"body"`
}

// EnvelopeVersion is the version of the event body schema.
const EnvelopeVersion = 1

// Data renders the SSE data line of e.
func (e Event) Data() []byte {
	b, err := json.Marshal(Envelope{Topic: e.Topic, Version: EnvelopeVersion, At: e.At, Body: e.Body})
	if err != nil { // Body is RawMessage from the database; it is valid JSON.
		panic(fmt.Sprintf("presence: marshal event envelope: %v", err))
	}
	return b
}

// EventLog reads the committed event log.
type EventLog interface {
	// ReadEvents returns at most limit events after pos (exclusive), in
	// position order, each one final: no event can later appear between
	// them. It returns an error with code ERESET when pos is older than the
	// retention window, so events after it may have been pruned.
	ReadEvents(ctx context.Context, after Position, limit int) ([]Event, error)

	// HeadPosition returns the position of the newest event that is final;
	// when the log is empty, the position it was pruned through (zero only
	// for a log that never held an event). A stream that starts without
	// Last-Event-ID starts after it, and a reset event carries it.
	HeadPosition(ctx context.Context) (Position, error)
}

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
