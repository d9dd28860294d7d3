package node_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/db/dbtest"
	presencehttp "github.com/presenced/presenced/http"
	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// mustOpenSecureNode starts a node with the given security settings.
func mustOpenSecureNode(t *testing.T, url string, sec presencehttp.Security) *node.Node {
	t.Helper()
	n := node.New(node.Config{Addr: "127.0.0.1:0", DatabaseURL: url, AdminToken: adminToken, Security: sec,
		Logger: slog.New(slog.DiscardHandler)})
	if err := n.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// call sends a JSON request with token and returns status and body.
func call(t *testing.T, n *node.Node, token, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, n.URL()+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func mustCall(t *testing.T, n *node.Node, want int, token, method, path, body string) map[string]any {
	t.Helper()
	code, out := call(t, n, token, method, path, body)
	if code != want {
		t.Fatalf("%s %s = %d %v, want %d", method, path, code, out, want)
	}
	return out
}

func mustToken(t *testing.T, n *node.Node, body string) (id, secret string) {
	out := mustCall(t, n, 201, adminToken, "POST", "/v1/tokens", body)
	return out["id"].(string), out["token"].(string)
}

// stream is an open SSE response whose data lines arrive on lines; the
// channel closes when the stream ends.
type stream struct {
	lines  chan string
	cancel context.CancelFunc
}

// openStream opens path with ?access_token= as a browser's EventSource
// does, and returns the status and, on 200, the stream.
func openStream(t *testing.T, n *node.Node, path, token string) (int, *stream) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", n.URL()+path+sep+"access_token="+url.QueryEscape(token), nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		cancel()
		return res.StatusCode, nil
	}
	s := &stream{lines: make(chan string, 100), cancel: cancel}
	go func() {
		defer close(s.lines)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				s.lines <- line
			}
		}
	}()
	t.Cleanup(cancel)
	return 200, s
}

// next returns the next data line, failing after the timeout.
func (s *stream) next(t *testing.T, within time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-s.lines:
		if !ok {
			t.Fatal("the stream ended")
		}
		return l
	case <-time.After(within):
		t.Fatal("no event")
	}
	return ""
}

func TestStreamsSeeOnlyWhatTheirTokenMayRead(t *testing.T) {
	t.Parallel()
	n := mustOpenSecureNode(t, dbtest.NewDatabase(t), presencehttp.Security{})
	mustCall(t, n, 201, adminToken, "POST", "/v1/agents", `{"id": "a1"}`)
	mustCall(t, n, 201, adminToken, "POST", "/v1/agents", `{"id": "a2"}`)
	_, own := mustToken(t, n, `{"scopes": ["presence:read"], "agent_id": "a1"}`)
	_, writer := mustToken(t, n, `{"scopes": ["presence:write"]}`)

	for path, want := range map[string]int{
		"/v1/events?topic=agents.a2.presence":                       403,
		"/v1/events?topic=agents.*.presence":                        403,
		"/v1/events?topic=queues.*":                                 403,
		"/v1/events?topic=admin":                                    403,
		"/v1/events?topic=agents.a1.presence&topic=agents.a2.state": 403,
	} {
		if code, _ := openStream(t, n, path, own); code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
	}
	if code, _ := openStream(t, n, "/v1/events?topic=agents.a1.presence", writer); code != 403 {
		t.Errorf("a write-only token streams: %d", code)
	}
	if code, _ := openStream(t, n, "/v1/events?topic=agents.a1.presence", "nope"); code != 401 {
		t.Errorf("a bad token streams: %d", code)
	}

	// A channel: creating one with another agent's topic is refused; a
	// channel made by an admin is the admin's: another token does not see
	// it; topics added live that the token may not read end its stream
	// with a forbidden event.
	mustCall(t, n, 403, own, "POST", "/v1/channels", `{"topics": ["agents.a2.presence"]}`)
	theirs := mustCall(t, n, 201, adminToken, "POST", "/v1/channels", `{"topics": ["agents.a1.presence"]}`)
	if code, _ := openStream(t, n, theirs["connect_uri"].(string), own); code != 404 {
		t.Errorf("another token's channel: %d", code)
	}
	mine := mustCall(t, n, 201, own, "POST", "/v1/channels", `{"topics": ["agents.a1.presence"]}`)
	code, s := openStream(t, n, mine["connect_uri"].(string), own)
	if code != 200 {
		t.Fatalf("own channel: %d", code)
	}
	mustCall(t, n, 200, adminToken, "PUT", "/v1/channels/"+mine["id"].(string)+"/subscriptions",
		`{"topics": ["agents.a1.presence", "agents.a2.presence"]}`)
	mustCall(t, n, 200, adminToken, "PUT", "/v1/agents/a2/presence", `{"status": "busy"}`)
	for { // a1's own events (its creation, read late by the listener) may come first
		got := s.next(t, 10*time.Second)
		if strings.Contains(got, `"channel":"`+mine["id"].(string)+`"`) {
			if !strings.Contains(got, `"topics":["agents.a2.presence"]`) {
				t.Fatalf("forbidden event: %s", got)
			}
			break
		}
		if !strings.Contains(got, `"topic":"agents.a1.presence"`) {
			t.Fatalf("event on the widened channel: %s (want the forbidden event; another agent's event leaked?)", got)
		}
	}
	deadline := time.After(10 * time.Second)
	for ended := false; !ended; {
		select {
		case l, ok := <-s.lines:
			if ok {
				t.Fatalf("event after the forbidden one: %s", l)
			}
			ended = true
		case <-deadline:
			t.Fatal("the stream did not end after the forbidden event")
		}
	}
	if code, _ := openStream(t, n, mine["connect_uri"].(string), own); code != 403 {
		t.Errorf("reconnect to the widened channel: %d", code)
	}
}

