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
//
// Epoch names the history the event was written on: the PostgreSQL
// timeline of the primary that wrote it (a promotion starts a new one), or
// 0 for events written before positions had epochs. It takes no part in
// the order: on one history every event of a later timeline has a larger
// xid than every event of an earlier one. It tells whether a position
// handed out by a primary that has since been replaced is on the history
// of the new one: after an asynchronous failover the new primary hands
// the lost transactions' xids and ids out again, and (Xid, ID) alone would
// then name a different event (docs/ha.md).
type Position struct {
	Epoch uint32
	Xid   uint64
	ID    int64
}

// IsZero reports whether p is the position before every event.
func (p Position) IsZero() bool { return p.Xid == 0 && p.ID == 0 }

// Less reports whether p sorts before q. Positions of one history only:
// the epoch does not take part.
func (p Position) Less(q Position) bool {
	if p.Xid != q.Xid {
		return p.Xid < q.Xid
	}
	return p.ID < q.ID
}

// String renders p as the SSE event id "<epoch>-<xid>-<id>", or "<xid>-<id>"
// for epoch 0 (the form of the releases before epochs). Clients treat it as
// an opaque string and send it back as Last-Event-ID.
func (p Position) String() string {
	s := strconv.FormatUint(p.Xid, 10) + "-" + strconv.FormatInt(p.ID, 10)
	if p.Epoch == 0 {
		return s
	}
	return strconv.FormatUint(uint64(p.Epoch), 10) + "-" + s
}

// ParsePosition parses the forms written by Position.String. An id of the
// older form "<xid>-<id>" has epoch 0: it names an event written before
// the log recorded epochs, and resumes only from such an event.
func ParsePosition(s string) (Position, error) {
	bad := func() (Position, error) {
		return Position{}, Errorf(EBADREQUEST, "Event id %q is not of the form <epoch>-<xid>-<id>.", s)
	}
	parts := strings.Split(strings.TrimSpace(s), "-")
	var epoch uint64
	switch len(parts) {
	case 2:
	case 3:
		var err error
		if epoch, err = strconv.ParseUint(parts[0], 10, 32); err != nil {
			return bad()
		}
		parts = parts[1:]
	default:
		return bad()
	}
	xid, err1 := strconv.ParseUint(parts[0], 10, 64)
	id, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil || id < 0 {
		return bad()
	}
	return Position{Epoch: uint32(epoch), Xid: xid, ID: id}, nil
}

// Event is one committed change, as read from the event log.
type Event struct {
	Position Position
	Topic    string          // e.g. "agents.a1.presence"
	Kind     string          // the SSE event name, e.g. "presence"
	At       time.Time       // when the change was made
	Body     json.RawMessage // the new state of the changed thing
}

// KindReset is the Kind of the event sent, once, to a stream whose
// Last-Event-ID is older than the log's retention window (or not on the
// log's history): events after it may be gone, so the client must reload
// state. Its Position is where the stream goes on from.
const KindReset = "reset"

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
	// retention window, so events after it may have been pruned, or when
	// the log cannot show that pos is on its history (lost in a failover,
	// or from another database).
	ReadEvents(ctx context.Context, after Position, limit int) ([]Event, error)

	// HeadPosition returns the position of the newest event that is final;
	// when the log is empty, the position it was pruned through (zero only
	// for a log that never held an event). A stream that starts without
	// Last-Event-ID starts after it, and a reset event carries it.
	HeadPosition(ctx context.Context) (Position, error)
}
