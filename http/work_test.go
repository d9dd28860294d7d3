package http_test

import (
	"fmt"
	"strings"
	"testing"

	presence "github.com/presenced/presenced"
	presencehttp "github.com/presenced/presenced/http"
)

// statusOf is "status/source/reason" of a record in a JSON body.
func statusOf(rec map[string]any) string {
	s := fmt.Sprint(rec["status"].(map[string]any)["id"], "/", rec["source"])
	if r, ok := rec["reason_code"].(string); ok {
		s += "/" + r
	}
	return s
}

func TestWorkAPI(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "a1", "capacity": 2, "interrupt_capacity": 1}`)
	s.must(200, "PUT", "/v1/agents/a1/presence", `{"status": "available", "message": "ready"}`)

	code, w1, h := s.do("POST", "/v1/agents/a1/work", `{"channel": "chat", "units": 1}`)
	id1, _ := w1["id"].(string)
	if code != 201 || id1 == "" || h.Get("Location") != "/v1/work/"+id1 || w1["closed_at"] != nil || w1["interruptible"] != false {
		t.Fatalf("assign: %d %v %v", code, w1, h)
	}
	p := w1["presence"].(map[string]any)
	if statusOf(p) != "available/manual" || fmt.Sprint(p["capacity"]) != "map[configured:2 in_use:1]" {
		t.Fatalf("half full: %v", p)
	}
	w2 := s.must(201, "POST", "/v1/agents/a1/work", `{"id": "chat-2", "channel": "chat", "units": 1}`)
	if p := w2["presence"].(map[string]any); statusOf(p) != "busy/automatic/capacity_full" || fmt.Sprint(p["capacity"]) != "map[configured:2 in_use:2]" {
		t.Fatalf("full: %v", p)
	}
	s.mustError(409, "over_capacity", "POST", "/v1/agents/a1/work", `{"channel": "chat", "units": 1}`)
	s.mustError(409, "work_exists", "POST", "/v1/agents/a1/work", `{"id": "chat-2", "channel": "voice", "units": 1, "interruptible": true}`)
	s.must(201, "POST", "/v1/agents/a1/work", `{"id": "sms-1", "channel": "sms", "units": 1, "interruptible": true}`)
	s.mustError(409, "over_capacity", "POST", "/v1/agents/a1/work", `{"channel": "sms", "units": 1, "interruptible": true}`)

	if open := s.must(200, "GET", "/v1/agents/a1/work", ""); len(items(open)) != 3 {
		t.Fatalf("open work: %v", open)
	}
	if got := s.must(200, "GET", "/v1/work/chat-2", ""); got["agent_id"] != "a1" || got["units"] != 1.0 || got["channel"] != "chat" {
		t.Fatalf("get: %v", got)
	}

	// Close: the capacity frees and the agent goes back to its status.
	c := s.must(200, "DELETE", "/v1/work/chat-2", "")
	if c["close_reason"] != "closed" || c["closed_at"] == nil {
		t.Fatalf("closed: %v", c)
	}
	if p := c["presence"].(map[string]any); statusOf(p) != "available/automatic/capacity_freed" || p["message"] != "ready" {
		t.Fatalf("freed: %v", p)
	}
	s.mustError(409, "work_closed", "DELETE", "/v1/work/chat-2", "")
	s.mustError(404, "work_not_found", "DELETE", "/v1/work/nope", "")
	s.mustError(404, "work_not_found", "GET", "/v1/work/nope", "")

	// Release: admin only, audited.
	r := s.must(200, "POST", "/v1/work/"+id1+"/release", `{"reason_code": "stuck"}`)
	if r["close_reason"] != "released" || r["reason_code"] != "stuck" {
		t.Fatalf("released: %v", r)
	}
	s.must(200, "POST", "/v1/work/sms-1/release", "") // no body: no reason code
	s.mustError(409, "work_closed", "POST", "/v1/work/sms-1/release", "")
	audit := s.must(200, "GET", "/v1/audit", "")
	var released []string
	for _, e := range items(audit) {
		e := e.(map[string]any)
		if e["action"] == "release" {
			released = append(released, fmt.Sprint(e["target_type"], " ", e["target_id"], " ", e["agent_id"], " ", e["actor_token_id"] == s.adminID))
		}
	}
	if strings.Join(released, ", ") != "work sms-1 a1 true, work "+id1+" a1 true" {
		t.Fatalf("audit of releases: %v", released)
	}
	if open := s.must(200, "GET", "/v1/agents/a1/work", ""); len(items(open)) != 0 {
		t.Fatalf("open work after closes: %v", open)
	}
	s.mustError(404, "agent_not_found", "GET", "/v1/agents/ghost/work", "")

	// The spells carry the capacity figures and capacities.
	spells := items(s.must(200, "GET", "/v1/spells?agent=a1", ""))
	for _, sp := range spells {
		sp := sp.(map[string]any)
		for _, f := range []string{"at_capacity_ms", "idle_ms", "average_capacity", "configured_capacity", "configured_interrupt_capacity"} {
			if _, ok := sp[f].(float64); !ok {
				t.Fatalf("spell without %s: %v", f, sp)
			}
		}
	}
	if busy := spells[1].(map[string]any); busy["status_id"] != "busy" || busy["at_capacity_ms"] != busy["duration_ms"] || busy["configured_capacity"] != 2.0 {
		t.Fatalf("automatic busy spell: %v", busy)
	}
}

func TestWorkBadInputIsRefusedAndWritesNothing(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "a1", "capacity": 5}`)
	for _, c := range []struct {
		status     int
		code, body string
	}{
		{422, "invalid_units", `{"channel": "chat", "units": 0}`},
		{422, "invalid_units", `{"channel": "chat"}`},
		{422, "invalid_units", `{"channel": "chat", "units": -2}`},
		{422, "invalid_units", `{"channel": "chat", "units": 1001}`},
		{422, "invalid", `{"channel": "chat", "units": 1.5}`},
		{422, "invalid", `{"channel": "chat", "units": "2"}`},
		{422, "invalid", `{"units": 1}`},
		{422, "invalid", `{"channel": "no spaces", "units": 1}`},
		{422, "invalid", `{"channel": "chat", "units": 1, "interruptible": "yes"}`},
		{422, "invalid_id", `{"id": "a/b", "channel": "chat", "units": 1}`},
		{400, "bad_request", `{"channel": "chat", "units": 1, "priority": 3}`},
		{400, "bad_request", `{"channel": "chat", "units": 1`},
		{400, "bad_request", ``},
	} {
		s.mustError(c.status, c.code, "POST", "/v1/agents/a1/work", c.body)
	}
	s.mustError(404, "agent_not_found", "POST", "/v1/agents/ghost/work", `{"channel": "chat", "units": 1}`)
	s.mustError(422, "invalid", "POST", "/v1/work/x/release", `{"reason_code": ""}`)
	s.mustError(400, "bad_request", "POST", "/v1/work/x/release", `{"why": "stuck"}`)
	if open := s.must(200, "GET", "/v1/agents/a1/work", ""); len(items(open)) != 0 {
		t.Fatalf("bad input wrote work: %v", open)
	}
	if rec := s.must(200, "GET", "/v1/agents/a1/presence", ""); fmt.Sprint(rec["capacity"]) != "map[configured:5 in_use:0]" {
		t.Fatalf("capacity after bad input: %v", rec)
	}
}

