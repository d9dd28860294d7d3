package db

import (
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	presence "github.com/presenced/presenced"
)

// A presence record is read in one way. The presence_records view is its
// one SQL definition (its JSON form, presence_record_json, is derived from
// the view: migrations/00017); every read of records (one agent, the bulk
// read, the clause query, the answer of a change) selects whole rows of
// the view and hands them to a recordScanner, which finds each column by
// its name. Adding a field to the record therefore means: a column of the
// view, a field of presence.Record, a case in recordScanner.target and a
// line in recordScanner.scan. TestPresenceRecordJSONIsTheRecord fails until
// all of them agree with the event body.
//
// A column the scanner does not know is skipped: during a rolling upgrade
// a node keeps reading while a newer node's migration adds one.

// recordSlot is where one record is scanned: the record and the values
// its pointer fields point to.
type recordSlot struct {
	rec                     presence.Record
	message, reason, source string
	since                   time.Time
	spellID                 int64
}

// recordScanner scans rows of presence_records. The text of columns with
// few distinct values (statuses, states, sources) is shared between the
// records of one read.
type recordScanner struct {
	agentID                 string
	status, label, system   sharedText
	isAway                  bool
	state, routing          sharedText
	message, reason, source sharedText
	since                   pgtype.Timestamptz
	spellID                 pgtype.Int8
	configured, inUse       int
	queues                  []string

	// Made once a read: Scan's variadic arguments would be a new slice a
	// row.
	dest []any
}

func newRecordScanner(fields []pgconn.FieldDescription) *recordScanner {
	s := &recordScanner{dest: make([]any, len(fields))}
	texts := textTable{}
	for _, t := range []*sharedText{&s.status, &s.label, &s.system, &s.state, &s.routing,
		&s.message, &s.reason, &s.source} {
		t.t = texts
	}
	for i, f := range fields {
		s.dest[i] = s.target(f.Name)
	}
	return s
}

// target is where the column of presence_records named column is scanned
// to; nil (skip it) for one that is not a field of the record.
func (s *recordScanner) target(column string) any {
	switch column {
	case "agent_id":
		return &s.agentID
	case "status_id":
		return &s.status
	case "status_label":
		return &s.label
	case "system_presence":
		return &s.system
	case "is_away":
		return &s.isAway
	case "state":
		return &s.state
	case "routing_status":
		return &s.routing
	case "message":
		return &s.message
	case "reason_code":
		return &s.reason
	case "source":
		return &s.source
	case "since":
		return &s.since
	case "spell_id":
		return &s.spellID
	case "capacity_configured":
		return &s.configured
	case "capacity_in_use":
		return &s.inUse
	case "queues":
		return &s.queues
	}
	return nil // agent_deleted_at: every read selects live agents only
}

// scan reads the current row into slot: its record then points only into
// the slot.
func (s *recordScanner) scan(rows pgx.Rows, slot *recordSlot) error {
	s.queues = nil
	if err := rows.Scan(s.dest...); err != nil {
		return err
	}
	queues := s.queues
	if queues == nil {
		queues = []string{}
	}
	*slot = recordSlot{rec: presence.Record{
		AgentID: s.agentID,
		Status: presence.StatusRef{ID: s.status.s, Label: s.label.s,
			SystemPresence: s.system.s, IsAway: s.isAway},
		State:         s.state.s,
		RoutingStatus: s.routing.s,
		Capacity:      presence.Capacity{Configured: s.configured, InUse: s.inUse},
		Queues:        queues,
	}}
	if s.message.valid {
		slot.message = s.message.s
		slot.rec.Message = &slot.message
	}
	if s.reason.valid {
		slot.reason = s.reason.s
		slot.rec.ReasonCode = &slot.reason
	}
	if s.source.valid {
		slot.source = s.source.s
		slot.rec.Source = &slot.source
	}
	if s.since.Valid {
		slot.since = s.since.Time
		slot.rec.Since = &slot.since
	}
	if s.spellID.Valid {
		slot.spellID = s.spellID.Int64
		slot.rec.SpellID = &slot.spellID
	}
	return nil
}

// eachRecord hands the records of rows to fn one at a time, in row
// order, and closes rows. With keep each record is a new one that fn may
// keep; without, every record is scanned into the same slot, and fn must
// not keep the record or its pointers (the bulk read encodes each record
// as it arrives and leaves no garbage behind). An error from fn stops the
// read and is returned as it is.
func eachRecord(rows pgx.Rows, keep bool, fn func(*presence.Record) error) error {
	defer rows.Close()
	var s *recordScanner
	var reused recordSlot
	var chunk []recordSlot
	size := 0
	for rows.Next() {
		if s == nil {
			s = newRecordScanner(rows.FieldDescriptions())
		}
		slot := &reused
		if keep {
			// Kept records are allocated together, in chunks that grow
			// to recordChunk, so that one record costs one small
			// allocation and many records few.
			if len(chunk) == 0 {
				size = min(2*size+1, recordChunk)
				chunk = make([]recordSlot, size)
			}
			slot, chunk = &chunk[0], chunk[1:]
		}
		if err := s.scan(rows, slot); err != nil {
			return err
		}
		if err := fn(&slot.rec); err != nil {
			return err
		}
	}
	return rows.Err()
}

// recordChunk is the most records allocated together.
const recordChunk = 100

// collectRecords returns the records of rows, each of its own, and closes
// rows.
func collectRecords(rows pgx.Rows) ([]*presence.Record, error) {
	out := []*presence.Record{}
	err := eachRecord(rows, true, func(r *presence.Record) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// oneRecord returns the record of the first row of rows, pgx.ErrNoRows if
// there is none, and closes rows.
func oneRecord(rows pgx.Rows) (*presence.Record, error) {
	var rec *presence.Record
	err := eachRecord(rows, true, func(r *presence.Record) error {
		if rec == nil {
			rec = r
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, pgx.ErrNoRows
	}
	return rec, nil
}

// textTable holds the strings already made from the text of one read.
type textTable map[string]string

// maxSharedTexts bounds a textTable: a column that turns out to hold many
// distinct values simply stops being shared.
const maxSharedTexts = 256

// sharedText scans a text column of few distinct values into a string
// that rows with the same text share (pgtype.BytesScanner: the bytes are
// the driver's, valid only during the call).
type sharedText struct {
	t     textTable
	s     string
	valid bool
}

func (x *sharedText) ScanBytes(b []byte) error {
	x.valid = b != nil
	if !x.valid {
		x.s = ""
		return nil
	}
	if s, ok := x.t[string(b)]; ok {
		x.s = s
		return nil
	}
	x.s = string(b)
	if len(x.t) < maxSharedTexts {
		x.t[x.s] = x.s
	}
	return nil
}
