package client

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestParser(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []message
		lastID   string
	}{
		{"Simple", "id: 1-1\nevent: presence\ndata: {}\n\n",
			[]message{{"1-1", "presence", "{}"}}, "1-1"},
		{"MultiLineData", "data: a\ndata:b\ndata\n\n",
			[]message{{"", "message", "a\nb\n"}}, ""},
		{"CommentsIgnored", ": ping\n\n: hi\ndata: x\n\n",
			[]message{{"", "message", "x"}}, ""},
		{"CRLFAndCR", "id: 2\r\ndata: a\r\n\r\nid: 3\rdata: b\r\r",
			[]message{{"2", "message", "a"}, {"3", "message", "b"}}, "3"},
		{"IDWithoutDataMovesLastID", "id: 9\n\n", nil, "9"},
		{"IDKeptForLaterEvents", "id: 4\ndata: a\n\ndata: b\n\n",
			[]message{{"4", "message", "a"}, {"4", "message", "b"}}, "4"},
		{"EventNameDoesNotLeak", "event: x\n\ndata: y\n\n",
			[]message{{"", "message", "y"}}, ""},
		{"UnfinishedEventDropped", "id: 1\ndata: a\n\nid: 2\ndata: {\"cut",
			[]message{{"1", "message", "a"}}, "1"},
		{"UnfinishedBlockDropped", "id: 1\ndata: a\n\nid: 2\ndata: b\n",
			[]message{{"1", "message", "a"}}, "1"},
		{"BOM", "\uFEFFdata: a\n\n", []message{{"", "message", "a"}}, ""},
		{"NoSpace", "data:a\nevent:e\n\n", []message{{"", "e", "a"}}, ""},
		{"IDWithNULIgnored", "id: 1\n\nid: a\x00b\ndata: x\n\n", []message{{"1", "message", "x"}}, "1"},
		{"UnknownFieldsAndRetry", "retry: 10\nfoo: bar\ndata: x\n\n", []message{{"", "message", "x"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newParser(strings.NewReader(tc.in), "")
			var got []message
			for {
				m, err := p.next()
				if errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				got = append(got, m)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if p.lastID != tc.lastID {
				t.Errorf("lastID = %q, want %q", p.lastID, tc.lastID)
			}
		})
	}
}

// TestParser_Chunked feeds the stream one byte at a time, so that a CR
// is seen before the LF that may follow it.
func TestParser_Chunked(t *testing.T) {
	in := "id: 1\r\ndata: a\r\n\r\nid: 2\r\ndata: b\r\n\r\n"
	p := newParser(&oneByte{s: in}, "")
	for _, want := range []message{{"1", "message", "a"}, {"2", "message", "b"}} {
		m, err := p.next()
		if err != nil || m != want {
			t.Fatalf("got %q %v, want %q", m, err, want)
		}
	}
}

type oneByte struct{ s string }

func (r *oneByte) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	p[0] = r.s[0]
	r.s = r.s[1:]
	return 1, nil
}
