package http_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	presencehttp "github.com/presenced/presenced/http"
)

// rawExchange sends raw bytes on a new connection and reads one answer.
// half closes the sending side afterwards, as a client that gave up on its
// body does. It returns the answer and whether the server then closed the
// connection.
func rawExchange(t *testing.T, s *testServer, raw string, half bool) (*http.Response, map[string]any, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Logf("write: %v", err) // the server may answer and close before it has read all
	}
	if half {
		_ = conn.(*net.TCPConn).CloseWrite()
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Errorf("answer %d %q is not JSON", res.StatusCode, body)
	}
	_ = conn.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
	_, err = br.ReadByte()
	closed := err == io.EOF
	return res, out, closed
}

func errorCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// accessLogStatus returns the status of the access-log line of path.
func accessLogStatus(t *testing.T, logs *syncBuffer, path string) float64 {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range logs.lines(t, "http request") {
			if l["path"] == path {
				st, _ := l["status"].(float64)
				return st
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no access-log line for %s", path)
	return 0
}

// A body shorter than its Content-Length is 400, one that trickles in
// slower than the read timeout 408, and the access log says so (it said
// 200 for an empty answer).
func TestBodyCutShortOrTooSlowIsAnErrorAndLoggedAsOne(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	s := mustOpenServer(t, func(s *presencehttp.Server) {
		s.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		s.Timeouts.Read = 700 * time.Millisecond
	})
	head := "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testAdminToken + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"

	res, out, _ := rawExchange(t, s, fmt.Sprintf(head, "/v1/agents")+`{"id": "short"`, true)
	if res.StatusCode != 400 || errorCode(out) != "body_incomplete" {
		t.Errorf("body cut short: %d %v", res.StatusCode, out)
	}
	if st := accessLogStatus(t, &logs, "/v1/agents"); st != 400 {
		t.Errorf("access log of the cut body: status %v", st)
	}

	res, out, closed := rawExchange(t, s, fmt.Sprintf(head, "/v1/statuses")+`{"id": "slow"`, false)
	if res.StatusCode != 408 || errorCode(out) != "body_timeout" || !closed {
		t.Errorf("body too slow: %d %v, closed %v", res.StatusCode, out, closed)
	}
	if st := accessLogStatus(t, &logs, "/v1/statuses"); st != 408 {
		t.Errorf("access log of the slow body: status %v", st)
	}
	if n := len(items(s.must(200, "GET", "/v1/agents", ""))); n != 0 {
		t.Errorf("an agent was created: %d", n)
	}
}

// Invalid UTF-8 and lone surrogate escapes are 422 wherever text is
// stored (encoding/json turned them into U+FFFD); duplicate names are 400,
// also when they differ only in case.
func TestBodyRefusesInvalidUTF8AndDuplicateNames(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "a1"}`)
	cases := []struct {
		status       int
		code, method string
		path, body   string
	}{
		{422, "invalid_utf8", "POST", "/v1/agents", "{\"id\": \"x\", \"name\": \"bad \xff byte\"}"},
		{422, "invalid_utf8", "POST", "/v1/agents", `{"id": "x", "name": "lone \ud800"}`},
		{422, "invalid_utf8", "POST", "/v1/agents", `{"id": "x", "name": "lone \udc00 low"}`},
		{422, "invalid_utf8", "PUT", "/v1/agents/a1/presence", `{"status": "busy", "message": "\ud83d"}`},
		{422, "invalid_utf8", "PUT", "/v1/agents/a1/attributes", `{"custom": {"c": {"n": "\udfff"}}}`},
		{422, "invalid_utf8", "PUT", "/v1/agents/a1/attributes", "{\"custom\": {\"c\xc0\": {\"n\": \"v\"}}}"},
		{422, "invalid_utf8", "POST", "/v1/statuses", `{"id": "s1", "label": "\ud800", "system_presence": "BUSY"}`},
		{422, "invalid_utf8", "PUT", "/v1/queues/q1", `{"name": "\ud800"}`},
		{422, "invalid_utf8", "POST", "/v1/tokens", `{"scopes": ["presence:read"], "name": "\ud800"}`},
		{422, "invalid_utf8", "POST", "/v1/agents/a1/sessions", `{"client": "\ud800"}`},
		{400, "duplicate_name", "POST", "/v1/agents", `{"id": "x", "id": "y"}`},
		{400, "duplicate_name", "PATCH", "/v1/agents/a1", `{"name": "x", "name": "y"}`},
		{400, "duplicate_name", "PUT", "/v1/agents/a1/attributes", `{"custom": {"c": {"n": "a", "n": "b"}}}`},
		{400, "bad_request", "POST", "/v1/agents", `{"id": "x", "ID": "y"}`},
		{400, "bad_request", "POST", "/v1/agents", `{"id": "x", "Name": "y"}`},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d %s %.50q", c.status, c.path, c.body), func(t *testing.T) {
			s.t = t
			s.mustError(c.status, c.code, c.method, c.path, c.body)
		})
	}
	s.t = t
	if n := len(items(s.must(200, "GET", "/v1/agents", ""))); n != 1 {
		t.Errorf("agents: %d, want 1", n)
	}
	if r := s.must(200, "GET", "/v1/agents/a1", ""); r["name"] != "a1" && r["name"] != nil {
		t.Errorf("a1 changed: %v", r)
	}
	if a := s.must(200, "GET", "/v1/agents/a1/attributes", ""); fmt.Sprint(a["custom"]) != "map[]" && a["custom"] != nil {
		t.Errorf("attributes written: %v", a)
	}
}

// A query string that does not parse, names a parameter the route does
// not take or repeats a single one is 400: never a wider answer.
func TestQueryStringThatDoesNotParseOrDoesNotFitIs400(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "h1"}`)
	s.must(201, "POST", "/v1/agents", `{"id": "h2"}`)
	s.must(200, "PUT", "/v1/agents/h1/presence", `{"status": "busy"}`)
	s.must(200, "PUT", "/v1/agents/h2/presence", `{"status": "busy"}`)
	many := "/v1/spells?agent=h1" + strings.Repeat("&limit=5", 10_000)
	for _, path := range []string{
		"/v1/spells?agent=h1;agent=h2",
		"/v1/spells?agent=h1&x=%zz",
		many,
		"/v1/spells?agnet=h1",
		"/v1/spells?agent=h1&agent=h2",
		"/v1/presence?agent=h1&limit=5&limit=6",
		"/v1/agents/h1?verbose=1",
		"/v1/agents?access_token=x",
	} {
		s.mustError(400, "invalid_query", "GET", path, "")
	}
	if got := items(s.must(200, "GET", "/v1/spells?agent=h1", "")); len(got) != 1 {
		t.Errorf("spells of h1: %v", got)
	}
	if got := items(s.must(200, "GET", "/v1/presence?agent=h1&agent=h2,h1", "")); len(got) != 2 {
		t.Errorf("presence of h1, h2 (agent may repeat): %v", got)
	}
}

