package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	presence "github.com/presenced/presenced"
)

func TestAgentsAPI(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	a := s.must(201, "POST", "/v1/agents", `{"id": "a1", "name": "Ann", "capacity": 2}`)
	if a["id"] != "a1" || a["capacity"] != 2.0 || a["presence"].(map[string]any)["state"] != "OFFLINE" {
		t.Fatalf("created: %v", a)
	}
	s.mustError(409, "agent_exists", "POST", "/v1/agents", `{"id": "a1"}`)
	s.must(200, "GET", "/v1/agents/a1", "")
	s.mustError(404, "agent_not_found", "GET", "/v1/agents/nobody", "")
	p := s.must(200, "PATCH", "/v1/agents/a1", `{"name": "Ann Smith"}`)
	if p["name"] != "Ann Smith" || p["capacity"] != 2.0 {
		t.Fatalf("patched: %v", p)
	}
	s.mustError(422, "invalid", "PATCH", "/v1/agents/a1", `{"id": "other"}`)
	b := s.must(200, "POST", "/v1/agents/batch", `{"items": [{"id": "a1", "default_status": "busy"}, {"id": "a2"}]}`)
	if len(items(b)) != 2 {
		t.Fatalf("batch: %v", b)
	}
	s.mustError(422, "unknown_status", "POST", "/v1/agents/batch", `{"items": [{"id": "a3"}, {"id": "a4", "default_status": "nope"}]}`)
	s.mustError(404, "agent_not_found", "GET", "/v1/agents/a3", "")
	list := s.must(200, "GET", "/v1/agents?limit=1", "")
	if len(items(list)) != 1 || list["next_cursor"] == nil {
		t.Fatalf("page: %v", list)
	}
	next := s.must(200, "GET", "/v1/agents?limit=1&cursor="+list["next_cursor"].(string), "")
	if items(next)[0].(map[string]any)["id"] != "a2" {
		t.Fatalf("second page: %v", next)
	}
	s.must(204, "DELETE", "/v1/agents/a2", "")
	s.mustError(404, "agent_not_found", "GET", "/v1/agents/a2", "")
	if d := s.must(200, "GET", "/v1/agents?deleted=true", ""); len(items(d)) != 1 {
		t.Fatalf("deleted list: %v", d)
	}
	s.must(200, "POST", "/v1/agents/a2/restore", "")
	up := s.must(200, "GET", "/v1/agents/updated?start=2000-01-01T00:00:00Z", "")
	if len(items(up)) != 2 || items(up)[0].(map[string]any)["updated_at"] == nil {
		t.Fatalf("updated: %v", up)
	}
	del := s.must(200, "GET", "/v1/agents/deleted?start=2000-01-01T00:00:00Z", "")
	if len(items(del)) != 0 {
		t.Fatalf("deleted window after restore: %v", del)
	}
	s.mustError(400, "bad_request", "GET", "/v1/agents/updated", "")
	s.mustError(400, "bad_request", "GET", "/v1/agents/updated?start=yesterday", "")
	s.mustError(422, "invalid", "GET", "/v1/agents/updated?start=2030-01-01T00:00:00Z&end=2020-01-01T00:00:00Z", "")
}

// Bad input is a 4xx with a JSON error naming the problem, and writes
// nothing.
func TestBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	cases := []struct {
		status       int
		code, method string
		path, body   string
	}{
		{400, "bad_request", "POST", "/v1/agents", `{"id": "x",}`},
		{400, "bad_request", "POST", "/v1/agents", `{"id": "x", "unknown": 1}`},
		{400, "bad_request", "POST", "/v1/agents", ``},
		{400, "bad_request", "POST", "/v1/agents", `{"id": "x"} {"id": "y"}`},
		{422, "invalid", "POST", "/v1/agents", `{"id": "x", "capacity": "three"}`},
		{422, "invalid_id", "POST", "/v1/agents", `{"id": "has space"}`},
		{422, "invalid", "POST", "/v1/agents", `{"id": "x", "capacity": 100000}`},
		{422, "invalid", "POST", "/v1/agents", `["x"]`},
		{413, "too_large", "POST", "/v1/agents", `{"id": "x", "name": "` + strings.Repeat("n", 5<<20) + `"}`},
		{413, "too_large", "POST", "/v1/agents/batch", `{"items": [` + strings.TrimSuffix(strings.Repeat(`{"id":"b"},`, 1001), ",") + `]}`},
		{400, "bad_request", "GET", "/v1/agents?limit=0", ``},
		{400, "bad_request", "GET", "/v1/agents?limit=5000", ``},
		{400, "bad_request", "GET", "/v1/agents?cursor=zzz", ``},
		{404, "not_found", "GET", "/v1/nothing-here", ``},
		{404, "spell_not_found", "GET", "/v1/spells/abc", ``},
		{404, "agent_not_found", "PUT", "/v1/agents/ghost/presence", `{"status": "busy"}`},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d %s %.40s", c.status, c.path, c.body), func(t *testing.T) {
			s.t = t
			s.mustError(c.status, c.code, c.method, c.path, c.body)
		})
	}
	s.t = t
	if list := s.must(200, "GET", "/v1/agents", ""); len(items(list)) != 0 {
		t.Fatalf("bad input wrote agents: %v", list)
	}
}

