package http_test

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"

	presence "github.com/presenced/presenced"
	presencehttp "github.com/presenced/presenced/http"
	"github.com/presenced/presenced/internal/presencetest"
	"github.com/presenced/presenced/metrics"
)

var madeRequestID = regexp.MustCompile(`^[0-9a-f]{24}$`)

func TestRequestIDIsEchoedWhenSaneAndMadeOtherwise(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	for _, c := range []struct{ name, sent, want string }{
		{"sane", "lb-7f3a:0001", "lb-7f3a:0001"},
		{"uuid", "3f1e2d4c-0b6a-4e8f-9a7b-2c1d0e9f8a7b", "3f1e2d4c-0b6a-4e8f-9a7b-2c1d0e9f8a7b"},
		{"none", "", ""},
		{"with spaces", "a b", ""},
		{"with a newline", "a\\nb", ""},
		{"too long", strings.Repeat("x", 129), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := *s
			s.t = t
			_, _, h := s.do("GET", "/healthz", "", "X-Request-Id", c.sent)
			got := h.Get("X-Request-Id")
			if c.want != "" && got != c.want || c.want == "" && !madeRequestID.MatchString(got) {
				t.Fatalf("sent %q, got %q", c.sent, got)
			}
		})
	}
}

// syncBuffer is a log sink the server writes to from its goroutines.
type syncBuffer struct{ presencetest.SyncBuffer }

// lines returns the JSON log lines with the given message.
func (b *syncBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Bytes())
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func TestAccessLogNamesRequestRouteTokenAndNeverTheQuery(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	s := mustOpenServer(t, func(s *presencehttp.Server) {
		s.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	s.must(201, "POST", "/v1/agents", `{"id": "a1"}`)
	_, _, h := s.do("GET", "/v1/agents/a1", "", "X-Request-Id", "req-42")
	if h.Get("X-Request-Id") != "req-42" {
		t.Fatalf("request id: %v", h)
	}
	// access_token is a stream's parameter only: 400 here, and never logged.
	s.mustError(400, "invalid_query", "GET", "/v1/agents/a1?access_token=secret-in-query", "")
	s.as("", "GET", "/v1/agents/a1", "") // refused: 401

	var ok, refused map[string]any
	for _, l := range logs.lines(t, "http request") {
		switch {
		case l["request_id"] == "req-42":
			ok = l
		case l["status"] == 401.0:
			refused = l
		}
	}
	if ok == nil || ok["level"] != "DEBUG" || ok["route"] != "GET /v1/agents/{id}" || ok["path"] != "/v1/agents/a1" ||
		ok["status"] != 200.0 || ok["token_id"] != s.adminID || ok["method"] != "GET" || ok["duration_ms"] == nil {
		t.Fatalf("access log of a success: %v", ok)
	}
	if refused == nil || refused["level"] != "INFO" || refused["token_id"] != nil || !madeRequestID.MatchString(refused["request_id"].(string)) {
		t.Fatalf("access log of a refusal: %v", refused)
	}
	if strings.Contains(logs.String(), "secret-in-query") {
		t.Fatal("the query string reached the log")
	}
}

func TestInternalErrorLogCarriesTheRequestID(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	s := mustOpenServer(t, func(s *presencehttp.Server) { s.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	if _, err := s.sql().Exec(t.Context(), `DROP VIEW report.spells; DROP TABLE spells CASCADE`); err != nil {
		t.Fatal(err)
	}
	code, _, _ := s.do("GET", "/v1/spells", "", "X-Request-Id", "req-500")
	errs := logs.lines(t, "internal error")
	if code != 500 || len(errs) != 1 || errs[0]["request_id"] != "req-500" {
		t.Fatalf("%d %v", code, errs)
	}
	if access := logs.lines(t, "http request"); len(access) != 1 || access[0]["level"] != "WARN" {
		t.Fatalf("access log of a failure: %v", access)
	}
}

// scrape reads /metrics with token ("" for none).
func (s *testServer) scrape(token string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.URL()+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestMetricsCountRequestsByRoutePatternNotPath(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t, func(s *presencehttp.Server) {
		s.Metrics = metrics.New()
		s.Security.CORSOrigins = []string{"https://wall.example.com"}
	})
	for _, id := range []string{"a1", "a2"} {
		s.must(201, "POST", "/v1/agents", `{"id": "`+id+`"}`)
		s.must(200, "GET", "/v1/agents/"+id, "")
	}
	s.must(404, "GET", "/v1/agents/nobody", "")
	s.must(404, "GET", "/no/such/thing", "")
	// A CORS preflight is answered before the mux: no route matched.
	if code, _, _ := s.do("OPTIONS", "/v1/agents", "", "Origin", "https://wall.example.com", "Access-Control-Request-Method", "GET"); code != 204 {
		t.Fatalf("preflight: %d", code)
	}

	if code, _ := s.scrape(""); code != 401 {
		t.Fatalf("metrics without a token: %d", code)
	}
	code, text := s.scrape(s.mustToken("", presence.ScopeRead))
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	for _, want := range []string{
		`presenced_http_requests_total{code="200",route="GET /v1/agents/{id}"} 2`,
		`presenced_http_requests_total{code="404",route="GET /v1/agents/{id}"} 1`,
		`presenced_http_requests_total{code="201",route="POST /v1/agents"} 2`,
		`presenced_http_requests_total{code="404",route="/"} 1`,
		`presenced_http_requests_total{code="204",route="unmatched"} 1`,
		`presenced_http_request_duration_seconds_count{code="200",route="GET /v1/agents/{id}"} 2`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
	if strings.Contains(text, "/v1/agents/a1") {
		t.Error("a raw path became a label")
	}
}

func TestMetricsArePublicOnlyWhenConfigured(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t, func(s *presencehttp.Server) {
		s.Metrics = metrics.New()
		s.Security.PublicMetrics = true
	})
	if code, text := s.scrape(""); code != 200 || !strings.Contains(text, "presenced_http_requests_in_flight") {
		t.Fatalf("public metrics: %d", code)
	}
	plain := mustOpenServer(t)
	if code, _ := plain.scrape(testAdminToken); code != 404 {
		t.Fatalf("metrics on a server without them: %d", code)
	}
}
