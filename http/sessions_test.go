package http_test

import (
	"fmt"
	"strings"
	"testing"
)

func TestSessionsAPI(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "a1", "default_status": "busy"}`)

	// Login with no body at all, and with a client name.
	s1 := s.must(201, "POST", "/v1/agents/a1/sessions", "")
	if s1["session_id"] == "" || s1["heartbeat_interval_ms"] != 20000.0 || s1["max_missed_heartbeats"] != 2.0 {
		t.Fatalf("login: %v", s1)
	}
	p := s1["presence"].(map[string]any)
	if p["state"] != "ACTIVE" || p["status"].(map[string]any)["id"] != "busy" || p["source"] != "system" {
		t.Fatalf("presence after login: %v", p)
	}
	s2 := s.must(201, "POST", "/v1/agents/a1/sessions", `{"client": "softphone"}`)
	sid1, sid2 := s1["session_id"].(string), s2["session_id"].(string)
	if list := s.must(200, "GET", "/v1/agents/a1/sessions", ""); len(items(list)) != 2 {
		t.Fatalf("open sessions: %v", list)
	}

	// Heartbeats: no body, an empty object, idle flags.
	s.must(204, "POST", "/v1/sessions/"+sid1+"/heartbeat", "")
	s.must(204, "POST", "/v1/sessions/"+sid1+"/heartbeat", `{}`)
	s.must(204, "POST", "/v1/sessions/"+sid1+"/heartbeat", `{"idle": true}`)
	s.must(204, "POST", "/v1/sessions/"+sid2+"/heartbeat", ` {"idle": true} `)
	if r := s.must(200, "GET", "/v1/agents/a1/presence", ""); r["state"] != "AWAY" {
		t.Fatalf("both idle: %v", r)
	}
	s.must(204, "POST", "/v1/sessions/"+sid2+"/heartbeat", `{"idle": false}`)
	if r := s.must(200, "GET", "/v1/agents/a1/presence", ""); r["state"] != "ACTIVE" {
		t.Fatalf("one in use: %v", r)
	}
	if got := s.must(200, "GET", "/v1/sessions/"+sid1, ""); got["idle"] != true || got["agent_id"] != "a1" {
		t.Fatalf("session: %v", got)
	}

	// Logout: the first keeps the agent ACTIVE, the last makes it OFFLINE.
	s.must(204, "DELETE", "/v1/sessions/"+sid1, "")
	if r := s.must(200, "GET", "/v1/agents/a1/presence", ""); r["state"] != "ACTIVE" {
		t.Fatalf("after one logout: %v", r)
	}
	s.must(204, "DELETE", "/v1/sessions/"+sid2, "")
	r := s.must(200, "GET", "/v1/agents/a1/presence", "")
	if r["state"] != "OFFLINE" || r["status"].(map[string]any)["id"] != "offline" || r["reason_code"] != "logout" {
		t.Fatalf("after the last logout: %v", r)
	}
	s.mustError(404, "session_ended", "POST", "/v1/sessions/"+sid1+"/heartbeat", "")
	s.mustError(404, "session_ended", "DELETE", "/v1/sessions/"+sid2, "")
	s.mustError(404, "session_not_found", "POST", "/v1/sessions/nope/heartbeat", "")
	s.mustError(404, "session_not_found", "GET", "/v1/sessions/nope", "")
	s.mustError(404, "agent_not_found", "POST", "/v1/agents/ghost/sessions", "")
	s.mustError(404, "agent_not_found", "GET", "/v1/agents/ghost/sessions", "")
}

func TestQueuesAPI(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "a1"}`)
	s.must(201, "POST", "/v1/agents", `{"id": "a2"}`)
	q := s.must(201, "PUT", "/v1/queues/sales", `{"name": "Sales"}`)
	if q["id"] != "sales" || q["name"] != "Sales" || q["member_count"] != 0.0 {
		t.Fatalf("created: %v", q)
	}
	if q := s.must(200, "PUT", "/v1/queues/sales", `{"name": "Sales EMEA"}`); q["name"] != "Sales EMEA" {
		t.Fatalf("renamed: %v", q)
	}
	s.must(201, "PUT", "/v1/queues/support", "")

	s.mustError(409, "agent_logged_out", "POST", "/v1/agents/a1/queues/sales/login", "")
	sid := s.must(201, "POST", "/v1/agents/a1/sessions", "")["session_id"].(string)
	s.must(201, "POST", "/v1/agents/a2/sessions", "")
	r := s.must(200, "POST", "/v1/agents/a1/queues/sales/login", "")
	if r["routing_status"] != "IDLE" || fmt.Sprint(r["queues"]) != "[sales]" {
		t.Fatalf("after login: %v", r)
	}
	s.must(200, "POST", "/v1/agents/a1/queues/support/login", "")
	s.must(200, "POST", "/v1/agents/a2/queues/sales/login", "")
	list := s.must(200, "GET", "/v1/queues", "")
	if len(items(list)) != 2 || items(list)[0].(map[string]any)["member_count"] != 2.0 || items(list)[1].(map[string]any)["member_count"] != 1.0 {
		t.Fatalf("list: %v", list)
	}
	if g := s.must(200, "GET", "/v1/queues/support", ""); g["member_count"] != 1.0 {
		t.Fatalf("support: %v", g)
	}

	r = s.must(200, "POST", "/v1/agents/a1/queues/logout", `{"queue": "sales", "reason_code": "coaching"}`)
	if fmt.Sprint(r["queues"]) != "[support]" {
		t.Fatalf("after leaving sales: %v", r)
	}
	s.mustError(409, "not_in_queue", "POST", "/v1/agents/a1/queues/logout", `{"queue": "sales"}`)
	r = s.must(200, "POST", "/v1/agents/a1/queues/logout", "")
	if r["routing_status"] != "OFF_QUEUE" || fmt.Sprint(r["queues"]) != "[]" {
		t.Fatalf("after leaving all: %v", r)
	}
	code, out, _ := s.do("POST", "/v1/agents/a1/queues/logout", `{"reason_code": "break"}`)
	msg := out["error"].(map[string]any)["message"].(string)
	if code != 409 || !strings.Contains(msg, "not logged in to any queue") {
		t.Fatalf("logout of nothing: %d %v", code, out)
	}
	s.mustError(404, "queue_not_found", "POST", "/v1/agents/a1/queues/nope/login", "")
	s.mustError(404, "queue_not_found", "POST", "/v1/agents/a1/queues/logout", `{"queue": "nope"}`)
	s.mustError(404, "queue_not_found", "GET", "/v1/queues/nope", "")
	s.mustError(404, "agent_not_found", "POST", "/v1/agents/ghost/queues/sales/login", "")

	// The last logout leaves every queue.
	s.must(200, "POST", "/v1/agents/a1/queues/sales/login", "")
	s.must(204, "DELETE", "/v1/sessions/"+sid, "")
	if g := s.must(200, "GET", "/v1/queues/sales", ""); g["member_count"] != 1.0 {
		t.Fatalf("sales after a1 logged out: %v", g)
	}
}