func TestRevokedTokenFailsAtOnceOnEveryNode(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	a := mustOpenSecureNode(t, url, presencehttp.Security{})
	b := mustOpenSecureNode(t, url, presencehttp.Security{})
	id, secret := mustToken(t, a, `{"scopes": ["presence:read"]}`)
	code, s := openStream(t, b, "/v1/events?topic=agents.*.presence", secret)
	if code != 200 {
		t.Fatalf("stream: %d", code)
	}
	mustCall(t, b, 200, secret, "GET", "/v1/agents", "")

	mustCall(t, a, 204, adminToken, "DELETE", "/v1/tokens/"+id, "")
	mustCall(t, b, 401, secret, "GET", "/v1/agents", "")
	// The open stream on the other node ends when that node reads the
	// revocation from the event log.
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-s.lines:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("the revoked token's stream is still open")
		}
	}
}

func TestServerTimeoutsDoNotCutStreams(t *testing.T) {
	t.Parallel()
	n := nodetest.MustOpenConfig(t, node.Config{Addr: "127.0.0.1:0", DatabaseURL: dbtest.NewDatabase(t), Logger: quiet,
		Timeouts: presencehttp.Timeouts{Read: 300 * time.Millisecond, Write: 300 * time.Millisecond, Idle: 300 * time.Millisecond}})
	mustCall(t, n, 201, adminToken, "POST", "/v1/agents", `{"id": "a1"}`)
	code, s := openStream(t, n, "/v1/events?topic=agents.a1.presence", adminToken)
	if code != 200 {
		t.Fatalf("stream: %d", code)
	}
	time.Sleep(1200 * time.Millisecond) // four times every timeout
	mustCall(t, n, 200, adminToken, "PUT", "/v1/agents/a1/presence", `{"status": "busy"}`)
	for { // the agent's creation may come first
		if got := s.next(t, 10*time.Second); strings.Contains(got, `"busy"`) {
			return
		}
	}
}

