package http_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	presencehttp "github.com/presenced/presenced/http"
)

// notYetRegistered are routes of branches not merged yet: described in
// http/openapi.json but not registered on this branch. The lead empties
// this list at merge, and from then on the test is strict both ways.
var notYetRegistered = []string{}

// openAPIDoc is the part of the document the tests read.
type openAPIDoc struct {
	OpenAPI string                                 `json:"openapi"`
	Paths   map[string]map[string]openAPIOperation `json:"paths"`
}

type openAPIOperation struct {
	OperationID string            `json:"operationId"`
	Summary     string            `json:"summary"`
	Tags        []string          `json:"tags"`
	Scope       string            `json:"x-presenced-scope"`
	Parameters  []json.RawMessage `json:"parameters"`
	Responses   map[string]any    `json:"responses"`
}

func loadOpenAPI(t *testing.T) (openAPIDoc, map[string]any) {
	t.Helper()
	raw := presencehttp.OpenAPI()
	var doc openAPIDoc
	var tree map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("http/openapi.json: %v", err)
	}
	if err := json.Unmarshal(raw, &tree); err != nil {
		t.Fatal(err)
	}
	return doc, tree
}

var (
	wildcardRest = regexp.MustCompile(`\{([A-Za-z0-9_]+)\.\.\.\}`)
	pathParam    = regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)
)

// routeKey turns a mux pattern into "METHOD /openapi/path": {name...}
// becomes {name}, and the exact-match marker {$} goes. Patterns without a
// method (the not-found catch-all) give "".
func routeKey(pattern string) string {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		return ""
	}
	path = wildcardRest.ReplaceAllString(path, "{$1}")
	path = strings.TrimSuffix(path, "{$}")
	return method + " " + path
}

// described lists the document's operations as "METHOD /path".
func (d openAPIDoc) described() map[string]openAPIOperation {
	out := make(map[string]openAPIOperation)
	for path, ops := range d.Paths {
		for method, op := range ops {
			out[strings.ToUpper(method)+" "+path] = op
		}
	}
	return out
}

// Every route the server registers is described, and every described
// route is registered (or listed in notYetRegistered).
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	doc, _ := loadOpenAPI(t)
	described := doc.described()
	registered := make(map[string]string) // key → pattern
	for _, p := range presencehttp.Routes() {
		if k := routeKey(p); k != "" {
			registered[k] = p
		}
	}
	for k, p := range registered {
		if _, ok := described[k]; !ok {
			t.Errorf("route %q is registered but not described in http/openapi.json (as %s)", p, k)
		}
	}
	for k := range described {
		if _, ok := registered[k]; !ok && !slices.Contains(notYetRegistered, k) {
			t.Errorf("http/openapi.json describes %s, which the server does not register", k)
		}
	}
	for _, k := range notYetRegistered {
		if _, ok := registered[k]; ok {
			t.Errorf("%s is registered now: take it off notYetRegistered", k)
		}
		if _, ok := described[k]; !ok {
			t.Errorf("%s is on notYetRegistered but not described", k)
		}
	}
}

// The scope the document names for each operation is the one its
// authorization rule asks for.
func TestOpenAPIScopesAreTheRouteRules(t *testing.T) {
	t.Parallel()
	doc, _ := loadOpenAPI(t)
	patterns := make(map[string]string)
	for _, p := range presencehttp.Routes() {
		patterns[routeKey(p)] = p
	}
	for k, op := range doc.described() {
		pattern := patterns[k]
		if pattern == "" {
			pattern = strings.Replace(k, " /{$}", " /", 1) // not registered yet: its rule, if any
		}
		scope, ok := presencehttp.RouteRule(pattern)
		if !ok {
			continue // a route of another branch whose rule is not here yet
		}
		if scope == "" {
			scope = "none"
		}
		if op.Scope != scope {
			t.Errorf("%s: x-presenced-scope %q, but its rule asks for %q", k, op.Scope, scope)
		}
	}
}

