package clause

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	presence "github.com/presenced/presenced"
)

// apiExample is the three-clause example of README.md ("Custom attributes
// and the clause query").
func apiExample() presence.PresenceQuery {
	return presence.PresenceQuery{
		Clauses: map[string]presence.Clause{
			"A": {Attribute: "state", Op: "eq", Value: "ACTIVE"},
			"B": {Category: "CustomerService", Attribute: "languages", Op: "eq", Value: "French"},
			"C": {Category: "CustomerService", Attribute: "phone/status", Op: "contains", Value: "AWAY", Negate: true},
		},
		Expression: "A AND B AND C",
	}
}

func TestCompileAPIExample(t *testing.T) {
	t.Parallel()
	p, err := Compile(apiExample())
	if err != nil {
		t.Fatal(err)
	}
	want := "((r.state = $1::text) AND " +
		"(EXISTS (SELECT FROM attributes x WHERE x.agent_id = r.agent_id AND x.category = $2::text AND x.name = $3::text AND x.value = $4::text)) AND " +
		"(NOT EXISTS (SELECT FROM attributes x WHERE x.agent_id = r.agent_id AND x.category = $5::text AND x.name = $6::text AND x.value LIKE $7::text)))"
	if p.Where != want {
		t.Fatalf("Where:\n%s\nwant\n%s", p.Where, want)
	}
	if wantArgs := []any{"ACTIVE", "CustomerService", "languages", "French", "CustomerService", "phone/status", "%AWAY%"}; !reflect.DeepEqual(p.Args, wantArgs) {
		t.Fatalf("Args: %v", p.Args)
	}
}

func TestCompileEveryOpAndAttribute(t *testing.T) {
	t.Parallel()
	q := presence.PresenceQuery{Clauses: map[string]presence.Clause{
		"S":  {Attribute: "status", Op: "in", Value: []any{"meal", "break"}},
		"P":  {Attribute: "system_presence", Op: "prefix", Value: "AWA"},
		"R":  {Attribute: "routing_status", Op: "eq", Value: "IDLE", Negate: true},
		"M":  {Attribute: "message", Op: "contains", Value: "50%_off\\"},
		"Q1": {Attribute: "queue", Op: "eq", Value: "sales"},
		"Q2": {Attribute: "queue", Op: "in", Value: []string{"a", "b"}},
		"Q3": {Attribute: "queue", Op: "prefix", Value: "sa"},
		"X":  {Category: "c", Attribute: "n", Op: "in", Value: []string{"v"}},
	}, Expression: "S OR P OR NOT R OR M OR (Q1 AND Q2 AND Q3) OR X OR S"}
	p, err := Compile(q)
	if err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{
		"(r.status_id = ANY ($1::text[]))",
		"(r.system_presence LIKE $2::text)",
		"NOT (NOT r.routing_status = $3::text)",
		"(coalesce(r.message LIKE $4::text, false))",
		"(coalesce($5::text = ANY (r.queues), false))",
		"(coalesce(r.queues && $6::text[], false))",
		"(EXISTS (SELECT FROM unnest(r.queues) AS q(v) WHERE q.v LIKE $7::text))",
		"x.value = ANY ($10::text[])",
	} {
		if !strings.Contains(p.Where, frag) {
			t.Errorf("Where lacks %s:\n%s", frag, p.Where)
		}
	}
	// S is referenced twice and compiled once: its parameter is reused.
	if strings.Count(p.Where, "$1::text[]") != 2 || len(p.Args) != 10 {
		t.Errorf("clause reuse: %d args\n%s", len(p.Args), p.Where)
	}
	if p.Args[1] != "AWA%" || p.Args[3] != `%50\%\_off\\%` || p.Args[6] != "sa%" {
		t.Errorf("LIKE patterns: %q %q %q", p.Args[1], p.Args[3], p.Args[6])
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	ok := presence.Clause{Attribute: "state", Op: "eq", Value: "ACTIVE"}
	many := map[string]presence.Clause{}
	for i := range MaxClauses + 1 {
		many["C"+strconv.Itoa(i)] = ok
	}
	cases := []struct {
		name    string
		clauses map[string]presence.Clause
		expr    string
		reason  string
		message string // a part of the message
	}{
		{"NoClauses", nil, "A", ReasonInvalidClause, "at least one clause"},
		{"TooManyClauses", many, "C0", ReasonTooManyClauses, "at most 32"},
		{"UnknownClause", map[string]presence.Clause{"A": ok, "B": ok}, "A AND B OR D", ReasonUnknownClause, `clause "D" is not defined; the clauses are "A", "B" (at position 12)`},
		{"UnusedClause", map[string]presence.Clause{"A": ok, "B": ok}, "A", ReasonUnusedClause, `"B"`},
		{"BadExpression", map[string]presence.Clause{"A": ok}, "A AND", ReasonInvalidExpression, "position 6"},
		{"KeywordName", map[string]presence.Clause{"and": ok}, "A", ReasonInvalidClause, "keyword"},
		{"BadName", map[string]presence.Clause{"a b": ok}, "A", ReasonInvalidClause, "letters, digits or _"},
		{"UnknownStandard", map[string]presence.Clause{"A": {Attribute: "mood", Op: "eq", Value: "x"}}, "A", ReasonInvalidClause, "clauses.A.attribute \"mood\" is not a standard attribute"},
		{"EmptyCustomName", map[string]presence.Clause{"A": {Category: "c", Op: "eq", Value: "x"}}, "A", ReasonInvalidClause, "clauses.A.attribute"},
		{"LongCategory", map[string]presence.Clause{"A": {Category: strings.Repeat("c", 65), Attribute: "n", Op: "eq", Value: "x"}}, "A", ReasonInvalidClause, "clauses.A.category"},
		{"BadOp", map[string]presence.Clause{"A": {Attribute: "state", Op: "like", Value: "x"}}, "A", ReasonInvalidClause, "clauses.A.op"},
		{"NumberValue", map[string]presence.Clause{"A": {Attribute: "state", Op: "eq", Value: 3.0}}, "A", ReasonInvalidClause, "clauses.A.value must be a string"},
		{"MissingValue", map[string]presence.Clause{"A": {Attribute: "state", Op: "eq"}}, "A", ReasonInvalidClause, "clauses.A.value must be a string"},
		{"ListForEq", map[string]presence.Clause{"A": {Attribute: "state", Op: "eq", Value: []any{"x"}}}, "A", ReasonInvalidClause, "must be a string"},
		{"StringForIn", map[string]presence.Clause{"A": {Attribute: "state", Op: "in", Value: "x"}}, "A", ReasonInvalidClause, "list of strings"},
		{"MixedList", map[string]presence.Clause{"A": {Attribute: "state", Op: "in", Value: []any{"x", 1.0}}}, "A", ReasonInvalidClause, "list of strings"},
		{"EmptyList", map[string]presence.Clause{"A": {Attribute: "state", Op: "in", Value: []any{}}}, "A", ReasonInvalidClause, "1 to 100 values"},
		{"NulValue", map[string]presence.Clause{"A": {Attribute: "message", Op: "eq", Value: "a\x00b"}}, "A", ReasonInvalidClause, "NUL"},
		{"BadUTF8", map[string]presence.Clause{"A": {Attribute: "message", Op: "eq", Value: "\xff"}}, "A", ReasonInvalidClause, "UTF-8"},
		{"LongValue", map[string]presence.Clause{"A": {Attribute: "message", Op: "in", Value: []string{"x", strings.Repeat("é", 501)}}}, "A", ReasonInvalidClause, "clauses.A.value[1] is 501 characters"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(presence.PresenceQuery{Clauses: c.clauses, Expression: c.expr})
			if presence.ErrorCode(err) != presence.EINVALID || presence.ErrorReason(err) != c.reason ||
				!strings.Contains(presence.ErrorMessage(err), c.message) {
				t.Fatalf("got %v, want %s with %q", err, c.reason, c.message)
			}
		})
	}
}

