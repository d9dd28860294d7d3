package node_test

// The contract test: every operation of http/openapi.json, the contract of
// record, is called on a real node, on its success and its error answers,
// and every request and answer is checked against the document with
// kin-openapi. docs/contract.md says how to add a case.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/presenced/presenced/db/dbtest"
	presencehttp "github.com/presenced/presenced/http"
	"github.com/presenced/presenced/node"
)

// contractCase is one request of the contract test. Its operation is the
// key it is listed under in contractCases: the method is the operation's,
// and the path must route to that operation.
type contractCase struct {
	want int    // the status the node must answer
	path string // the request target, sent as written; {name} is a fixture (see setUp)
	body string // sent as application/json
	// token: "" the admin token, "none" no Authorization, "bad" an unknown
	// token, "read" presence:read, "write" presence:write, "bound"
	// presence:read and presence:write bound to agent a2.
	token  string
	header []string // name, value pairs
	// slow sends the body's bytes but declares more: the node times the
	// body out (408) after its read timeout.
	slow bool
	// during is a request (method, path, body) sent as admin once a
	// stream's headers are in: a change the stream must see live.
	during []string
}

// contractMaxTopics is the contract node's limit on a stream's topics.
const contractMaxTopics = 20

// contractReadTimeout is the contract node's read timeout: short, for
// the 408 cases, and long enough for a 413 case's megabyte on a busy box.
const contractReadTimeout = 2 * time.Second

// Topics every stream case reads: all the kinds the fixture publishes.
const allTopics = "topic=agents.*.*&topic=queues.*&topic=statuses&topic=admin"

