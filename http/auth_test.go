package http_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"

	presence "github.com/presenced/presenced"
	presencehttp "github.com/presenced/presenced/http"
)

// Every route is declared with its rule (routes.go); this test keeps an
// API route from being declared open by mistake, which would serve anyone.
func TestEveryAPIRouteNeedsAToken(t *testing.T) {
	t.Parallel()
	routes := presencehttp.Routes()
	if len(routes) < 30 {
		t.Fatalf("only %d routes registered: %v", len(routes), routes)
	}
	for _, p := range routes {
		scope, ok := presencehttp.RouteRule(p)
		if !ok {
			t.Errorf("route %q has no rule", p)
		}
		if _, path, _ := strings.Cut(p, " "); strings.HasPrefix(path, "/v1/") && scope == "" {
			t.Errorf("API route %q is open: give it a scope in http/routes.go", p)
		}
	}
	for _, p := range []string{"GET /healthz", "GET /readyz"} {
		if scope, ok := presencehttp.RouteRule(p); !ok || scope != "" {
			t.Errorf("%s must be open", p)
		}
	}
	if scope, ok := presencehttp.RouteRule("GET /metrics"); !ok || scope != presence.ScopeRead {
		t.Errorf("GET /metrics: %q %v", scope, ok)
	}
}

func TestRequestsWithoutAValidTokenAreRefused(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "a1"}`)
	for _, c := range []struct{ name, header string }{
		{"none", ""},
		{"unknown", "Bearer pdk_" + strings.Repeat("x", 43)},
		{"not bearer", "Basic " + testAdminToken},
		{"empty bearer", "Bearer "},
		{"huge", "Bearer " + strings.Repeat("x", 5000)},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := *s
			s.t = t
			for _, r := range [][2]string{{"GET", "/v1/agents"}, {"GET", "/v1/agents/a1/presence"},
				{"PUT", "/v1/agents/a1/presence"}, {"DELETE", "/v1/agents/a1"}, {"GET", "/v1/tokens"}} {
				code, out, h := s.do(r[0], r[1], `{"status": "busy"}`, "Authorization", c.header)
				if code != 401 || out["error"].(map[string]any)["code"] != "unauthorized" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("%s %s: %d %v %v", r[0], r[1], code, out, h)
				}
			}
		})
	}
	// Nothing was written.
	if rec := s.must(200, "GET", "/v1/agents/a1/presence", ""); rec["spell_id"] != nil {
		t.Fatalf("refused request wrote: %v", rec)
	}
	// The access_token parameter is for streams only: other routes do not
	// take it (400 invalid_query, before any token is looked at).
	if code, _ := s.as("", "GET", "/v1/agents?access_token="+testAdminToken, ""); code != 400 {
		t.Fatalf("access_token accepted outside streams: %d", code)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := s.as("", "GET", p, ""); code != 200 {
			t.Fatalf("%s is not open: %d", p, code)
		}
	}
}

func TestScopesDecideWhatATokenMayDo(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "a1"}`)
	reader := s.mustToken("", presence.ScopeRead)
	writer := s.mustToken("", presence.ScopeWrite)

	s.mustAs(200, reader, "GET", "/v1/agents/a1", "")
	s.mustAs(200, reader, "GET", "/v1/presence", "")
	s.mustAs(200, reader, "GET", "/v1/spells", "")
	s.mustAs(403, reader, "PUT", "/v1/agents/a1/presence", `{"status": "busy"}`)
	s.mustAs(403, reader, "POST", "/v1/agents", `{"id": "a2"}`)
	s.mustAs(403, reader, "GET", "/v1/tokens", "")
	s.mustAs(403, reader, "GET", "/v1/audit", "")

	s.mustAs(200, writer, "PUT", "/v1/agents/a1/presence", `{"status": "busy"}`)
	s.mustAs(403, writer, "GET", "/v1/agents/a1", "")
	s.mustAs(403, writer, "POST", "/v1/agents", `{"id": "a2"}`)
	s.mustAs(403, writer, "PATCH", "/v1/agents/a1", `{"name": "x"}`)
	s.mustAs(403, writer, "POST", "/v1/statuses", `{"id": "x", "label": "X", "system_presence": "AWAY"}`)
	s.mustAs(403, writer, "POST", "/v1/tokens", `{"scopes": ["admin"]}`)

	// Only admins delete and restore.
	s.mustAs(200, writer, "PUT", "/v1/agents/a1/presence", `{"status": "available"}`)
	spells := s.mustAs(200, reader, "GET", "/v1/spells?agent=a1", "")
	id := fmt.Sprint(items(spells)[0].(map[string]any)["id"])
	for _, tok := range []string{reader, writer} {
		s.mustAs(403, tok, "DELETE", "/v1/agents/a1", "")
		s.mustAs(403, tok, "DELETE", "/v1/spells/"+id, "")
		s.mustAs(403, tok, "POST", "/v1/agents/a1/restore", "")
	}
	s.must(200, "GET", "/v1/agents/a1", "")
	s.must(204, "DELETE", "/v1/spells/"+id, "")
	s.mustAs(403, writer, "POST", "/v1/spells/"+id+"/restore", "")
	s.must(200, "POST", "/v1/spells/"+id+"/restore", "")
}

