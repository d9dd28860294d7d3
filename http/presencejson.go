package http

import (
	"encoding/json"
	"strconv"

	presence "github.com/presenced/presenced"
)

// The bulk read answers with up to 10,000 records, and encoding/json spent
// 8.5 ms of CPU on them by reflection. appendPresenceList writes the same
// bytes by hand: field by field in the struct's order, under the same
// names, null for nil pointers and slices. Strings of plain printable
// ASCII (ids, statuses, states: nearly all of them) are copied as they
// are; any other string is handed to encoding/json, so that its escaping
// (HTML characters, control characters, U+2028, invalid UTF-8) is
// encoding/json's own. TestAppendPresenceList compares the two over
// randomized records, and fails when presence.Record gains a field this
// does not write.

// appendPresenceList appends what json.Marshal(listBody[*presence.Record]{
// Items: items, NextCursor: next}) returns, and fails where it would.
func appendPresenceList(b []byte, items []*presence.Record, next string) ([]byte, error) {
	b = append(b, `{"items":`...)
	if items == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, r := range items {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendRecord(b, r); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	if next != "" {
		b = append(b, `,"next_cursor":`...)
		b = appendJSONString(b, next)
	}
	return append(b, '}'), nil
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