// contractCases are the requests of the contract test, by operationId. Each
// operation has at least one 2xx and, when the document declares a 4xx, at
// least one error: TestContract fails otherwise. Cases of one operation run
// in order; operations run in the order of their ids and do not depend on
// each other (each uses fixtures of its own where it changes state).
// genericCases adds the 401, 403, 400 (bad path) and 413 cases every
// operation gets; list here what is particular to an operation.
var contractCases = map[string][]contractCase{
	"healthz":       {{want: 200, path: "/healthz", token: "none"}},
	"readyz":        {{want: 200, path: "/readyz", token: "none"}},
	"openapi":       {{want: 200, path: "/openapi.json", token: "none"}},
	"wallboard":     {{want: 200, path: "/", token: "none"}},
	"wallboardFile": {{want: 200, path: "/wallboard/app.js", token: "none"}, {want: 404, path: "/wallboard/nope.js", token: "none"}},
	"metrics": {
		{want: 200, path: "/metrics"},
		{want: 401, path: "/metrics", token: "none"},
		{want: 403, path: "/metrics", token: "bound"}, // bound to one agent: not the whole floor
	},

	"createAgent": {
		{want: 201, path: "/v1/agents", body: `{"id":"c1","name":"Carol","capacity":2}`},
		{want: 409, path: "/v1/agents", body: `{"id":"c1"}`},
		{want: 400, path: "/v1/agents", body: `{"id":`},
		{want: 422, path: "/v1/agents", body: `{"id":"bad id"}`},
		{want: 413, path: "/v1/agents", body: `{"id":"c2","name":"` + strings.Repeat("x", presencehttp.MaxBodyBytes) + `"}`},
		{want: 401, path: "/v1/agents", body: `{"id":"c3"}`, token: "none"},
		{want: 401, path: "/v1/agents", body: `{"id":"c3"}`, token: "bad"},
		{want: 403, path: "/v1/agents", body: `{"id":"c3"}`, token: "read"},
	},
	"listAgents": {
		{want: 200, path: "/v1/agents"},
		{want: 200, path: "/v1/agents?limit=1"},
		{want: 400, path: "/v1/agents?limit=0"},
		{want: 400, path: "/v1/agents?cursor=%21%21"},
		{want: 401, path: "/v1/agents", token: "none"},
	},
	"upsertAgents": {
		{want: 200, path: "/v1/agents/batch", body: `{"items":[{"id":"b1"},{"id":"b2","capacity":3}]}`},
		{want: 400, path: "/v1/agents/batch", body: `[`},
		{want: 422, path: "/v1/agents/batch", body: `{"items":[{"id":"bad id"}]}`},
		{want: 409, path: "/v1/agents/batch", body: `{"items":[{"id":"gone2"}]}`},
		{want: 403, path: "/v1/agents/batch", body: `{"items":[]}`, token: "read"},
	},
	"agentsUpdated": {
		{want: 200, path: "/v1/agents/updated?start={start}&end={end}"},
		{want: 400, path: "/v1/agents/updated?start=yesterday&end={end}"},
		{want: 422, path: "/v1/agents/updated?start={end}&end={start}"},
	},
	"agentsDeleted": {
		{want: 200, path: "/v1/agents/deleted?start={start}&end={end}"},
		{want: 400, path: "/v1/agents/deleted?start=yesterday&end={end}"},
		{want: 422, path: "/v1/agents/deleted?start={end}&end={start}"},
	},
	"getAgent": {
		{want: 200, path: "/v1/agents/a1"},
		{want: 200, path: "/v1/agents/a1", token: "read"},
		{want: 404, path: "/v1/agents/nobody"},
		{want: 400, path: "/v1/agents/%ff"},
		{want: 400, path: "/v1/agents/a%00b"},
		{want: 403, path: "/v1/agents/a1", token: "bound"},
	},
	"updateAgent": {
		{want: 200, path: "/v1/agents/a2", body: `{"name":"Bob"}`},
		{want: 404, path: "/v1/agents/nobody", body: `{"name":"x"}`},
		{want: 422, path: "/v1/agents/a2", body: `{"capacity":-1}`},
		{want: 400, path: "/v1/agents/a2", body: `{"name":`},
		{want: 400, path: "/v1/agents/%ff", body: `{"name":"x"}`},
	},
	"deleteAgent": {
		{want: 204, path: "/v1/agents/doomed"},
		{want: 404, path: "/v1/agents/doomed"},
		{want: 403, path: "/v1/agents/a1", token: "read"},
	},
	"restoreAgent": {
		{want: 200, path: "/v1/agents/gone/restore"},
		{want: 409, path: "/v1/agents/a1/restore"},
		{want: 404, path: "/v1/agents/nobody/restore"},
	},

	"listStatuses": {
		{want: 200, path: "/v1/statuses"},
		{want: 401, path: "/v1/statuses", token: "none"},
	},
	"createStatus": {
		{want: 201, path: "/v1/statuses", body: `{"id":"focus","label":"Focus","system_presence":"BUSY"}`},
		{want: 409, path: "/v1/statuses", body: `{"id":"focus","label":"Focus","system_presence":"BUSY"}`},
		{want: 422, path: "/v1/statuses", body: `{"id":"x","label":"X","system_presence":"NAPPING"}`},
		{want: 400, path: "/v1/statuses", body: `{`},
		{want: 403, path: "/v1/statuses", body: `{"id":"y","label":"Y","system_presence":"BUSY"}`, token: "write"},
	},
	"updateStatus": {
		{want: 200, path: "/v1/statuses/lunch", body: `{"label":"Long lunch"}`},
		{want: 404, path: "/v1/statuses/nothing", body: `{"label":"x"}`},
		{want: 409, path: "/v1/statuses/available", body: `{"is_away":true}`},
		{want: 422, path: "/v1/statuses/lunch", body: `{"label":""}`},
		{want: 400, path: "/v1/statuses/%ff", body: `{"label":"x"}`},
	},
	"deleteStatus": {
		{want: 204, path: "/v1/statuses/doomed_status"},
		{want: 404, path: "/v1/statuses/doomed_status"},
		{want: 409, path: "/v1/statuses/available"},
	},

	"setPresence": {
		{want: 200, path: "/v1/agents/a2/presence", body: `{"status":"busy","message":"on a call"}`},
		{want: 200, path: "/v1/agents/a2/presence", body: `{"status":"available"}`, token: "bound"},
		{want: 422, path: "/v1/agents/a2/presence", body: `{"status":"nothing"}`},
		{want: 404, path: "/v1/agents/nobody/presence", body: `{"status":"available"}`},
		{want: 400, path: "/v1/agents/a2/presence", body: `{"status":`},
		{want: 400, path: "/v1/agents/%ff/presence", body: `{"status":"available"}`},
		{want: 403, path: "/v1/agents/a1/presence", body: `{"status":"available"}`, token: "bound"},
	},
	"getPresence": {
		{want: 200, path: "/v1/agents/a1/presence"},
		{want: 404, path: "/v1/agents/nobody/presence"},
		{want: 400, path: "/v1/agents/%ff/presence"},
	},
	"listPresence": {
		{want: 200, path: "/v1/presence"},
		{want: 200, path: "/v1/presence?agent=a1&agent=a2&limit=1"},
		{want: 304, path: "/v1/presence", header: []string{"If-None-Match", "{presence_etag}"}},
		{want: 400, path: "/v1/presence?state=ASLEEP"},
		{want: 413, path: "/v1/presence?agent=" + strings.Repeat("a1,", 1001)},
	},
	"queryPresence": {
		{want: 200, path: "/v1/presence/query", body: `{"clauses":{"A":{"attribute":"status","op":"eq","value":"lunch"}},"expression":"A"}`},
		{want: 422, path: "/v1/presence/query", body: `{"clauses":{"A":{"attribute":"status","op":"eq","value":"lunch"}},"expression":"A AND B"}`},
		{want: 400, path: "/v1/presence/query", body: `{"clauses":`},
	},

	"setAttributes": {
		{want: 200, path: "/v1/agents/a1/attributes", body: `{"message":"back soon","custom":{"skills":{"fr":"5"}}}`},
		{want: 409, path: "/v1/agents/fresh/attributes", body: `{"message":"hello"}`},
		{want: 422, path: "/v1/agents/a1/attributes", body: `{"geolocation":{"lat":91,"lon":0}}`},
		{want: 404, path: "/v1/agents/nobody/attributes", body: `{"custom":{}}`},
		{want: 400, path: "/v1/agents/a1/attributes", body: `{"custom":`},
		{want: 400, path: "/v1/agents/%ff/attributes", body: `{}`},
	},
	"getAttributes": {
		{want: 200, path: "/v1/agents/a1/attributes"},
		{want: 404, path: "/v1/agents/nobody/attributes"},
		{want: 400, path: "/v1/agents/%ff/attributes"},
	},
	"deleteAttribute": {
		{want: 204, path: "/v1/agents/a1/attributes/x/phone%2Fstatus"},
		{want: 404, path: "/v1/agents/a1/attributes/x/phone%2Fstatus"},
		{want: 204, path: "/v1/agents/a1/attributes/x/color"},
		{want: 204, path: "/v1/agents/a1/attributes/a%2Fb/c%2Fd"},
		{want: 404, path: "/v1/agents/nobody/attributes/x/color"},
		{want: 400, path: "/v1/agents/a1/attributes/x/%ff"},
		{want: 403, path: "/v1/agents/a1/attributes/x/any", token: "read"},
	},

	"listSpells": {
		{want: 200, path: "/v1/spells?agent=a1"},
		{want: 200, path: "/v1/spells?current=true&limit=5"},
		{want: 400, path: "/v1/spells?current=maybe"},
	},
	"spellsUpdated": {
		{want: 200, path: "/v1/spells/updated?start={start}&end={end}"},
		{want: 400, path: "/v1/spells/updated?start=x&end={end}"},
		{want: 422, path: "/v1/spells/updated?start={end}&end={start}"},
	},
	"spellsDeleted": {
		{want: 200, path: "/v1/spells/deleted?start={start}&end={end}"},
		{want: 400, path: "/v1/spells/deleted?start=x&end={end}"},
		{want: 422, path: "/v1/spells/deleted?start={end}&end={start}"},
	},
	"getSpell": {
		{want: 200, path: "/v1/spells/{spell_cur}"},
		{want: 404, path: "/v1/spells/999999"},
		{want: 400, path: "/v1/spells/%ff"},
	},
	"deleteSpell": {
		{want: 204, path: "/v1/spells/{spell_old}"},
		{want: 404, path: "/v1/spells/{spell_old}"},
		{want: 409, path: "/v1/spells/{spell_cur}"},
	},
	"restoreSpell": {
		{want: 200, path: "/v1/spells/{spell_deleted}/restore"},
		{want: 409, path: "/v1/spells/{spell_cur}/restore"},
		{want: 404, path: "/v1/spells/999999/restore"},
	},

	"openSession": {
		{want: 201, path: "/v1/agents/a2/sessions", body: `{"client":"desktop-web"}`},
		{want: 404, path: "/v1/agents/nobody/sessions", body: `{}`},
		{want: 400, path: "/v1/agents/a2/sessions", body: `{"client":`},
		{want: 422, path: "/v1/agents/a2/sessions", body: `{"client":""}`},
		{want: 400, path: "/v1/agents/%ff/sessions", body: `{}`},
	},
	"listSessions": {
		{want: 200, path: "/v1/agents/a1/sessions"},
		{want: 404, path: "/v1/agents/nobody/sessions"},
	},
	"getSession": {
		{want: 200, path: "/v1/sessions/{sid}"},
		{want: 404, path: "/v1/sessions/nothing"},
		{want: 400, path: "/v1/sessions/%ff"},
	},
	"heartbeat": {
		{want: 204, path: "/v1/sessions/{sid}/heartbeat", body: `{"idle":false}`},
		{want: 404, path: "/v1/sessions/nothing/heartbeat", body: `{}`},
		{want: 400, path: "/v1/sessions/{sid}/heartbeat", body: `{"idle":`},
		{want: 413, path: "/v1/sessions/{sid}/heartbeat", body: `{"idle":false,"x":"` + strings.Repeat("x", presencehttp.MaxBodyBytes) + `"}`},
		{want: 404, path: "/v1/sessions/{sid_closed}/heartbeat", body: `{}`},
		{want: 422, path: "/v1/sessions/{sid}/heartbeat", body: `{"idle":"yes"}`},
	},
	"closeSession": {
		{want: 204, path: "/v1/sessions/{sid_close}"},
		{want: 404, path: "/v1/sessions/nothing"},
	},

	"putQueue": {
		{want: 201, path: "/v1/queues/q2", body: `{"name":"Sales"}`},
		{want: 200, path: "/v1/queues/q2", body: `{"name":"Sales EMEA"}`},
		{want: 422, path: "/v1/queues/q2", body: `{"name":"` + strings.Repeat("x", 201) + `"}`},
		{want: 400, path: "/v1/queues/q2", body: `{"name":`},
		{want: 400, path: "/v1/queues/%ff", body: `{}`},
	},
	"listQueues": {
		{want: 200, path: "/v1/queues"},
		{want: 400, path: "/v1/queues?limit=x"},
	},
	"getQueue": {
		{want: 200, path: "/v1/queues/q1"},
		{want: 404, path: "/v1/queues/nothing"},
	},
	"queueLogin": {
		{want: 200, path: "/v1/agents/a2/queues/q1/login"},
		{want: 404, path: "/v1/agents/a2/queues/nothing/login"},
		{want: 409, path: "/v1/agents/fresh/queues/q1/login"},
		{want: 404, path: "/v1/agents/nobody/queues/q1/login"},
		{want: 400, path: "/v1/agents/a2/queues/%ff/login"},
	},
	"queueLogout": {
		{want: 200, path: "/v1/agents/a1/queues/logout", body: `{"queue":"q1","reason_code":"break"}`},
		{want: 404, path: "/v1/agents/nobody/queues/logout", body: `{}`},
		{want: 409, path: "/v1/agents/fresh/queues/logout", body: `{}`},
		{want: 422, path: "/v1/agents/a1/queues/logout", body: `{"reason_code":"` + strings.Repeat("x", 65) + `"}`},
		{want: 400, path: "/v1/agents/a1/queues/logout", body: `{"queue":`},
	},

	"assignWork": {
		{want: 201, path: "/v1/agents/a1/work", body: `{"channel":"chat","units":1}`},
		{want: 409, path: "/v1/agents/a1/work", body: `{"id":"w1","channel":"voice","units":1}`},
		{want: 422, path: "/v1/agents/a1/work", body: `{"channel":"voice","units":-1}`},
		{want: 404, path: "/v1/agents/nobody/work", body: `{"channel":"voice","units":1}`},
		{want: 400, path: "/v1/agents/a1/work", body: `{"channel":`},
	},
	"listOpenWork": {
		{want: 200, path: "/v1/agents/a1/work"},
		{want: 404, path: "/v1/agents/nobody/work"},
	},
	"getWork": {
		{want: 200, path: "/v1/work/w1"},
		{want: 404, path: "/v1/work/nothing"},
		{want: 400, path: "/v1/work/%ff"},
	},
	"closeWork": {
		{want: 200, path: "/v1/work/w_close"},
		{want: 409, path: "/v1/work/w_close"},
		{want: 404, path: "/v1/work/nothing"},
	},
	"releaseWork": {
		{want: 200, path: "/v1/work/w_release/release", body: `{"reason_code":"stuck"}`},
		{want: 409, path: "/v1/work/w_release/release", body: `{}`},
		{want: 404, path: "/v1/work/nothing/release", body: `{}`},
		{want: 400, path: "/v1/work/w1/release", body: `{"reason_code":`},
		{want: 422, path: "/v1/work/w1/release", body: `{"reason_code":"` + strings.Repeat("x", 65) + `"}`},
		{want: 413, path: "/v1/work/w1/release", body: `{"reason_code":"` + strings.Repeat("x", presencehttp.MaxBodyBytes) + `"}`},
		{want: 403, path: "/v1/work/w1/release", body: `{}`, token: "write"},
	},

	"streamEvents": {
		// From the start of the log: every kind the fixture published.
		{want: 200, path: "/v1/events?" + allTopics, header: []string{"Last-Event-ID", "{first_event}"}},
		// Past the log's head: a reset event.
		{want: 200, path: "/v1/events?topic=statuses", header: []string{"Last-Event-ID", "99999999999-1"}},
		{want: 400, path: "/v1/events?topic=statuses", header: []string{"Last-Event-ID", "yesterday"}},
		{want: 422, path: "/v1/events?topic=nothing.here"},
		{want: 413, path: "/v1/events?" + strings.Repeat("topic=statuses&", contractMaxTopics+1)},
		{want: 401, path: "/v1/events?topic=statuses", token: "none"},
		{want: 200, path: "/v1/events?topic=statuses&access_token={admin_token}", token: "none", header: []string{"Last-Event-ID", "{first_event}"}},
	},
	"createChannel": {
		{want: 201, path: "/v1/channels", body: `{"topics":["agents.a1.presence"]}`},
		{want: 422, path: "/v1/channels", body: `{"topics":["nothing.here"]}`},
		{want: 400, path: "/v1/channels", body: `{"topics":`},
	},
	"getChannel": {
		{want: 200, path: "/v1/channels/{channel}"},
		{want: 404, path: "/v1/channels/nothing"},
		{want: 400, path: "/v1/channels/%ff"},
	},
	"setChannelTopics": {
		{want: 200, path: "/v1/channels/{channel}/subscriptions", body: `{"topics":["agents.*.*","queues.*","statuses","admin"]}`},
		{want: 422, path: "/v1/channels/{channel}/subscriptions", body: `{"topics":["nothing.here"]}`},
		{want: 404, path: "/v1/channels/nothing/subscriptions", body: `{"topics":["statuses"]}`},
		{want: 400, path: "/v1/channels/{channel}/subscriptions", body: `{"topics":`},
	},
	"streamChannel": {
		{want: 200, path: "/v1/channels/{channel}/events", header: []string{"Last-Event-ID", "{first_event}"}},
		{want: 404, path: "/v1/channels/nothing/events"},
		{want: 413, path: "/v1/channels/{big_channel}/events"},
		// Widened past what its token may read: a forbidden event ends it.
		{want: 200, path: "/v1/channels/{bound_channel}/events", token: "bound",
			during: []string{"PUT", "/v1/channels/{bound_channel}/subscriptions", `{"topics":["agents.a1.presence"]}`}},
		{want: 400, path: "/v1/channels/{channel}/events", header: []string{"Last-Event-ID", "x"}},
	},

	"createToken": {
		{want: 201, path: "/v1/tokens", body: `{"scopes":["presence:read"],"name":"wallboard"}`},
		{want: 201, path: "/v1/tokens", body: `{"scopes":["presence:write"],"agent_id":"a1"}`},
		{want: 422, path: "/v1/tokens", body: `{"scopes":["root"]}`},
		{want: 400, path: "/v1/tokens", body: `{"scopes":`},
		{want: 403, path: "/v1/tokens", body: `{"scopes":["presence:read"]}`, token: "write"},
	},
	"listTokens": {
		{want: 200, path: "/v1/tokens"},
		{want: 400, path: "/v1/tokens?limit=x"},
		{want: 403, path: "/v1/tokens", token: "read"},
	},
	"revokeToken": {
		{want: 204, path: "/v1/tokens/{token_revoke}"},
		{want: 404, path: "/v1/tokens/nothing"},
		{want: 400, path: "/v1/tokens/%ff"},
	},
	"listAudit": {
		{want: 200, path: "/v1/audit"},
		{want: 400, path: "/v1/audit?limit=x"},
		{want: 403, path: "/v1/audit", token: "write"},
	},
}