func TestWorkRoutesAuthorization(t *testing.T) {
	t.Parallel()
	for pattern, scope := range map[string]string{
		"POST /v1/agents/{id}/work":   presence.ScopeWrite,
		"GET /v1/agents/{id}/work":    presence.ScopeRead,
		"GET /v1/work/{wid}":          presence.ScopeRead,
		"DELETE /v1/work/{wid}":       presence.ScopeWrite,
		"POST /v1/work/{wid}/release": presence.ScopeAdmin,
	} {
		if got, ok := presencehttp.RouteRule(pattern); !ok || got != scope {
			t.Errorf("%s: rule %q %v, want scope %q", pattern, got, ok, scope)
		}
	}

	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "a1", "capacity": 3}`)
	s.must(201, "POST", "/v1/agents", `{"id": "a2", "capacity": 3}`)
	own := s.mustToken("a1", presence.ScopeRead, presence.ScopeWrite)
	reader := s.mustToken("", presence.ScopeRead)
	writer := s.mustToken("", presence.ScopeWrite)

	// An agent's own client assigns and closes its own work, not another's.
	mine := s.mustAs(201, own, "POST", "/v1/agents/a1/work", `{"channel": "chat", "units": 1}`)["id"].(string)
	s.mustAs(403, own, "POST", "/v1/agents/a2/work", `{"channel": "chat", "units": 1}`)
	theirs := s.must(201, "POST", "/v1/agents/a2/work", `{"channel": "chat", "units": 1}`)["id"].(string)
	s.mustAs(200, own, "GET", "/v1/work/"+mine, "")
	s.mustAs(200, own, "GET", "/v1/agents/a1/work", "")
	s.mustAs(403, own, "GET", "/v1/work/"+theirs, "")
	s.mustAs(403, own, "GET", "/v1/agents/a2/work", "")
	s.mustAs(403, own, "DELETE", "/v1/work/"+theirs, "")
	s.mustAs(404, own, "DELETE", "/v1/work/nope", "")
	s.mustAs(403, own, "POST", "/v1/work/"+mine+"/release", "")
	s.mustAs(200, own, "DELETE", "/v1/work/"+mine, "")
	if got := s.must(200, "GET", "/v1/work/"+theirs, ""); got["closed_at"] != nil {
		t.Fatalf("a forbidden close closed a2's work: %v", got)
	}

	// Scopes: reading is not writing, writing is not releasing.
	s.mustAs(403, reader, "POST", "/v1/agents/a2/work", `{"channel": "chat", "units": 1}`)
	s.mustAs(403, reader, "DELETE", "/v1/work/"+theirs, "")
	s.mustAs(200, reader, "GET", "/v1/work/"+theirs, "")
	s.mustAs(403, writer, "POST", "/v1/work/"+theirs+"/release", "")
	s.mustAs(200, writer, "DELETE", "/v1/work/"+theirs, "")
}
