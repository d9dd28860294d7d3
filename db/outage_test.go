package db

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// An outage is logged twice, at its start and at its end with the count of
// failed requests, however many requests fail; nothing while all is well.
func TestOutageLoggedOnceEachWay(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	var o outage
	o.ok(logger)
	for round := range 2 {
		buf.Reset()
		for range 100 + round {
			o.fail(logger, errors.New("connection refused"))
		}
		o.ok(logger)
		o.ok(logger)
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 2 || !strings.Contains(lines[0], "level=ERROR") || !strings.Contains(lines[0], "connection refused") ||
			!strings.Contains(lines[1], "database reachable again") || !strings.Contains(lines[1], "failed_requests="+[]string{"100", "101"}[round]) {
			t.Fatalf("outage %d logged:\n%s", round, buf.String())
		}
	}
}