// kin-openapi decodes JSON and a few text types; the wallboard's files
// are text it does not know, validated as the strings the document says.
func init() {
	text := func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(body)
		return string(b), err
	}
	for _, ct := range []string{"text/html", "text/javascript", "text/css"} {
		openapi3filter.RegisterBodyDecoder(ct, text)
	}
}

// contractSpec is http/openapi.json loaded by kin-openapi.
type contractSpec struct {
	doc    *openapi3.T
	router routers.Router
	ops    map[string]*routers.Route // by operationId
}

func loadContractSpec(t *testing.T) *contractSpec {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(strictSchemas(t, presencehttp.OpenAPI()))
	if err != nil {
		t.Fatalf("http/openapi.json: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("http/openapi.json is not a valid OpenAPI document: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	s := &contractSpec{doc: doc, router: router, ops: make(map[string]*routers.Route)}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			s.ops[op.OperationID] = &routers.Route{Spec: doc, Server: doc.Servers[0], Path: path, PathItem: item, Method: method, Operation: op}
		}
	}
	return s
}

// strictSchemas returns the document with every object schema closed: an
// answer may hold no field the document does not describe. The document
// itself leaves most answers open, so that clients accept fields added
// later; the node must still document every field it sends. A schema with
// allOf is closed with unevaluatedProperties instead, and the schemas it
// is made of are left open (closing them would refuse each other's fields).
func strictSchemas(t *testing.T, raw []byte) []byte {
	t.Helper()
	var tree map[string]any
	if err := json.Unmarshal(raw, &tree); err != nil {
		t.Fatal(err)
	}
	parts := make(map[string]bool) // components named in an allOf
	var walk func(v any, open bool)
	walk = func(v any, open bool) {
		switch v := v.(type) {
		case map[string]any:
			if all, ok := v["allOf"].([]any); ok {
				if _, set := v["unevaluatedProperties"]; !set {
					v["unevaluatedProperties"] = false
				}
				for _, p := range all {
					if ref, ok := p.(map[string]any)["$ref"].(string); ok {
						parts[strings.TrimPrefix(ref, "#/components/schemas/")] = true
					}
					walk(p, true)
				}
			}
			if _, props := v["properties"].(map[string]any); props && !open {
				if _, set := v["additionalProperties"]; !set {
					v["additionalProperties"] = false
				}
			}
			for k, c := range v {
				if k != "allOf" {
					walk(c, false)
				}
			}
		case []any:
			for _, c := range v {
				walk(c, open)
			}
		}
	}
	schemas := tree["components"].(map[string]any)["schemas"].(map[string]any)
	walk(tree, false)
	for name := range parts { // undo: they are parts of an allOf
		if s, ok := schemas[name].(map[string]any); ok && s["additionalProperties"] == false && !originallyClosed(raw, name) {
			delete(s, "additionalProperties")
		}
	}
	out, err := json.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// originallyClosed reports whether the document itself closes schema name.
func originallyClosed(raw []byte, name string) bool {
	var doc struct {
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	_ = json.Unmarshal(raw, &doc)
	return doc.Components.Schemas[name]["additionalProperties"] == false
}

// contractRun sends the cases and checks the answers.
type contractRun struct {
	t       *testing.T
	spec    *contractSpec
	base    string
	tokens  map[string]string        // contractCase.token → secret
	fixture map[string]func() string // placeholder → its value, read when a case runs
	kinds   map[string]int           // SSE event kinds seen
}

func TestContract(t *testing.T) {
	t.Parallel()
	spec := loadContractSpec(t)
	n := node.New(node.Config{Addr: "127.0.0.1:0", DatabaseURL: dbtest.NewDatabase(t), AdminToken: adminToken,
		Logger: quiet, MaxStreamTopics: contractMaxTopics,
		Timeouts: presencehttp.Timeouts{Read: contractReadTimeout}})
	if err := n.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	r := &contractRun{t: t, spec: spec, base: n.URL(), kinds: make(map[string]int),
		tokens: map[string]string{"": adminToken, "bad": "unknown-token-0123456789abcdef0123456789abcdef"}}
	r.fixture = r.setUp()

	ok2xx, okErr := make(map[string]int), make(map[string]int)
	seen := make(map[string]map[string]bool) // operationId → statuses answered as wanted
	record := func(id string, want int) {
		if want < 400 {
			ok2xx[id]++
		} else {
			okErr[id]++
		}
		if seen[id] == nil {
			seen[id] = make(map[string]bool)
		}
		seen[id][strconv.Itoa(want)] = true
	}
	type slowCase struct {
		id, name string
		route    *routers.Route
		c        contractCase
	}
	var slow []slowCase
	ids := make([]string, 0, len(contractCases))
	for id := range contractCases {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		route := spec.ops[id]
		if route == nil {
			t.Errorf("contractCases has %q, which http/openapi.json does not describe", id)
			continue
		}
		cases := contractCases[id]
		for i, c := range append(cases, genericCases(route, cases)...) {
			name := fmt.Sprintf("%s#%d %s %s", id, i, route.Method, c.path)
			if i >= len(cases) {
				name = fmt.Sprintf("%s#generic %s %s (token %q)", id, route.Method, c.path, c.token)
			}
			if c.slow { // each waits out the read timeout: all at once, below
				slow = append(slow, slowCase{id, name, route, c})
				continue
			}
			if r.check(name, route, c) {
				record(id, c.want)
			}
		}
	}
	var wg sync.WaitGroup
	passed := make([]bool, len(slow))
	for i, sc := range slow {
		wg.Go(func() { passed[i] = r.check(sc.name, sc.route, sc.c) })
	}
	wg.Wait()
	for i, sc := range slow {
		if passed[i] {
			record(sc.id, sc.c.want)
		}
	}

	// Coverage: no operation escapes the test, so a new route cannot drift.
	for id, route := range spec.ops {
		if ok2xx[id] == 0 {
			t.Errorf("%s (%s %s): no case answered 2xx as documented; add one to contractCases", id, route.Method, route.Path)
		}
		if okErr[id] == 0 && declaresClientError(route.Operation) {
			t.Errorf("%s (%s %s): no case answered a documented 4xx; add one to contractCases", id, route.Method, route.Path)
		}
	}
	// Every documented status of every operation was answered, but those
	// a test cannot bring about on demand.
	for id, route := range spec.ops {
		for code := range route.Operation.Responses.Map() {
			_, exempt := notProduced[id+" "+code]
			switch {
			case seen[id][code] && exempt:
				t.Errorf("%s %s is produced now: take it off notProduced", id, code)
			case !seen[id][code] && !exempt && !slices.Contains(unreachableStatuses, code):
				t.Errorf("%s (%s %s): documents %s, which no case produced; add one to contractCases", id, route.Method, route.Path, code)
			}
		}
	}
	// Every documented event kind was streamed and validated.
	for kind := range eventKinds(t, spec.doc) {
		if r.kinds[kind] == 0 {
			t.Errorf("SSE event kind %q is documented but no stream case delivered one", kind)
		}
	}
}

// unreachableStatuses are documented statuses the contract test does not
// bring about: 429 needs a token's rate limit spent, 503 a database or
// event log that is down (the node tests of faults cover both).
var unreachableStatuses = []string{"429", "503"}

// notProduced are documented answers of one operation that no case can
// bring about on this branch, each with the reason. The test fails when
// one is produced after all, so the list only shrinks.
var notProduced = map[string]string{
	"metrics 404": "only on a server without metrics; a node always has them (http/observe_test.go covers it)",
}

// genericCases are the cases every operation gets from the document
// itself, from the path and body of its first 2xx case: 401 without a
// token and 403 with a token that lacks the scope (x-presenced-scope), and
// 400 for a path parameter that is not valid text or a query parameter
// the operation does not take, 413 for a body over the limit and 408 for
// one that does not arrive within the read timeout.
func genericCases(route *routers.Route, cases []contractCase) []contractCase {
	i := slices.IndexFunc(cases, func(c contractCase) bool { return c.want < 300 })
	if i < 0 {
		return nil // reported by the coverage check
	}
	ok := cases[i]
	path, query, _ := strings.Cut(ok.path, "?")
	if query != "" {
		query = "?" + query
	}
	var out []contractCase
	scope, _ := route.Operation.Extensions["x-presenced-scope"].(string)
	if _, declared := route.Operation.Responses.Map()["401"]; declared && scope != "none" {
		out = append(out, contractCase{want: 401, path: ok.path, body: ok.body, token: "none", header: ok.header})
	}
	lacking := map[string]string{"admin": "write", "presence:write": "read", "presence:read": "write"}[scope]
	if _, declared := route.Operation.Responses.Map()["403"]; declared && lacking != "" {
		out = append(out, contractCase{want: 403, path: ok.path, body: ok.body, token: lacking, header: ok.header})
	}
	if _, declared := route.Operation.Responses.Map()["413"]; declared && route.Operation.RequestBody != nil {
		out = append(out, contractCase{want: 413, path: ok.path, body: `{"x":"` + strings.Repeat("x", presencehttp.MaxBodyBytes) + `"}`, token: ok.token})
	}
	if _, declared := route.Operation.Responses.Map()["408"]; declared && route.Operation.RequestBody != nil {
		out = append(out, contractCase{want: 408, path: ok.path, body: `{"x":`, token: ok.token, header: ok.header, slow: true})
	}
	if strings.HasPrefix(route.Path, "/v1/") {
		sep := "?"
		if query != "" {
			sep = "&"
		}
		out = append(out, contractCase{want: 400, path: ok.path + sep + "no_such_parameter=1", body: ok.body, token: ok.token, header: ok.header})
	}
	tmpl, segs := strings.Split(route.Path, "/"), strings.Split(path, "/")
	for j := len(tmpl) - 1; j >= 0 && len(tmpl) == len(segs); j-- {
		if strings.HasPrefix(tmpl[j], "{") {
			for _, bad := range []string{"%ff", "a%00b"} {
				p := slices.Clone(segs)
				p[j] = bad
				out = append(out, contractCase{want: 400, path: strings.Join(p, "/") + query, body: ok.body, token: ok.token, header: ok.header})
			}
			break
		}
	}
	return out
}

func declaresClientError(op *openapi3.Operation) bool {
	for code := range op.Responses.Map() {
		if strings.HasPrefix(code, "4") {
			return true
		}
	}
	return false
}

// fill replaces the {placeholders} of s with their fixtures.
func (r *contractRun) fill(s string) string {
	for name, value := range r.fixture {
		if strings.Contains(s, "{"+name+"}") {
			s = strings.ReplaceAll(s, "{"+name+"}", value())
		}
	}
	return s
}

// setUp makes the fixtures the cases name and returns their placeholders.
func (r *contractRun) setUp() map[string]func() string {
	t := r.t
	start := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	for _, body := range []string{
		`{"id":"lunch","label":"Lunch","system_presence":"AWAY"}`,
		`{"id":"doomed_status","label":"Doomed","system_presence":"BUSY"}`,
	} {
		r.setup("POST", "/v1/statuses", body)
	}
	for _, body := range []string{
		`{"id":"a1","name":"Alice","capacity":5,"interrupt_capacity":1}`,
		`{"id":"a2"}`, `{"id":"fresh"}`, `{"id":"doomed"}`, `{"id":"gone"}`, `{"id":"gone2"}`,
	} {
		r.setup("POST", "/v1/agents", body)
	}
	r.setup("DELETE", "/v1/agents/gone", "")
	r.setup("DELETE", "/v1/agents/gone2", "")
	r.setup("PUT", "/v1/agents/a1/presence", `{"status":"available"}`)
	r.setup("PUT", "/v1/agents/a1/presence", `{"status":"lunch","message":"back at 2"}`)
	r.setup("PUT", "/v1/agents/a2/presence", `{"status":"available"}`)
	r.setup("PUT", "/v1/agents/a2/presence", `{"status":"busy"}`)
	r.setup("PUT", "/v1/agents/a1/attributes", `{"geolocation":{"lat":48.85,"lon":2.35},"custom":{"x":{"phone/status":"on","color":"red"},"a/b":{"c/d":"e"}}}`)

	spells := func(agent string) (cur, old string) {
		for _, it := range r.setup("GET", "/v1/spells?agent="+agent, "")["items"].([]any) {
			s := it.(map[string]any)
			id := strconv.FormatFloat(s["id"].(float64), 'f', -1, 64)
			if s["is_current"] == true {
				cur = id
			} else {
				old = id
			}
		}
		if cur == "" || old == "" {
			t.Fatalf("fixture: spells of %s: current %q, closed %q", agent, cur, old)
		}
		return cur, old
	}
	_, spellOld := spells("a1")
	_, spellDeleted := spells("a2")
	r.setup("DELETE", "/v1/spells/"+spellDeleted, "")

	sid := r.setup("POST", "/v1/agents/a1/sessions", `{"client":"desk"}`)["session_id"].(string)
	sidClose := r.setup("POST", "/v1/agents/a1/sessions", `{"client":"phone"}`)["session_id"].(string)
	sidClosed := r.setup("POST", "/v1/agents/a1/sessions", `{"client":"old"}`)["session_id"].(string)
	r.setup("DELETE", "/v1/sessions/"+sidClosed, "")

	r.setup("PUT", "/v1/queues/q1", `{"name":"Support"}`)
	r.setup("POST", "/v1/agents/a1/queues/q1/login", "")
	for _, w := range []string{"w1", "w_close", "w_release"} {
		r.setup("POST", "/v1/agents/a1/work", `{"id":"`+w+`","channel":"voice","units":1}`)
	}
	channel := r.setup("POST", "/v1/channels", `{"topics":["agents.a1.presence"]}`)["id"].(string)
	many := make([]string, contractMaxTopics+1)
	for i := range many {
		many[i] = fmt.Sprintf("agents.a%d.presence", i)
	}
	topics, _ := json.Marshal(map[string]any{"topics": many})
	bigChannel := r.setup("POST", "/v1/channels", string(topics))["id"].(string)

	token := func(body string) (secret, id string) {
		out := r.setup("POST", "/v1/tokens", body)
		return out["token"].(string), out["id"].(string)
	}
	r.tokens["read"], _ = token(`{"scopes":["presence:read"]}`)
	r.tokens["write"], _ = token(`{"scopes":["presence:write"]}`)
	r.tokens["bound"], _ = token(`{"scopes":["presence:read","presence:write"],"agent_id":"a2"}`)
	_, revoke := token(`{"scopes":["presence:read"],"name":"doomed"}`)
	res, raw := r.send(context.Background(), "POST", "/v1/channels", `{"topics":["agents.a2.presence"]}`, r.tokens["bound"], nil, contractCase{})
	var bound struct{ ID string }
	if err := json.Unmarshal(raw, &bound); res.StatusCode != 201 || err != nil {
		t.Fatalf("fixture: the bound token's channel: %d %s", res.StatusCode, raw)
	}

	end := time.Now().UTC().Add(time.Minute).Format(time.RFC3339)
	fixed := func(v string) func() string { return func() string { return v } }
	return map[string]func() string{
		"start": fixed(start), "end": fixed(end),
		"first_event": fixed("0-0"),
		"spell_old":   fixed(spellOld), "spell_deleted": fixed(spellDeleted),
		"sid": fixed(sid), "sid_close": fixed(sidClose), "sid_closed": fixed(sidClosed),
		"channel": fixed(channel), "big_channel": fixed(bigChannel), "bound_channel": fixed(bound.ID), "token_revoke": fixed(revoke),
		"admin_token": fixed(adminToken),
		// Read when the case runs: other cases change them.
		"spell_cur": func() string {
			id, _ := r.setup("GET", "/v1/agents/a1/presence", "")["spell_id"].(float64)
			return strconv.FormatFloat(id, 'f', -1, 64)
		},
		"presence_etag": func() string { return r.setupHeader("GET", "/v1/presence").Get("ETag") },
	}
}

// setup sends a fixture request as admin; it must succeed.
func (r *contractRun) setup(method, path, body string) map[string]any {
	r.t.Helper()
	res, raw := r.send(context.Background(), method, path, body, adminToken, nil, contractCase{})
	if res.StatusCode >= 300 {
		r.t.Fatalf("fixture %s %s: %d %s", method, path, res.StatusCode, raw)
	}
	var out map[string]any
	if len(raw) > 0 && res.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(raw, &out); err != nil {
			r.t.Fatalf("fixture %s %s: %v", method, path, err)
		}
	}
	return out
}

// change sends a request as admin from a goroutine of its own; it must succeed.
func (r *contractRun) change(method, path, body string) {
	req, err := http.NewRequest(method, r.base+path, strings.NewReader(body))
	if err != nil {
		r.t.Errorf("change %s %s: %v", method, path, err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Errorf("change %s %s: %v", method, path, err)
		return
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		raw, _ := io.ReadAll(res.Body)
		r.t.Errorf("change %s %s: %d %s", method, path, res.StatusCode, raw)
	}
}

func (r *contractRun) setupHeader(method, path string) http.Header {
	res, _ := r.send(context.Background(), method, path, "", adminToken, nil, contractCase{})
	return res.Header
}

// send makes one request; a text/event-stream answer is read until the
// stream has been quiet for a moment, and its body is what was read.
func (r *contractRun) send(ctx context.Context, method, path, body, token string, header []string, c contractCase) (*http.Response, []byte) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	if c.slow {
		// The body's bytes, then nothing until the answer is in.
		rd = io.MultiReader(rd, stalled{ctx})
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	if c.slow {
		req.ContentLength = int64(len(body)) + 100
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		if len(c.during) == 3 {
			go r.change(c.during[0], r.fill(c.during[1]), c.during[2])
		}
		return res, readStream(res.Body, cancel)
	}
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		r.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return res, raw
}

// stalled is a body that sends nothing more until its request is done.
type stalled struct{ ctx context.Context }

func (s stalled) Read([]byte) (int, error) {
	<-s.ctx.Done()
	return 0, s.ctx.Err()
}

// readStream reads an SSE stream until it has been quiet for 300 ms (the
// backlog is written at once), then ends it with stop.
func readStream(body io.Reader, stop func()) []byte {
	lines := make(chan string)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(body)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var out bytes.Buffer
	quiet := time.NewTimer(time.Second) // the first event may take a moment
	defer quiet.Stop()
loop:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				break loop
			}
			out.WriteString(l + "\n")
			quiet.Reset(300 * time.Millisecond)
		case <-quiet.C:
			break loop
		}
	}
	stop()
	for range lines { // let the reader see the end
	}
	<-done
	return out.Bytes()
}