// The document holds together: unique operation ids, every operation
// summarised, tagged and answered, every path parameter declared, every
// reference resolved.
func TestOpenAPIDocumentIsWellFormed(t *testing.T) {
	t.Parallel()
	doc, tree := loadOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	ids := make(map[string]string)
	for k, op := range doc.described() {
		if prev, dup := ids[op.OperationID]; dup || op.OperationID == "" {
			t.Errorf("%s: operationId %q (also %s)", k, op.OperationID, prev)
		}
		ids[op.OperationID] = k
		if op.Summary == "" || len(op.Tags) == 0 || len(op.Responses) == 0 || op.Scope == "" {
			t.Errorf("%s: needs a summary, a tag, responses and x-presenced-scope", k)
		}
		declared := make(map[string]bool)
		for _, raw := range op.Parameters {
			var p struct {
				Ref  string `json:"$ref"`
				Name string `json:"name"`
				In   string `json:"in"`
			}
			_ = json.Unmarshal(raw, &p)
			if p.Ref != "" {
				target, ok := resolve(tree, p.Ref).(map[string]any)
				if !ok {
					continue // reported below
				}
				p.Name, _ = target["name"].(string)
				p.In, _ = target["in"].(string)
			}
			if p.In == "path" {
				declared[p.Name] = true
			}
		}
		_, path, _ := strings.Cut(k, " ")
		want := make(map[string]bool)
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			want[m[1]] = true
		}
		for name := range want {
			if !declared[name] {
				t.Errorf("%s: path parameter %q is not declared", k, name)
			}
		}
		for name := range declared {
			if !want[name] {
				t.Errorf("%s: declares path parameter %q that the path lacks", k, name)
			}
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && resolve(tree, ref) == nil {
				t.Errorf("unresolved $ref %q", ref)
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(tree)
}

// resolve follows a local JSON pointer ("#/components/schemas/Agent").
func resolve(tree map[string]any, ref string) any {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	var cur any = tree
	for _, part := range strings.Split(ref[2:], "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]
	}
	return cur
}

func TestOpenAPIIsServedWithoutAToken(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	res, err := http.Get(s.URL() + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var doc map[string]any
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &doc) != nil || doc["paths"] == nil {
		t.Fatalf("GET /openapi.json: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	req, _ := http.NewRequest("GET", s.URL()+"/openapi.json", nil)
	req.Header.Set("If-None-Match", res.Header.Get("ETag"))
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %d", res.StatusCode)
	}
}

// The query parameters each /v1 route takes (routes.go) are the
// ones the document declares for it, so that checkQuery refuses exactly
// what the contract does not promise.
func TestOpenAPIQueryParametersAreTheRoutes(t *testing.T) {
	t.Parallel()
	doc, tree := loadOpenAPI(t)
	described := doc.described()
	for _, p := range presencehttp.Routes() {
		k := routeKey(p)
		op, ok := described[k]
		if !ok || !strings.Contains(k, " /v1/") {
			continue
		}
		var declared []string
		for _, raw := range op.Parameters {
			var p struct {
				Ref  string `json:"$ref"`
				Name string `json:"name"`
				In   string `json:"in"`
			}
			_ = json.Unmarshal(raw, &p)
			if target, ok := resolve(tree, p.Ref).(map[string]any); ok {
				p.Name, _ = target["name"].(string)
				p.In, _ = target["in"].(string)
			}
			if p.In == "query" {
				declared = append(declared, p.Name)
			}
		}
		var taken []string
		for _, name := range presencehttp.RouteParams(p) {
			taken = append(taken, strings.TrimSuffix(name, "*"))
		}
		slices.Sort(declared)
		slices.Sort(taken)
		if !slices.Equal(declared, taken) {
			t.Errorf("%s: the document declares query parameters %v, the route takes %v", k, declared, taken)
		}
	}
}