// A request with both Content-Length and Transfer-Encoding is 400 and the
// connection is closed (net/http reads it by Transfer-Encoding and keeps
// the connection: request smuggling behind a proxy that reads
// Content-Length). A plain request keeps its connection.
func TestConflictingFramingIs400AndClosesTheConnection(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	head := "POST /v1/agents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testAdminToken + "\r\nContent-Type: application/json\r\n"
	body := `{"id": "a1"}`
	chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	for _, raw := range []string{
		head + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked,
		head + "transfer-encoding: chunked\r\ncontent-length: 17\r\n\r\n" + chunked,
	} {
		res, out, closed := rawExchange(t, s, raw, false)
		if res.StatusCode != 400 || errorCode(out) != "conflicting_framing" || !closed {
			t.Errorf("%d %v, closed %v", res.StatusCode, out, closed)
		}
	}
	if n := len(items(s.must(200, "GET", "/v1/agents", ""))); n != 0 {
		t.Fatalf("an agent was created: %d", n)
	}
	res, _, closed := rawExchange(t, s, head+"Transfer-Encoding: chunked\r\n\r\n"+chunked, false)
	if res.StatusCode != 201 || closed {
		t.Errorf("a chunked request: %d, closed %v", res.StatusCode, closed)
	}
}

// Every answer under /v1 is the JSON error shape, also those net/http
// makes itself: 431, 501, a malformed head, the 307 to a cleaned path,
// and a method the path does not serve (405 with Allow, not 404).
func TestNetHTTPsOwnAnswersAreJSONErrors(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	auth := "Authorization: Bearer " + testAdminToken + "\r\n"
	cases := []struct {
		raw    string
		status int
		code   string
	}{
		{"GET /v1/agents HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 1<<20+8192) + "\r\n\r\n", 431, "headers_too_large"},
		{"POST /v1/agents HTTP/1.1\r\nHost: x\r\n" + auth + "Transfer-Encoding: gzip\r\n\r\n", 501, "unsupported_transfer_encoding"},
		{"GET /v1/agents HTTP/1.1\r\n" + auth + "\r\n", 400, "bad_request"}, // no Host
		{"GET /v1/agents HTTP/1.1\r\nHost: x\r\n" + auth + "Expect: bogus\r\n\r\n", 417, "expectation_failed"},
		{"GET /v1/agents/../tokens HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 400, "path_not_canonical"},
		{"GET /v1//tokens HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 400, "path_not_canonical"},
		{"GET /v1/./tokens HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 400, "path_not_canonical"},
	}
	for _, c := range cases {
		res, out, _ := rawExchange(t, s, c.raw, false)
		if res.StatusCode != c.status || errorCode(out) != c.code || res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%.60q: %d %s %v, want %d %s", c.raw, res.StatusCode, res.Header.Get("Content-Type"), out, c.status, c.code)
		}
	}
	for _, c := range []struct{ method, path, allow string }{
		{"DELETE", "/v1/agents", "GET, HEAD, POST"},
		{"POST", "/v1/agents/a1", "GET, HEAD, PATCH, DELETE"},
		{"PUT", "/v1/events", "GET, HEAD"},
	} {
		code, out, h := s.do(c.method, c.path, "")
		if code != 405 || errorCode(out) != "method_not_allowed" || h.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d %v Allow %q, want 405 Allow %q", c.method, c.path, code, out, h.Get("Allow"), c.allow)
		}
	}
	s.mustError(404, "not_found", "GET", "/v1/nothing/here", "")
}
