package http_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

func TestAttributesAPI(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "a1"}`)
	s.mustError(409, "no_current_spell", "PUT", "/v1/agents/a1/attributes", `{"message": "hi"}`)
	s.must(200, "PUT", "/v1/agents/a1/presence", `{"status": "available"}`)

	set := s.must(200, "PUT", "/v1/agents/a1/attributes", `{"message": "in Paris", "geolocation": {"lat": 48.8566, "lon": 2.3522},
		"custom": {"CustomerService": {"languages": "French", "phone/status": "AWAY"}}}`)
	geo := set["geolocation"].(map[string]any)
	cs := set["custom"].(map[string]any)["CustomerService"].(map[string]any)
	if set["agent_id"] != "a1" || geo["lat"] != 48.8566 || geo["lon"] != 2.3522 || geo["updated_at"] == nil ||
		cs["languages"] != "French" || cs["phone/status"] != "AWAY" {
		t.Fatalf("set: %v", set)
	}
	if p := s.must(200, "GET", "/v1/agents/a1/presence", ""); p["message"] != "in Paris" {
		t.Fatalf("presence message: %v", p)
	}
	if got := s.must(200, "GET", "/v1/agents/a1/attributes", ""); fmt.Sprint(got) != fmt.Sprint(set) {
		t.Fatalf("GET %v, PUT returned %v", got, set)
	}

	// null removes: the geolocation, and one custom attribute.
	set = s.must(200, "PUT", "/v1/agents/a1/attributes", `{"geolocation": null, "custom": {"CustomerService": {"languages": null}}}`)
	if set["geolocation"] != nil || fmt.Sprint(set["custom"]) != "map[CustomerService:map[phone/status:AWAY]]" {
		t.Fatalf("after removals: %v", set)
	}
	// A name with a slash is the rest of the path; percent-encoded works too.
	s.must(204, "DELETE", "/v1/agents/a1/attributes/CustomerService/phone/status", "")
	s.mustError(404, "attribute_not_found", "DELETE", "/v1/agents/a1/attributes/CustomerService/phone%2Fstatus", "")
	s.must(200, "PUT", "/v1/agents/a1/attributes", `{"custom": {"a/b": {"c/d": "x"}}}`)
	s.must(204, "DELETE", "/v1/agents/a1/attributes/a%2Fb/c/d", "")
	if set = s.must(200, "GET", "/v1/agents/a1/attributes", ""); fmt.Sprint(set["custom"]) != "map[]" {
		t.Fatalf("after deletes: %v", set)
	}
	s.mustError(404, "agent_not_found", "GET", "/v1/agents/ghost/attributes", "")
	s.mustError(404, "agent_not_found", "PUT", "/v1/agents/ghost/attributes", `{}`)
	s.mustError(404, "agent_not_found", "DELETE", "/v1/agents/ghost/attributes/c/n", "")
}

// Ids and keys that cannot be stored (a NUL, invalid UTF-8) are a bad
// request on every route, refused before the database sees them (the same
// answer everywhere, as http/openapi.json says), and so is a forged
// cursor: never a 500.
func TestAttributesUnstorableKeysAreBadRequests(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "a1"}`)
	s.mustError(400, "bad_request", "GET", "/v1/agents/a%00b/attributes", "")
	s.mustError(400, "bad_request", "PUT", "/v1/agents/a%00b/attributes", "{}")
	s.mustError(400, "bad_request", "DELETE", "/v1/agents/a%00b/attributes/c/n", "")
	s.mustError(400, "bad_request", "DELETE", "/v1/agents/a1/attributes/c%00/n", "")
	s.mustError(400, "bad_request", "DELETE", "/v1/agents/a1/attributes/c/%ff", "")
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"i":"\u0000"}`))
	s.mustError(400, "bad_request", "POST", "/v1/presence/query?cursor="+forged, fmt.Sprintf(apiQuery, "ACTIVE", "A AND B AND C"))
	s.mustError(400, "bad_request", "GET", "/v1/agents/a%00b", "")
	s.mustError(400, "bad_request", "PUT", "/v1/queues/%ff", "{}")
	s.mustError(400, "bad_request", "POST", "/v1/agents/a1/queues/%ff/login", "")
	s.mustError(400, "bad_request", "GET", "/v1/spells/%ff", "")
}

func TestAttributesBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	s.must(201, "POST", "/v1/agents", `{"id": "a1"}`)
	cases := []struct {
		status int
		code   string
		body   string
	}{
		{400, "bad_request", `{"custom": {"c": {"n": "v"}}, "mood": "happy"}`},
		{400, "bad_request", `{"custom": `},
		{422, "invalid", `{"custom": {"c": "flat"}}`},
		{422, "invalid", `{"custom": {"c": {"n": 3}}}`},
		{422, "invalid", `{"custom": {"c": {"n": "` + strings.Repeat("v", 257) + `"}}}`},
		{422, "invalid", `{"custom": {"": {"n": "v"}}}`},
		{422, "invalid", `{"custom": {"c": {"n": "a\u0000b"}}}`},
		{422, "invalid_geolocation", `{"geolocation": {"lat": 91, "lon": 0}, "custom": {"c": {"n": "v"}}}`},
		{422, "invalid_geolocation", `{"geolocation": {"lat": 10}}`},
		{422, "invalid_geolocation", `{"geolocation": {"lat": "north", "lon": 3}}`},
		{422, "invalid_geolocation", `{"geolocation": [1, 2]}`},
		{422, "invalid_geolocation", `{"geolocation": {"lat": 1e400, "lon": 3}}`},
		{400, "bad_request", `{"geolocation": {"lat": 1, "lon": 2, "alt": 3}}`},
		{422, "too_many_attributes", `{"custom": {"c": {` + manyAttributes(101) + `}}}`},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d %.50s", c.status, c.body), func(t *testing.T) {
			s.t = t
			s.mustError(c.status, c.code, "PUT", "/v1/agents/a1/attributes", c.body)
		})
	}
	s.t = t
	if set := s.must(200, "GET", "/v1/agents/a1/attributes", ""); fmt.Sprint(set["custom"]) != "map[]" || set["geolocation"] != nil {
		t.Fatalf("bad input wrote attributes: %v", set)
	}
}

func manyAttributes(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"n%d": "v"`, i)
	}
	return strings.Join(parts, ", ")
}