func TestAgentBoundTokenActsOnItsOwnAgentOnly(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "a1"}`)
	s.must(201, "POST", "/v1/agents", `{"id": "a2"}`)
	own := s.mustToken("a1", presence.ScopeRead, presence.ScopeWrite)

	s.mustAs(200, own, "PUT", "/v1/agents/a1/presence", `{"status": "busy"}`)
	s.mustAs(403, own, "PUT", "/v1/agents/a2/presence", `{"status": "busy"}`)
	if rec := s.must(200, "GET", "/v1/agents/a2/presence", ""); rec["spell_id"] != nil {
		t.Fatalf("a forbidden write changed a2: %v", rec)
	}
	s.mustAs(200, own, "GET", "/v1/agents/a1", "")
	s.mustAs(200, own, "GET", "/v1/agents/a1/presence", "")
	s.mustAs(403, own, "GET", "/v1/agents/a2/presence", "")
	s.mustAs(403, own, "GET", "/v1/agents", "")
	s.mustAs(403, own, "GET", "/v1/presence", "")
	s.mustAs(200, own, "GET", "/v1/presence?agent=a1", "")
	s.mustAs(403, own, "GET", "/v1/presence?agent=a1&agent=a2", "")
	s.mustAs(200, own, "GET", "/v1/spells?agent=a1", "")
	s.mustAs(403, own, "GET", "/v1/spells", "")
	s.mustAs(403, own, "GET", "/v1/spells/updated?start=2000-01-01T00:00:00Z", "")
	s.mustAs(200, own, "GET", "/v1/statuses", "") // definitions are no one's data

	// With presence:read:all it reads every agent, and still writes its own only.
	wide := s.mustToken("a1", presence.ScopeReadAll, presence.ScopeWrite)
	s.mustAs(200, wide, "GET", "/v1/agents/a2/presence", "")
	s.mustAs(200, wide, "GET", "/v1/presence", "")
	s.mustAs(403, wide, "PUT", "/v1/agents/a2/presence", `{"status": "busy"}`)
	s.mustAs(200, wide, "PUT", "/v1/agents/a1/presence", `{"status": "meal"}`)

	// Agent-bound admin tokens make no sense: refused.
	s.mustError(422, "invalid", "POST", "/v1/tokens", `{"scopes": ["admin"], "agent_id": "a1"}`)
}

func TestTokensAPI(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	code, out, h := s.do("POST", "/v1/tokens", `{"scopes": ["presence:read", "presence:read"], "name": "wallboard"}`)
	secret, _ := out["token"].(string)
	if code != 201 || out["id"] == "" || !strings.HasPrefix(secret, "pdk_") || len(secret) < 40 || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %d %v %v", code, out, h)
	}
	if scopes := out["scopes"].([]any); len(scopes) != 1 || out["name"] != "wallboard" {
		t.Fatalf("scopes folded, name kept: %v", out)
	}
	id := out["id"].(string)
	s.mustAs(200, secret, "GET", "/v1/agents", "")

	// The list never shows a secret.
	req, _ := http.NewRequest("GET", s.URL()+"/v1/tokens", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || strings.Contains(string(raw), secret) || strings.Contains(string(raw), testAdminToken) ||
		!strings.Contains(string(raw), id) || strings.Contains(string(raw), "hash") {
		t.Fatalf("list: %d %s", res.StatusCode, raw)
	}

	// Bad input is refused and writes nothing.
	s.mustError(422, "unknown_scope", "POST", "/v1/tokens", `{"scopes": ["root"]}`)
	s.mustError(422, "invalid", "POST", "/v1/tokens", `{"scopes": []}`)
	s.mustError(422, "invalid_id", "POST", "/v1/tokens", `{"scopes": ["presence:write"], "agent_id": "no spaces"}`)
	s.mustError(400, "bad_request", "POST", "/v1/tokens", `{"scopes": ["presence:read"], "secret": "mine"}`)
	if list := s.must(200, "GET", "/v1/tokens", ""); len(items(list)) != 2 {
		t.Fatalf("tokens after bad input: %v", list)
	}

	// Revoked: it fails at once, here and on another node of the same
	// database (a read looks its token up on every request).
	other := s.otherNode()
	otherGet := func() int {
		req, _ := http.NewRequest("GET", other.URL()+"/v1/agents", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := otherGet(); code != 200 {
		t.Fatalf("other node before revoke: %d", code)
	}
	s.must(204, "DELETE", "/v1/tokens/"+id, "")
	s.mustAs(401, secret, "GET", "/v1/agents", "")
	if code := otherGet(); code != 401 {
		t.Fatalf("other node after revoke: %d", code)
	}
	s.must(204, "DELETE", "/v1/tokens/"+id, "") // again: nothing changes
	s.mustError(404, "token_not_found", "DELETE", "/v1/tokens/nope", "")
	if list := s.must(200, "GET", "/v1/tokens", ""); items(list)[1].(map[string]any)["revoked_at"] == nil {
		t.Fatalf("revoked_at: %v", list)
	}
}

func TestAuditRecordsWhoDidWhichAdminAction(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "a1"}`)
	s.must(200, "PUT", "/v1/agents/a1/presence", `{"status": "busy"}`)
	s.must(200, "PUT", "/v1/agents/a1/presence", `{"status": "available"}`)
	spell := fmt.Sprint(items(s.must(200, "GET", "/v1/spells?agent=a1", ""))[0].(map[string]any)["id"])
	s.must(204, "DELETE", "/v1/spells/"+spell, "")
	s.must(200, "POST", "/v1/spells/"+spell+"/restore", "")
	s.must(204, "DELETE", "/v1/agents/a1", "")
	s.must(200, "POST", "/v1/agents/a1/restore", "")
	tok := s.must(201, "POST", "/v1/tokens", `{"scopes": ["presence:read"]}`)
	s.must(204, "DELETE", "/v1/tokens/"+tok["id"].(string), "")

	list := s.must(200, "GET", "/v1/audit", "")
	type entry struct{ action, typ, target string }
	var got []entry
	for _, it := range items(list) {
		m := it.(map[string]any)
		if m["target_id"] == s.adminID { // the bootstrap token, stored by no token
			if m["action"] != "create" || m["actor_token_id"] != nil {
				t.Fatalf("bootstrap entry: %v", m)
			}
			continue
		}
		if m["actor_token_id"] != s.adminID || m["at"] == nil {
			t.Fatalf("entry without the acting token: %v (admin %s)", m, s.adminID)
		}
		got = append(got, entry{m["action"].(string), m["target_type"].(string), m["target_id"].(string)})
	}
	tid := tok["id"].(string)
	want := []entry{ // newest first
		{"revoke", "token", tid}, {"create", "token", tid},
		{"restore", "agent", "a1"}, {"delete", "agent", "a1"},
		{"restore", "spell", spell}, {"delete", "spell", spell},
	}
	if len(got) < len(want) || fmt.Sprint(got[:len(want)]) != fmt.Sprint(want) {
		t.Fatalf("audit = %v, want %v first", got, want)
	}
	if len(got) != len(want) {
		t.Fatalf("non-admin actions audited: %v", got)
	}
	page := s.must(200, "GET", "/v1/audit?limit=4&action=delete", "")
	if len(items(page)) != 2 {
		t.Fatalf("filtered: %v", page)
	}
	reader := s.mustToken("", presence.ScopeRead)
	s.mustAs(403, reader, "GET", "/v1/audit", "")
}

