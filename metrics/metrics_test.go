package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/metrics"
)

type fakeStreams struct{}

func (fakeStreams) Subscribers() int        { return 3 }
func (fakeStreams) EventsDelivered() uint64 { return 120 }

func (fakeStreams) Deliverers() int { return 2 }

func (fakeStreams) EventsWrittenDirect() uint64 { return 100 }

func (fakeStreams) EventsDropped() uint64 { return 2 }

type fakeListener struct{ err error }

func (fakeListener) Connected() bool   { return true }
func (fakeListener) Reconnects() int64 { return 4 }
func (l fakeListener) Lag(context.Context) (int64, time.Duration, error) {
	return 7, 1500 * time.Millisecond, l.err
}

// scrape returns the text exposition of m.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func mustContain(t *testing.T, text string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(text, l+"\n") {
			t.Errorf("missing %q", l)
		}
	}
}

func TestScrapeShowsRequestsStreamsListenerAndDuties(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.RegisterStreams(fakeStreams{})
	m.RegisterListener(fakeListener{})
	for range 2 {
		m.RequestStarted()
		m.ObserveRequest("GET /v1/agents/{id}", 200, 3*time.Millisecond, true)
	}
	m.RequestStarted()
	m.ObserveRequest("GET /v1/events", 200, time.Hour, false) // a stream: counted, not timed
	m.RequestStarted()
	m.ObserveRequest("", 405, time.Millisecond, true)
	m.RequestStarted() // still running
	m.ObservePrune(5, nil)
	m.ObserveSweep(0, errors.New("database down"))
	m.ObserveSweep(2, nil)

	text := scrape(t, m)
	mustContain(t, text,
		`presenced_http_requests_total{code="200",route="GET /v1/agents/{id}"} 2`,
		`presenced_http_request_duration_seconds_count{code="200",route="GET /v1/agents/{id}"} 2`,
		`presenced_http_request_duration_seconds_bucket{code="200",route="GET /v1/agents/{id}",le="0.005"} 2`,
		`presenced_http_requests_total{code="200",route="GET /v1/events"} 1`,
		`presenced_http_requests_total{code="405",route="unmatched"} 1`,
		`presenced_http_requests_in_flight 1`,
		`presenced_sse_subscribers 3`,
		`presenced_sse_events_delivered_total 120`,
		`presenced_sse_deliverers 2`,
		`presenced_sse_events_written_direct_total 100`,
		`presenced_sse_events_dropped_total 2`,
		`presenced_listener_connected 1`,
		`presenced_listener_reconnects_total 4`,
		`presenced_listener_lag_events 7`,
		`presenced_listener_lag_seconds 1.5`,
		`presenced_pruner_runs_total{result="ok"} 1`,
		`presenced_pruner_runs_total{result="error"} 0`,
		`presenced_pruner_events_deleted_total 5`,
		`presenced_sweeper_runs_total{result="error"} 1`,
		`presenced_sweeper_runs_total{result="ok"} 1`,
		`presenced_sweeper_sessions_lost_total 2`,
	)
	if strings.Contains(text, `request_duration_seconds_count{code="200",route="GET /v1/events"}`) {
		t.Error("a stream's connection time went into the latency histogram")
	}
	if !strings.Contains(text, "go_goroutines ") || !strings.Contains(text, "process_start_time_seconds ") {
		t.Error("runtime and process metrics missing")
	}
}

// A lag the log cannot answer leaves its series out; the rest still shows.
func TestScrapeWithoutTheLogLeavesOutOnlyTheLag(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.Logger = slog.New(slog.DiscardHandler)
	m.RegisterListener(fakeListener{err: errors.New("database down")})
	text := scrape(t, m)
	if strings.Contains(text, "presenced_listener_lag_events") {
		t.Error("lag shown although it could not be read")
	}
	mustContain(t, text, `presenced_listener_reconnects_total 4`)
}