// check sends one case and validates it; it reports whether the node
// answered as the case wants and the document describes.
func (r *contractRun) check(name string, route *routers.Route, c contractCase) bool {
	t := r.t
	path := r.fill(c.path)
	header := slices.Clone(c.header)
	for i := range header {
		header[i] = r.fill(header[i])
	}
	token, ok := r.tokens[c.token]
	if !ok && c.token != "none" {
		t.Fatalf("%s: unknown token %q", name, c.token)
	}
	ctx := context.Background()
	res, raw := r.send(ctx, route.Method, path, c.body, token, header, c)
	good := true
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s: "+format, append([]any{name}, args...)...)
		good = false
	}
	if res.StatusCode != c.want {
		fail("answered %d, want %d: %.300s", res.StatusCode, c.want, raw)
	}
	if _, ok := route.Operation.Responses.Map()[strconv.Itoa(res.StatusCode)]; !ok {
		fail("status %d is not documented for %s", res.StatusCode, route.Operation.OperationID)
	}

	// The request as the document sees it. A request the router cannot
	// place (a %ff in the path) is checked against the case's operation.
	req := res.Request.Clone(ctx)
	if c.body != "" {
		req.Body = io.NopCloser(strings.NewReader(c.body))
	}
	found, params, err := r.spec.router.FindRoute(req)
	switch {
	case err == nil && found.Operation.OperationID != route.Operation.OperationID:
		fail("the path routes to %s in the document", found.Operation.OperationID)
		return false
	case err == nil:
		route = found
	case res.StatusCode < 400:
		fail("the document routes no operation here: %v", err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true,
			ExcludeRequestBody: res.StatusCode == http.StatusRequestEntityTooLarge}} // megabytes the node did not read
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	switch {
	case reqErr != nil && res.StatusCode < 400:
		fail("the node accepted a request the document refuses: %v", reqErr)
	}

	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	stream := strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream")
	if stream {
		// kin-openapi has no decoder for text/event-stream: the status and
		// headers are checked here, each event's data line by checkEvents.
		out.Options.ExcludeResponseBody = true
	}
	out.SetBodyBytes(raw)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		fail("answer does not match the document: %v\n%.500s", err, raw)
	}
	if stream && res.StatusCode == 200 {
		if !r.checkEvents(name, raw) {
			good = false
		}
	}
	return good
}