// The three-clause example of README.md ("Custom attributes and the clause
// query"), verbatim apart from the state.
const apiQuery = `{"clauses": {
   "A": {"attribute": "state", "op": "eq", "value": "%s"},
   "B": {"category": "CustomerService", "attribute": "languages", "op": "eq", "value": "French"},
   "C": {"category": "CustomerService", "attribute": "phone/status", "op": "contains", "value": "AWAY", "negate": true}},
 "expression": "%s"}`

func TestPresenceQueryAPI(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	for id, custom := range map[string]string{
		"fr1": `{"CustomerService": {"languages": "French", "phone/status": "AVAILABLE"}}`,
		"fr2": `{"CustomerService": {"languages": "French"}}`,
		"fr3": `{"CustomerService": {"languages": "French", "phone/status": "AWAY"}}`,
		"de1": `{"CustomerService": {"languages": "German"}}`,
	} {
		s.must(201, "POST", "/v1/agents", `{"id": "`+id+`"}`)
		s.must(200, "PUT", "/v1/agents/"+id+"/attributes", `{"custom": `+custom+`}`)
	}
	state := s.must(200, "GET", "/v1/agents/fr1/presence", "")["state"].(string)

	out := s.must(200, "POST", "/v1/presence/query", fmt.Sprintf(apiQuery, state, "A AND B AND C"))
	if got := ids(out); got != "fr1 fr2" || out["next_cursor"] != nil {
		t.Fatalf("query: %s %v", got, out)
	}
	rec := items(out)[0].(map[string]any)
	if rec["agent_id"] != "fr1" || rec["state"] != state || rec["status"].(map[string]any)["id"] == nil {
		t.Fatalf("record: %v", rec)
	}
	// Paged like every list.
	page := s.must(200, "POST", "/v1/presence/query?limit=1", fmt.Sprintf(apiQuery, state, "A AND B AND C"))
	if ids(page) != "fr1" || page["next_cursor"] == nil {
		t.Fatalf("page 1: %v", page)
	}
	page = s.must(200, "POST", "/v1/presence/query?limit=1&cursor="+page["next_cursor"].(string), fmt.Sprintf(apiQuery, state, "A AND B AND C"))
	if ids(page) != "fr2" {
		t.Fatalf("page 2: %v", page)
	}
	if got := ids(s.must(200, "POST", "/v1/presence/query", fmt.Sprintf(apiQuery, state, "NOT B OR (A and not C) AND NOT A"))); got != "de1" {
		t.Fatalf("NOT B: %s", got)
	}
}