func TestRateLimitPerToken(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t, func(s *presencehttp.Server) {
		s.Security.RateLimit = 1 // burst 2
	})
	// Made with the admin token, which has a bucket of its own.
	tok := s.mustToken("", presence.ScopeRead, presence.ScopeWrite)
	other := s.mustToken("", presence.ScopeRead)
	s.mustAs(200, tok, "GET", "/v1/statuses", "")
	s.mustAs(200, tok, "GET", "/v1/statuses", "")
	code, out, h := s.do("GET", "/v1/statuses", "", "Authorization", "Bearer "+tok)
	if n, _ := strconv.Atoi(h.Get("Retry-After")); code != 429 || n < 1 || out["error"].(map[string]any)["code"] != "rate_limited" {
		t.Fatalf("third request: %d %v Retry-After %q", code, out, h.Get("Retry-After"))
	}
	// Heartbeats have their own bucket: a busy client keeps its presence.
	if code, out := s.as(tok, "POST", "/v1/sessions/s1/heartbeat", `{}`); code == 429 {
		t.Fatalf("heartbeat rate-limited with the other requests: %v", out)
	}
	// Other tokens have their own buckets.
	s.mustAs(200, other, "GET", "/v1/statuses", "")
}

func TestCORSAllowsConfiguredOriginsOnly(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t, func(s *presencehttp.Server) {
		s.Security.CORSOrigins = []string{"https://wall.example.com"}
	})
	req, _ := http.NewRequest("OPTIONS", s.URL()+"/v1/agents", nil)
	req.Header.Set("Origin", "https://wall.example.com")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "https://wall.example.com" ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %d %v", res.StatusCode, res.Header)
	}
	_, _, h := s.do("GET", "/v1/agents", "", "Origin", "https://wall.example.com")
	if h.Get("Access-Control-Allow-Origin") != "https://wall.example.com" || !strings.Contains(h.Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Fatalf("allowed origin: %v", h)
	}
	_, _, h = s.do("GET", "/v1/agents", "", "Origin", "https://evil.example.com")
	if h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin allowed: %v", h)
	}
}