// eventKinds returns the documented SSE event kinds and the schema of
// each one's body: x-presenced-event-kinds on the EventEnvelope schema.
func eventKinds(t *testing.T, doc *openapi3.T) map[string]*openapi3.SchemaRef {
	t.Helper()
	env := doc.Components.Schemas["EventEnvelope"]
	if env == nil || env.Value == nil {
		t.Fatal("http/openapi.json: no EventEnvelope schema")
	}
	raw, ok := env.Value.Extensions["x-presenced-event-kinds"].(map[string]any)
	if !ok {
		t.Fatal("http/openapi.json: EventEnvelope lacks x-presenced-event-kinds (kind → body schema $ref)")
	}
	out := make(map[string]*openapi3.SchemaRef)
	for kind, v := range raw {
		ref, _ := v.(map[string]any)["$ref"].(string)
		name, ok := strings.CutPrefix(ref, "#/components/schemas/")
		s := doc.Components.Schemas[name]
		if !ok || s == nil {
			t.Fatalf("http/openapi.json: event kind %q: no schema %q", kind, ref)
		}
		out[kind] = s
	}
	return out
}

// checkEvents validates every event of a stream: its data line is an
// EventEnvelope, and its body is the schema of its kind.
func (r *contractRun) checkEvents(name string, raw []byte) bool {
	t := r.t
	kinds := eventKinds(t, r.spec.doc)
	env := r.spec.doc.Components.Schemas["EventEnvelope"].Value
	good := true
	n := 0
	// Events are blocks of field lines ended by a blank line; r3labs
	// writes id, data, then event.
	for _, block := range strings.Split(string(raw), "\n\n") {
		var id, kind, data string
		for _, line := range strings.Split(block, "\n") {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				id = value
			case "event":
				kind = value
			case "data":
				data += value
			}
		}
		if data == "" {
			continue // a comment (ping) or the retry hint
		}
		n++
		var v any
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			t.Errorf("%s: event %s (%s): data is not JSON: %.200s", name, id, kind, data)
			good = false
			continue
		}
		if err := env.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("%s: event %s (%s): not an EventEnvelope: %v", name, id, kind, err)
			good = false
		}
		schema := kinds[kind]
		if schema == nil {
			t.Errorf("%s: event %s: kind %q is not documented in x-presenced-event-kinds", name, id, kind)
			good = false
			continue
		}
		body := v.(map[string]any)["body"]
		if err := schema.Value.VisitJSON(body, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("%s: event %s (%s): body does not match its schema: %v\n%.500s", name, id, kind, err, data)
			good = false
		}
		r.kinds[kind]++
	}
	if n == 0 {
		t.Errorf("%s: the stream delivered no event", name)
		good = false
	}
	return good
}
