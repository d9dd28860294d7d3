package node_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/presenced/presenced/db/dbtest"
	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// scrapeMetrics reads a node's /metrics with the admin token.
func scrapeMetrics(t *testing.T, n *node.Node) string {
	t.Helper()
	req, _ := http.NewRequest("GET", n.URL()+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET /metrics = %d %s", res.StatusCode, b)
	}
	return string(b)
}

// metric returns the value of an unlabelled series, or -1.
func metric(text, name string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// A node's metrics show its streams, what they were sent, its listener
// and its pool, from the real parts.
func TestNodeMetricsShowStreamsListenerAndPool(t *testing.T) {
	t.Parallel()
	n := nodetest.MustOpen(t, dbtest.NewDatabase(t))
	s := subscribe(t, n.URL(), []string{"agents.*.presence"}, "")
	waitSubscribed(t, n, 1)
	request(t, "POST", n.URL()+"/v1/agents", `{"id": "a1"}`)
	put(t, n.URL(), "/v1/agents/a1/presence", `{"status": "busy"}`)
	s.waitFor(t, "presence", 2, 10*time.Second)

	var text string
	deadline := time.Now().Add(10 * time.Second)
	for {
		text = scrapeMetrics(t, n)
		// Caught up: the listener has delivered the final log.
		if metric(text, "presenced_listener_lag_events") == 0 && metric(text, "presenced_sse_events_delivered_total") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed the delivered events:\n%s", text)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for name, want := range map[string]float64{
		"presenced_sse_subscribers":             1,
		"presenced_sse_events_dropped_total":    0,
		"presenced_listener_connected":          1,
		"presenced_listener_reconnects_total":   0,
		"presenced_listener_lag_seconds":        0,
		"presenced_http_requests_in_flight":     2, // the stream and this scrape
		"presenced_pruner_events_deleted_total": 0,
	} {
		if got := metric(text, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// Events published before the stream went live go through its writer;
	// the series is there, and counts no more than was delivered.
	if d := metric(text, "presenced_sse_events_written_direct_total"); d < 0 || d > metric(text, "presenced_sse_events_delivered_total") {
		t.Errorf("presenced_sse_events_written_direct_total = %v", d)
	}
	for _, name := range []string{"presenced_db_pool_max_conns", "presenced_db_pool_total_conns", "presenced_db_pool_acquires_total"} {
		if metric(text, name) <= 0 {
			t.Errorf("%s = %v, want > 0", name, metric(text, name))
		}
	}
	if !regexp.MustCompile(`presenced_http_requests_total\{code="200",route="PUT /v1/agents/\{id\}/presence"\} 1\n`).MatchString(text) {
		t.Error("the presence change is not counted by its route")
	}
}