// A failure inside answers with a generic sentence: no SQL, no driver
// message, no stack.
func TestInternalErrorsLeakNothing(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t, func(s *presencehttp.Server) { s.Logger = slog.New(slog.DiscardHandler) })
	if _, err := s.sql().Exec(t.Context(), `DROP VIEW report.spells; DROP TABLE spells CASCADE`); err != nil {
		t.Fatal(err)
	}
	code, out, _ := s.do("GET", "/v1/spells", "")
	raw, _ := json.Marshal(out)
	if code != 500 || strings.Contains(string(raw), "spells") || strings.Contains(strings.ToLower(string(raw)), "select") ||
		strings.Contains(string(raw), "goroutine") || out["error"].(map[string]any)["message"] != "Internal error." {
		t.Fatalf("internal error body: %d %s", code, raw)
	}
}

// A presence change is authenticated from what a node learnt of its token
// (no lookup per request), and its write checks the revocation instead:
// after DELETE /v1/tokens/{id} the next change is refused on every node,
// with a 401 that writes nothing.
func TestRevokedTokenChangesNoPresence(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "r1"}`)
	out := s.must(201, "POST", "/v1/tokens", `{"scopes": ["presence:write"]}`)
	secret, id := out["token"].(string), out["id"].(string)
	other := s.otherNode()
	put := func(base, status string) (int, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("PUT", base+"/v1/agents/r1/presence", strings.NewReader(`{"status": "`+status+`"}`))
		req.Header.Set("Authorization", "Bearer "+secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode, res.Header
	}
	for _, step := range []struct{ base, status string }{{s.URL(), "busy"}, {s.URL(), "available"}, {other.URL(), "away"}, {other.URL(), "away"}} {
		if code, _ := put(step.base, step.status); code != 200 {
			t.Fatalf("PUT %s on %s before the revocation: %d", step.status, step.base, code)
		}
	}
	s.must(204, "DELETE", "/v1/tokens/"+id, "")
	for _, base := range []string{s.URL(), other.URL(), s.URL()} {
		code, h := put(base, "busy")
		if code != 401 || h.Get("WWW-Authenticate") == "" {
			t.Fatalf("PUT on %s after the revocation: %d, WWW-Authenticate %q", base, code, h.Get("WWW-Authenticate"))
		}
	}
	if rec := s.must(200, "GET", "/v1/agents/r1/presence", ""); rec["status"].(map[string]any)["id"] != "away" {
		t.Fatalf("presence after refused changes: %v", rec)
	}
}