func TestStreamsPerTokenAreLimited(t *testing.T) {
	t.Parallel()
	n := mustOpenSecureNode(t, dbtest.NewDatabase(t), presencehttp.Security{MaxStreamsPerToken: 2})
	_, secret := mustToken(t, n, `{"scopes": ["presence:read"]}`)
	var streams []*stream
	for range 2 {
		code, s := openStream(t, n, "/v1/events?topic=statuses", secret)
		if code != 200 {
			t.Fatalf("stream: %d", code)
		}
		streams = append(streams, s)
	}
	if code, _ := openStream(t, n, "/v1/events?topic=statuses", secret); code != 429 {
		t.Fatalf("third stream: %d, want 429", code)
	}
	// Another token is not affected, and a closed stream frees its place.
	if code, _ := openStream(t, n, "/v1/events?topic=statuses", adminToken); code != 200 {
		t.Fatalf("admin's stream: %d", code)
	}
	streams[0].cancel()
	for deadline := time.Now().Add(10 * time.Second); ; {
		code, s := openStream(t, n, "/v1/events?topic=statuses", secret)
		if code == 200 {
			s.cancel()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the closed stream's place was not freed: %d", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestChannelsBelongToTheTokenThatMadeThem: another token, even one that
// may read every topic of the channel, is told it does not exist; an admin
// token manages every channel.
func TestChannelsBelongToTheTokenThatMadeThem(t *testing.T) {
	t.Parallel()
	n := mustOpenSecureNode(t, dbtest.NewDatabase(t), presencehttp.Security{})
	mustCall(t, n, 201, adminToken, "POST", "/v1/agents", `{"id": "a1"}`)
	_, owner := mustToken(t, n, `{"scopes": ["presence:read"], "agent_id": "a1"}`)
	_, sameAgent := mustToken(t, n, `{"scopes": ["presence:read"], "agent_id": "a1"}`)
	_, reader := mustToken(t, n, `{"scopes": ["presence:read"]}`)
	ch := mustCall(t, n, 201, owner, "POST", "/v1/channels", `{"topics": ["agents.a1.presence"]}`)
	id := ch["id"].(string)

	for _, tok := range []string{sameAgent, reader} {
		if code, out := call(t, n, tok, "GET", "/v1/channels/"+id, ""); code != 404 || out["error"].(map[string]any)["code"] != "channel_not_found" {
			t.Errorf("GET another token's channel: %d %v", code, out)
		}
		mustCall(t, n, 404, tok, "PUT", "/v1/channels/"+id+"/subscriptions", `{"topics": ["statuses"]}`)
		if code, _ := openStream(t, n, "/v1/channels/"+id+"/events", tok); code != 404 {
			t.Errorf("stream of another token's channel: %d", code)
		}
	}
	if got := mustCall(t, n, 200, owner, "GET", "/v1/channels/"+id, ""); got["topics"].([]any)[0] != "agents.a1.presence" {
		t.Fatalf("the refused PUTs changed the channel: %v", got)
	}
	mustCall(t, n, 200, owner, "PUT", "/v1/channels/"+id+"/subscriptions", `{"topics": ["agents.a1.state"]}`)
	mustCall(t, n, 200, adminToken, "GET", "/v1/channels/"+id, "")
	mustCall(t, n, 200, adminToken, "PUT", "/v1/channels/"+id+"/subscriptions", `{"topics": ["agents.a1.presence"]}`)
	if code, _ := openStream(t, n, "/v1/channels/"+id+"/events", adminToken); code != 200 {
		t.Errorf("admin stream of a channel: %d", code)
	}
	if code, _ := openStream(t, n, "/v1/channels/"+id+"/events", owner); code != 200 {
		t.Errorf("owner stream of its channel: %d", code)
	}
}

// TestExpiredTokenIsRefusedAndItsStreamsEnd: a token with expires_at works
// until then; then it gets 401 token_expired and its open stream ends.
func TestExpiredTokenIsRefusedAndItsStreamsEnd(t *testing.T) {
	t.Parallel()
	n := mustOpenSecureNode(t, dbtest.NewDatabase(t), presencehttp.Security{})
	expires := time.Now().Add(1500 * time.Millisecond).UTC().Truncate(time.Second).Add(time.Second)
	_, secret := mustToken(t, n, `{"scopes": ["presence:read"], "expires_at": "`+expires.Format(time.RFC3339)+`"}`)
	mustCall(t, n, 200, secret, "GET", "/v1/agents", "")
	code, s := openStream(t, n, "/v1/events?topic=statuses", secret)
	if code != 200 {
		t.Fatalf("stream: %d", code)
	}
	deadline := time.After(time.Until(expires) + 5*time.Second)
	for ended := false; !ended; {
		select {
		case _, ok := <-s.lines:
			ended = !ok
		case <-deadline:
			t.Fatal("the expired token's stream is still open")
		}
	}
	if time.Now().Before(expires) {
		t.Fatalf("the stream ended before the token expired")
	}
	if code, out := call(t, n, secret, "GET", "/v1/agents", ""); code != 401 || out["error"].(map[string]any)["code"] != "token_expired" {
		t.Fatalf("expired token: %d %v", code, out)
	}
	if code, _ := openStream(t, n, "/v1/events?topic=statuses", secret); code != 401 {
		t.Fatalf("stream with an expired token: %d", code)
	}
}
