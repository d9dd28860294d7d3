package http

import (
	"encoding/json"
	"strconv"

	presence "github.com/presenced/presenced"
)

// The bulk read answers with up to 10,000 records, and encoding/json
// spends several times as long on them by reflection as this file does
// (BenchmarkPresenceListJSON; figures in docs/performance.md). The JSON
// form of a record is the one encoding/json gives presence.Record by its
// tags; this file writes the same bytes by hand: field by field in the
// struct's order, under the same names, null for nil pointers and slices.
// Strings of plain printable ASCII (ids, statuses, states: nearly all of
// them) are copied as they are; any other string is handed to
// encoding/json, so that its escaping (HTML characters, control
// characters, U+2028, invalid UTF-8) is encoding/json's own.
// TestAppendPresenceList compares the two over records filled by
// reflection over presence.Record (through the handler's steps:
// appendListItem, then appendListEnd), and fails when presence.Record
// gains a field, at any depth, that this does not write.

// appendListItem appends the i-th record of a list opened with
// `{"items":[`.
func appendListItem(b []byte, i int, r *presence.Record) ([]byte, error) {
	if i > 0 {
		b = append(b, ',')
	}
	return appendRecord(b, r)
}

// appendListEnd closes a list whose items are written.
func appendListEnd(b []byte, next string) []byte {
	if next != "" {
		b = append(b, `,"next_cursor":`...)
		b = appendJSONString(b, next)
	}
	return append(b, '}')
}

// reserve makes room for n more bytes in b, doubling its capacity: append
// alone grows a large slice by about a quarter at a time, which would
// copy a 3 MB body about five times over while it is written.
func reserve(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), max(2*cap(b), len(b)+n))
	copy(nb, b)
	return nb
}

func appendRecord(b []byte, r *presence.Record) ([]byte, error) {
	if r == nil {
		return append(b, "null"...), nil
	}
	b = append(b, `{"agent_id":`...)
	b = appendJSONString(b, r.AgentID)
	b = append(b, `,"status":{"id":`...)
	b = appendJSONString(b, r.Status.ID)
	b = append(b, `,"label":`...)
	b = appendJSONString(b, r.Status.Label)
	b = append(b, `,"system_presence":`...)
	b = appendJSONString(b, r.Status.SystemPresence)
	b = append(b, `,"is_away":`...)
	b = strconv.AppendBool(b, r.Status.IsAway)
	b = append(b, `},"state":`...)
	b = appendJSONString(b, r.State)
	b = append(b, `,"routing_status":`...)
	b = appendJSONString(b, r.RoutingStatus)
	b = append(b, `,"message":`...)
	b = appendJSONStringPtr(b, r.Message)
	b = append(b, `,"reason_code":`...)
	b = appendJSONStringPtr(b, r.ReasonCode)
	b = append(b, `,"source":`...)
	b = appendJSONStringPtr(b, r.Source)
	b = append(b, `,"since":`...)
	if r.Since == nil {
		b = append(b, "null"...)
	} else {
		// What time.Time.MarshalJSON writes, and the same errors (a year
		// outside 0–9999, a zone offset of 24 hours or more).
		var err error
		b = append(b, '"')
		if b, err = r.Since.AppendText(b); err != nil {
			return nil, err
		}
		b = append(b, '"')
	}
	b = append(b, `,"spell_id":`...)
	if r.SpellID == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, *r.SpellID, 10)
	}
	b = append(b, `,"capacity":{"configured":`...)
	b = strconv.AppendInt(b, int64(r.Capacity.Configured), 10)
	b = append(b, `,"in_use":`...)
	b = strconv.AppendInt(b, int64(r.Capacity.InUse), 10)
	b = append(b, `},"queues":`...)
	if r.Queues == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, q := range r.Queues {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, q)
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

func appendJSONStringPtr(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendJSONString(b, *s)
}

// appendJSONString appends s as json.Marshal quotes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
