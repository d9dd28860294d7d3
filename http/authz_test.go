package http_test

import (
	"strconv"
	"testing"
	"time"

	presence "github.com/presenced/presenced"
	presencehttp "github.com/presenced/presenced/http"
	"github.com/presenced/presenced/metrics"
)

// TestAgentBoundTokenReadsItsOwnSpells: GET /v1/spells/{id} answers a
// bound token for its own agent's spell, and 404 (not 403: it does not
// learn that it exists) for another agent's.
func TestAgentBoundTokenReadsItsOwnSpells(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "a1"}`)
	s.must(201, "POST", "/v1/agents", `{"id": "a2"}`)
	mine := s.must(200, "PUT", "/v1/agents/a1/presence", `{"status": "busy"}`)["spell_id"]
	theirs := s.must(200, "PUT", "/v1/agents/a2/presence", `{"status": "busy"}`)["spell_id"]
	own := s.mustToken("a1", presence.ScopeRead)
	path := func(id any) string { return "/v1/spells/" + strconv.FormatInt(int64(id.(float64)), 10) }

	if got := s.mustAs(200, own, "GET", path(mine), ""); got["agent_id"] != "a1" {
		t.Fatalf("own spell: %v", got)
	}
	code, out := s.as(own, "GET", path(theirs), "")
	if code != 404 || out["error"].(map[string]any)["code"] != "spell_not_found" {
		t.Fatalf("another agent's spell: %d %v", code, out)
	}
	s.mustAs(404, own, "GET", "/v1/spells/999999", "")
	s.mustAs(404, own, "GET", "/v1/spells/x", "")
	wide := s.mustToken("a1", presence.ScopeReadAll)
	s.mustAs(200, wide, "GET", path(theirs), "")
}

// TestTokenForAnUnknownAgentIsRefused: POST /v1/tokens with an agent_id
// that names no agent (or a deleted one) is 422 agent_not_found and
// stores nothing.
func TestTokenForAnUnknownAgentIsRefused(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "gone"}`)
	s.must(204, "DELETE", "/v1/agents/gone", "")
	s.mustError(422, "agent_not_found", "POST", "/v1/tokens", `{"scopes": ["presence:read"], "agent_id": "nobody"}`)
	s.mustError(422, "agent_not_found", "POST", "/v1/tokens", `{"scopes": ["presence:read"], "agent_id": "gone"}`)
	if list := s.must(200, "GET", "/v1/tokens", ""); len(items(list)) != 1 {
		t.Fatalf("tokens after refused creates: %v", list)
	}
}

// TestMetricsNeedATokenBoundToNoAgent: an agent-bound token, read:all or
// not, cannot scrape /metrics; a read token bound to no agent can, and
// --public-metrics opens it to anyone.
func TestMetricsNeedATokenBoundToNoAgent(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t, func(s *presencehttp.Server) { s.Metrics = metrics.New() })
	s.must(201, "POST", "/v1/agents", `{"id": "a1"}`)
	for _, tok := range []string{s.mustToken("a1", presence.ScopeRead), s.mustToken("a1", presence.ScopeReadAll)} {
		if code, _ := s.scrape(tok); code != 403 {
			t.Errorf("bound token scrapes metrics: %d", code)
		}
	}
	if code, _ := s.scrape(s.mustToken("", presence.ScopeRead)); code != 200 {
		t.Errorf("read token bound to no agent: %d", code)
	}
	public := mustOpenServer(t, func(s *presencehttp.Server) {
		s.Metrics = metrics.New()
		s.Security.PublicMetrics = true
	})
	public.must(201, "POST", "/v1/agents", `{"id": "a1"}`)
	if code, _ := public.scrape(public.mustToken("a1", presence.ScopeRead)); code != 200 {
		t.Errorf("public metrics with a bound token: %d", code)
	}
}

// TestTokensExpire: expires_at is taken in RFC 3339, shown on creation and
// in the list; a malformed or past one is 422; once past, the token gets
// 401 token_expired. Tokens without it never expire.
func TestTokensExpire(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	for _, bad := range []string{`"tomorrow"`, `"2030-01-31"`, `"2030-01-31 18:00:00Z"`, `"2020-01-01T00:00:00Z"`,
		`"` + time.Now().Add(-time.Second).UTC().Format(time.RFC3339) + `"`} {
		s.mustError(422, "invalid_expires_at", "POST", "/v1/tokens", `{"scopes": ["presence:read"], "expires_at": `+bad+`}`)
	}
	s.mustError(422, "invalid", "POST", "/v1/tokens", `{"scopes": ["presence:read"], "expires_at": 12}`)

	expires := time.Now().Add(1200 * time.Millisecond)
	out := s.must(201, "POST", "/v1/tokens", `{"scopes": ["presence:read"], "expires_at": "`+expires.Format(time.RFC3339Nano)+`"}`)
	secret, id := out["token"].(string), out["id"].(string)
	if at, err := time.Parse(time.RFC3339, out["expires_at"].(string)); err != nil || !at.Equal(expires.Truncate(time.Microsecond)) {
		t.Fatalf("expires_at on creation: %v (%v), want %v", out["expires_at"], err, expires)
	}
	for _, it := range items(s.must(200, "GET", "/v1/tokens", "")) {
		tok := it.(map[string]any)
		if _, ok := tok["expires_at"]; !ok {
			t.Fatalf("listing without expires_at: %v", tok)
		}
		if (tok["id"] == id) != (tok["expires_at"] != nil) {
			t.Fatalf("expires_at in the list: %v", tok)
		}
	}
	s.mustAs(200, secret, "GET", "/v1/agents", "")
	time.Sleep(time.Until(expires) + 50*time.Millisecond)
	code, body := s.as(secret, "GET", "/v1/agents", "")
	if code != 401 || body["error"].(map[string]any)["code"] != "token_expired" {
		t.Fatalf("expired token: %d %v", code, body)
	}
	s.must(200, "GET", "/v1/agents", "") // the admin token has none
}