// Bad session and queue input is a 4xx with a JSON error, and writes
// nothing.
func TestSessionsAndQueuesBadInput(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "a1"}`)
	cases := []struct {
		status       int
		code, method string
		path, body   string
	}{
		{400, "bad_request", "POST", "/v1/agents/a1/sessions", `{"client": "x",}`},
		{400, "bad_request", "POST", "/v1/agents/a1/sessions", `{"browser": "x"}`},
		{422, "invalid", "POST", "/v1/agents/a1/sessions", `{"client": 7}`},
		{422, "invalid", "POST", "/v1/agents/a1/sessions", `{"client": "` + strings.Repeat("c", 201) + `"}`},
		{400, "bad_request", "POST", "/v1/sessions/x/heartbeat", `{"idle": "yes"`},
		{422, "invalid", "POST", "/v1/sessions/x/heartbeat", `{"idle": "yes"}`},
		{400, "bad_request", "POST", "/v1/sessions/x/heartbeat", `{"idle": true, "mood": "ok"}`},
		{422, "invalid_id", "PUT", "/v1/queues/has%20space", `{}`},
		{422, "invalid", "PUT", "/v1/queues/q1", `{"name": ""}`},
		{400, "bad_request", "PUT", "/v1/queues/q1", `{"id": "q2"}`},
		{422, "invalid", "POST", "/v1/agents/a1/queues/logout", `{"reason_code": "` + strings.Repeat("r", 65) + `"}`},
		{422, "invalid", "POST", "/v1/agents/a1/queues/logout", `{"queue": 5}`},
		{400, "bad_request", "GET", "/v1/queues?limit=0", ``},
		{400, "bad_request", "GET", "/v1/queues?cursor=zzz", ``},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d %s %.40s", c.status, c.path, c.body), func(t *testing.T) {
			s.t = t
			s.mustError(c.status, c.code, c.method, c.path, c.body)
		})
	}
	s.t = t
	if list := s.must(200, "GET", "/v1/agents/a1/sessions", ""); len(items(list)) != 0 {
		t.Fatalf("bad input opened sessions: %v", list)
	}
	if list := s.must(200, "GET", "/v1/queues", ""); len(items(list)) != 0 {
		t.Fatalf("bad input created queues: %v", list)
	}
	if r := s.must(200, "GET", "/v1/agents/a1/presence", ""); r["spell_id"] != nil {
		t.Fatalf("bad input wrote a spell: %v", r)
	}
}