// Hostile values, categories and attribute names reach the SQL only as
// parameters: the SQL text is the same whatever they are.
func TestCompileNeverSplicesInput(t *testing.T) {
	t.Parallel()
	hostile := `x'); DROP TABLE agents; --`
	q := presence.PresenceQuery{Clauses: map[string]presence.Clause{
		"A": {Category: hostile, Attribute: hostile, Op: "eq", Value: hostile},
		"B": {Attribute: "message", Op: "contains", Value: hostile},
		"C": {Attribute: "queue", Op: "in", Value: []string{hostile, "$1"}},
	}, Expression: "A AND (B OR NOT C)"}
	p, err := Compile(q)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.Where, "DROP") {
		t.Fatalf("input spliced into SQL:\n%s", p.Where)
	}
	q2 := presence.PresenceQuery{Clauses: map[string]presence.Clause{
		"A": {Category: "c", Attribute: "n", Op: "eq", Value: "v"},
		"B": {Attribute: "message", Op: "contains", Value: ""},
		"C": {Attribute: "queue", Op: "in", Value: []string{"q"}},
	}, Expression: "A AND (B OR NOT C)"}
	p2, err := Compile(q2)
	if err != nil {
		t.Fatal(err)
	}
	if p.Where != p2.Where {
		t.Fatalf("SQL depends on values:\n%s\n%s", p.Where, p2.Where)
	}
	checkPlaceholders(t, p.Where, len(p.Args))
}

var placeholderRE = regexp.MustCompile(`\$(\d+)`)

// checkPlaceholders fails unless the SQL uses exactly the parameters
// $1 … $n, each at least once.
func checkPlaceholders(t testing.TB, sql string, n int) {
	t.Helper()
	seen := make([]bool, n+1)
	for _, m := range placeholderRE.FindAllStringSubmatch(sql, -1) {
		i, _ := strconv.Atoi(m[1])
		if i < 1 || i > n {
			t.Fatalf("placeholder $%d out of range 1..%d in %s", i, n, sql)
		}
		seen[i] = true
	}
	for i := 1; i <= n; i++ {
		if !seen[i] {
			t.Fatalf("argument $%d unused in %s", i, sql)
		}
	}
}

func TestLikeEscape(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"abc": "abc", "50%": `50\%`, "a_b": `a\_b`, `c:\dir`: `c:\\dir`, "é%é": `é\%é`} {
		if got := likeEscape(in); got != want {
			t.Errorf("likeEscape(%q) = %q, want %q", in, got, want)
		}
	}
}