func TestPresenceAPI(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "a1"}`)
	r := s.must(200, "PUT", "/v1/agents/a1/presence", `{"status": "meal", "message": "back at 1"}`)
	st := r["status"].(map[string]any)
	if st["id"] != "meal" || st["system_presence"] != "MEAL" || st["is_away"] != true || r["message"] != "back at 1" || r["spell_id"] == nil {
		t.Fatalf("record: %v", r)
	}
	again := s.must(200, "PUT", "/v1/agents/a1/presence", `{"status": "meal"}`)
	if again["spell_id"] != r["spell_id"] {
		t.Fatalf("same status opened a new spell")
	}
	s.mustError(422, "unknown_status", "PUT", "/v1/agents/a1/presence", `{"status": "lunch"}`)
	s.mustError(422, "invalid_id", "PUT", "/v1/agents/a1/presence", `{"status": "out to lunch"}`)
	s.mustError(422, "invalid", "PUT", "/v1/agents/a1/presence", `{}`)
	s.must(200, "GET", "/v1/agents/a1/presence", "")

	spells := s.must(200, "GET", "/v1/spells?agent=a1&current=true", "")
	if len(items(spells)) != 1 {
		t.Fatalf("spells: %v", spells)
	}
	id := fmt.Sprint(items(spells)[0].(map[string]any)["id"])
	s.mustError(409, "spell_current", "DELETE", "/v1/spells/"+id, "")
	s.must(200, "PUT", "/v1/agents/a1/presence", `{"status": "available"}`)
	s.must(204, "DELETE", "/v1/spells/"+id, "")
	s.mustError(404, "spell_not_found", "GET", "/v1/spells/"+id, "")
	s.must(200, "POST", "/v1/spells/"+id+"/restore", "")
	sp := s.must(200, "GET", "/v1/spells/"+id, "")
	if sp["duration_ms"] == nil || sp["is_current"] != false || sp["ended_at"] == nil {
		t.Fatalf("closed spell: %v", sp)
	}
	s.mustError(400, "bad_request", "GET", "/v1/spells?from=today", "")
	if up := s.must(200, "GET", "/v1/spells/updated?start=2000-01-01T00:00:00Z", ""); len(items(up)) != 2 {
		t.Fatalf("spells updated: %v", up)
	}
}

// Concurrent changes through HTTP go to the database in batches (group
// commit, db/presencebatch.go): a bad change among them gets its own 4xx
// while the others answer 200 with the record each left.
func TestPresenceAPIConcurrent(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	for _, id := range []string{"a1", "a2", "a3"} {
		s.must(201, "POST", "/v1/agents", `{"id": "`+id+`"}`)
	}
	put := func(agent, body string) (int, map[string]any, error) {
		req, _ := http.NewRequest("PUT", s.URL()+"/v1/agents/"+agent+"/presence", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		var out map[string]any
		err = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out, err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for c := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				msg := fmt.Sprintf("c%d-%d", c, i)
				agent, status, wantCode, wantErr := []string{"a1", "a2", "a3"}[(c+i)%3], []string{"busy", "meal"}[i%2], 200, ""
				switch (c + i) % 5 {
				case 0:
					agent, wantCode, wantErr = "ghost", 404, "agent_not_found"
				case 1:
					status, wantCode, wantErr = "lunch", 422, "unknown_status"
				}
				code, out, err := put(agent, `{"status": "`+status+`", "message": "`+msg+`"}`)
				e, _ := out["error"].(map[string]any)
				switch {
				case err != nil:
					errs <- err
				case code != wantCode:
					errs <- fmt.Errorf("%s %s: %d %v, want %d", agent, status, code, out, wantCode)
				case wantErr != "" && (e == nil || e["code"] != wantErr):
					errs <- fmt.Errorf("%s %s: %v, want %s", agent, status, out, wantErr)
				case wantErr == "" && (out["agent_id"] != agent || out["message"] != msg):
					errs <- fmt.Errorf("%s %s: record %v", agent, status, out)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, id := range []string{"a1", "a2", "a3"} {
		if spells := s.must(200, "GET", "/v1/spells?agent="+id+"&current=true", ""); len(items(spells)) != 1 {
			t.Errorf("%s: current spells %v", id, spells)
		}
	}
}

func TestPresenceListETag(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	for i := range 3 {
		s.must(201, "POST", "/v1/agents", fmt.Sprintf(`{"id": "a%d"}`, i))
	}
	s.events.pos = presence.Position{Xid: 10, ID: 7}
	code, out, h := s.do("GET", "/v1/presence", "")
	etag := h.Get("ETag")
	if code != 200 || len(items(out)) != 3 || etag != `W/"10-7"` {
		t.Fatalf("list: %d %v etag %q", code, out, etag)
	}
	code, out, _ = s.do("GET", "/v1/presence", "", "If-None-Match", etag)
	if code != http.StatusNotModified || out != nil {
		t.Fatalf("unchanged: %d %v", code, out)
	}
	s.events.pos = presence.Position{Xid: 11, ID: 8} // something committed
	if code, _, _ = s.do("GET", "/v1/presence", "", "If-None-Match", etag); code != 200 {
		t.Fatalf("changed: %d", code)
	}
	if out := s.must(200, "GET", "/v1/presence?agent=a1&agent=a2", ""); len(items(out)) != 2 {
		t.Fatalf("by id: %v", out)
	}
	s.must(200, "PUT", "/v1/agents/a1/presence", `{"status": "busy"}`)
	if out := s.must(200, "GET", "/v1/presence?status=busy", ""); len(items(out)) != 1 {
		t.Fatalf("by status: %v", out)
	}
	if out := s.must(200, "GET", "/v1/presence?state=OFFLINE&limit=2", ""); len(items(out)) != 2 || out["next_cursor"] == nil {
		t.Fatalf("by state, paged: %v", out)
	}
}

func TestStatusesAPI(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	if out := s.must(200, "GET", "/v1/statuses", ""); len(items(out)) != 8 {
		t.Fatalf("built-ins: %v", out)
	}
	s.must(201, "POST", "/v1/statuses", `{"id": "coaching", "label": "Coaching", "system_presence": "TRAINING", "is_away": true}`)
	s.mustError(409, "status_exists", "POST", "/v1/statuses", `{"id": "coaching", "label": "X", "system_presence": "AWAY"}`)
	s.mustError(422, "invalid", "POST", "/v1/statuses", `{"id": "x", "label": "X", "system_presence": "LUNCH"}`)
	s.must(200, "PATCH", "/v1/statuses/coaching", `{"label": "1:1"}`)
	s.mustError(409, "built_in_status", "PATCH", "/v1/statuses/busy", `{"label": "x"}`)
	s.mustError(409, "built_in_status", "DELETE", "/v1/statuses/busy", "")
	s.must(204, "DELETE", "/v1/statuses/coaching", "")
	s.mustError(404, "status_not_found", "DELETE", "/v1/statuses/coaching", "")
}

func TestHealth(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(200, "GET", "/healthz", "")
	s.must(200, "GET", "/readyz", "")
	s.Ready = func(context.Context) error { return presence.Errorf(presence.EUNAVAILABLE, "down") }
	s.must(503, "GET", "/readyz", "")
}

// The bulk answer is cached for its query while this node's event position
// stands still: the position moves with every committed change.
func TestPresenceListCachedUntilPositionMoves(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "a1"}`)
	s.events.pos = presence.Position{Xid: 5, ID: 1}
	status := func() string {
		out := s.must(200, "GET", "/v1/presence?agent=a1", "")
		return items(out)[0].(map[string]any)["status"].(map[string]any)["id"].(string)
	}
	if got := status(); got != "offline" {
		t.Fatalf("first read: %s", got)
	}
	s.must(200, "PUT", "/v1/agents/a1/presence", `{"status": "busy"}`)
	if got := status(); got != "offline" {
		t.Fatalf("answer not cached while the position stood still: %s", got)
	}
	s.events.pos = presence.Position{Xid: 6, ID: 2} // the listener read the change
	if got := status(); got != "busy" {
		t.Fatalf("stale answer after the position moved: %s", got)
	}
}