func ids(out map[string]any) string {
	var s []string
	for _, it := range items(out) {
		s = append(s, it.(map[string]any)["agent_id"].(string))
	}
	return strings.Join(s, " ")
}

// Bad queries are 422 with the position in the expression; a 5,000-deep
// expression is one of them, not a crash.
func TestPresenceQueryErrors(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	deep := strings.Repeat("(", 5000) + "A AND B AND C" + strings.Repeat(")", 5000)
	deepNot := strings.Repeat("NOT ", 5000) + "A AND B AND C"
	nested33 := strings.Repeat("(", 33) + "A AND B AND C" + strings.Repeat(")", 33)
	cases := []struct {
		status  int
		code    string
		body    string
		message string
	}{
		{422, "invalid_expression", fmt.Sprintf(apiQuery, "ACTIVE", "A AND B AND"), "at position 12"},
		{422, "invalid_expression", fmt.Sprintf(apiQuery, "ACTIVE", "A AND (B OR C"), "at position 14"},
		{422, "invalid_expression", fmt.Sprintf(apiQuery, "ACTIVE", "A && B"), "at position 3"},
		{422, "unknown_clause", fmt.Sprintf(apiQuery, "ACTIVE", "A AND B AND D"), `"D" is not defined`},
		{422, "unused_clause", fmt.Sprintf(apiQuery, "ACTIVE", "A AND B"), `"C"`},
		{422, "expression_too_long", fmt.Sprintf(apiQuery, "ACTIVE", deep), "at position 2001"},
		{422, "expression_too_long", fmt.Sprintf(apiQuery, "ACTIVE", deepNot), "at position 2001"},
		{422, "expression_too_deep", fmt.Sprintf(apiQuery, "ACTIVE", nested33), "at position 33"},
		{422, "invalid_clause", `{"clauses": {"A": {"attribute": "mood", "op": "eq", "value": "x"}}, "expression": "A"}`, "clauses.A.attribute"},
		{422, "invalid_clause", `{"clauses": {"A": {"attribute": "state", "op": "in", "value": "x"}}, "expression": "A"}`, "list of strings"},
		{422, "invalid_clause", `{"clauses": {"A": {"attribute": "state", "op": "eq", "value": 7}}, "expression": "A"}`, "must be a string"},
		{422, "invalid_clause", `{"clauses": {}, "expression": "A"}`, "at least one clause"},
		{422, "invalid", `{"clauses": [], "expression": "A"}`, "clauses"},
		{400, "bad_request", `{"clauses": {"A": {"attribute": "state", "op": "eq", "value": "x", "typo": 1}}, "expression": "A"}`, "typo"},
		{400, "bad_request", `{"clauses": `, ""},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s %.40s", c.code, c.message), func(t *testing.T) {
			s.t = t
			out := s.must(c.status, "POST", "/v1/presence/query", c.body)
			e := out["error"].(map[string]any)
			if e["code"] != c.code || !strings.Contains(e["message"].(string), c.message) {
				t.Fatalf("error %v, want %s containing %q", e, c.code, c.message)
			}
		})
	}
	s.t = t
	s.mustError(400, "bad_request", "POST", "/v1/presence/query?limit=0", fmt.Sprintf(apiQuery, "ACTIVE", "A"))
}
