package client

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// maxLine bounds one line of the stream (an event's data line).
const maxLine = 16 << 20

// message is one dispatched SSE event, as the spec defines it.
type message struct {
	id   string // the last event id at dispatch
	kind string // "message" when the event names none
	data string // data lines joined by "\n"
}

// parser reads an event stream as the WHATWG HTML spec describes
// ("Interpreting an event stream"): lines end in CRLF, LF or CR; a line
// starting with ":" is a comment; "field: value" lines fill the event; an
// empty line dispatches it. A block without data dispatches nothing but
// still sets the last event id. An unfinished event at the end of the
// stream is dropped.
type parser struct {
	sc      *bufio.Scanner
	idBuf   string // set by "id" fields
	lastID  string // idBuf at the last dispatch: where a reconnect resumes
	started bool
}

func newParser(r io.Reader, lastID string) *parser {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	sc.Split(scanLines)
	return &parser{sc: sc, idBuf: lastID, lastID: lastID}
}

// next returns the next event with data. It returns the reader's error, or
// io.EOF, when the stream ends.
func (p *parser) next() (message, error) {
	var data strings.Builder
	var kind string
	hasData := false
	for p.sc.Scan() {
		line := p.sc.Text()
		if !p.started {
			p.started = true
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if line == "" {
			p.lastID = p.idBuf
			if !hasData {
				kind = ""
				continue
			}
			if kind == "" {
				kind = "message"
			}
			return message{id: p.lastID, kind: kind, data: strings.TrimSuffix(data.String(), "\n")}, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value, ok := strings.Cut(line, ":")
		if ok {
			value = strings.TrimPrefix(value, " ")
		}
		switch field {
		case "event":
			kind = value
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
			hasData = true
		case "id":
			if !strings.ContainsRune(value, 0) {
				p.idBuf = value
			}
		}
		// "retry" is ignored: Options.Backoff decides. Other fields are
		// ignored, as the spec says.
	}
	if err := p.sc.Err(); err != nil {
		return message{}, err
	}
	return message{}, io.EOF
}

// scanLines splits at CRLF, LF or CR. A last line without an end is
// dropped: it is part of an event that never finished.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	i := bytes.IndexAny(data, "\r\n")
	switch {
	case i < 0:
		if atEOF {
			return len(data), nil, nil
		}
		return 0, nil, nil
	case data[i] == '\n':
		return i + 1, data[:i], nil
	case i+1 < len(data):
		if data[i+1] == '\n' {
			return i + 2, data[:i], nil
		}
		return i + 1, data[:i], nil
	case atEOF:
		return i + 1, data[:i], nil
	default:
		return 0, nil, nil // a CR at the end: wait to see whether LF follows
	}
}
