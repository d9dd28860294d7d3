package db_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
)

// apiExample is the three-clause example of README.md with the state clause
// given, so the tests do not depend on how state is derived.
func apiExample(state string) presence.PresenceQuery {
	return presence.PresenceQuery{
		Clauses: map[string]presence.Clause{
			"A": {Attribute: "state", Op: "eq", Value: state},
			"B": {Category: "CustomerService", Attribute: "languages", Op: "eq", Value: "French"},
			"C": {Category: "CustomerService", Attribute: "phone/status", Op: "contains", Value: "AWAY", Negate: true},
		},
		Expression: "A AND B AND C",
	}
}

// queryAll runs q page by page and returns the agent ids in order.
func queryAll(t *testing.T, d *db.DB, q presence.PresenceQuery, limit int) []string {
	t.Helper()
	var ids []string
	q.Limit = limit
	for page := 0; ; page++ {
		recs, next, err := d.QueryPresence(ctx, q)
		ok(t, err)
		for _, r := range recs {
			ids = append(ids, r.AgentID)
		}
		if next == "" {
			return ids
		}
		if page > 1000 {
			t.Fatal("paging does not end")
		}
		q.Cursor = next
	}
}

func mustIDs(t *testing.T, got []string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got == nil {
		got = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("agents %v, want %v", got, want)
	}
}

func TestQueryPresence(t *testing.T) {
	t.Parallel()
	t.Run("APIExample", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		for id, attrs := range map[string]map[string]map[string]*string{
			"fr-available": custom("CustomerService", "languages", "French", "CustomerService", "phone/status", "AVAILABLE"),
			"fr-away":      custom("CustomerService", "languages", "French", "CustomerService", "phone/status", "AWAY_BREAK"),
			"fr-no-phone":  custom("CustomerService", "languages", "French"),
			"de-available": custom("CustomerService", "languages", "German", "CustomerService", "phone/status", "AVAILABLE"),
			"fr-other-cat": custom("Sales", "languages", "French"),
			"fr-deleted":   custom("CustomerService", "languages", "French"),
		} {
			mustAgent(t, d, id)
			_, err := d.SetAttributes(ctx, id, presence.AttributeChange{Custom: attrs})
			ok(t, err)
		}
		mustAgent(t, d, "nothing")
		ok(t, d.DeleteAgent(ctx, "fr-deleted"))
		rec, err := d.FindPresence(ctx, "fr-available")
		ok(t, err)
		mustIDs(t, queryAll(t, d, apiExample(rec.State), 100), "fr-available", "fr-no-phone")
		mustIDs(t, queryAll(t, d, apiExample("NO_SUCH_STATE"), 100))
		recs, _, err := d.QueryPresence(ctx, apiExample(rec.State))
		ok(t, err)
		if recs[0].Status.ID != rec.Status.ID || recs[0].Capacity != rec.Capacity {
			t.Fatalf("record %+v, want %+v", recs[0], rec)
		}
	})
	t.Run("StandardAttributes", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		for id, ch := range map[string]presence.PresenceChange{
			"a1": {Status: "meal", Message: ptr("back at 1")},
			"a2": {Status: "break", Message: ptr("back at 2:30")},
			"a3": {Status: "available"},
		} {
			mustAgent(t, d, id)
			_, err := d.SetPresence(ctx, id, ch)
			ok(t, err)
		}
		mustAgent(t, d, "a4") // no presence yet: offline, no message
		q := func(expr string, clauses map[string]presence.Clause) []string {
			return queryAll(t, d, presence.PresenceQuery{Clauses: clauses, Expression: expr}, 100)
		}
		cl := func(attr, op string, v any) presence.Clause {
			return presence.Clause{Attribute: attr, Op: op, Value: v}
		}
		mustIDs(t, q("S", map[string]presence.Clause{"S": cl("status", "in", []string{"meal", "break"})}), "a1", "a2")
		mustIDs(t, q("S", map[string]presence.Clause{"S": cl("system_presence", "eq", "OFFLINE")}), "a4")
		mustIDs(t, q("M", map[string]presence.Clause{"M": cl("message", "prefix", "back at")}), "a1", "a2")
		mustIDs(t, q("M", map[string]presence.Clause{"M": cl("message", "contains", ":")}), "a2")
		// No message passes no test, so NOT M includes it.
		mustIDs(t, q("NOT M", map[string]presence.Clause{"M": cl("message", "contains", "back")}), "a3", "a4")
		mustIDs(t, q("M OR S", map[string]presence.Clause{"M": cl("message", "eq", "back at 1"), "S": cl("status", "eq", "available")}), "a1", "a3")
		mustIDs(t, q("R AND NOT Q", map[string]presence.Clause{"R": cl("routing_status", "prefix", ""), "Q": cl("queue", "prefix", "")}),
			"a1", "a2", "a3", "a4")
	})
	// Thousands of candidates, matches only at both ends, every page size:
	// paging keeps agent id order and loses nothing.
	t.Run("SparseMatchesAndPaging", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		_, err := d.Pool().Exec(ctx, `
			INSERT INTO agents (id, name) SELECT 'a' || lpad(i::text, 5, '0'), 'x' FROM generate_series(1, 3000) i;
			INSERT INTO attributes (agent_id, category, name, value)
			SELECT 'a' || lpad(i::text, 5, '0'), 'c', 'lang', CASE WHEN i % 2 = 0 THEN 'fr' ELSE 'de' END FROM generate_series(1, 3000) i;
			INSERT INTO attributes (agent_id, category, name, value)
			SELECT 'a' || lpad(i::text, 5, '0'), 'c', 'rare', 'yes' FROM generate_series(1, 3000) i WHERE i IN (2, 2998, 3000);`)
		ok(t, err)
		q := presence.PresenceQuery{Clauses: map[string]presence.Clause{
			"L": {Category: "c", Attribute: "lang", Op: "eq", Value: "fr"},
			"R": {Category: "c", Attribute: "rare", Op: "eq", Value: "yes"},
		}, Expression: "L AND (R OR R)"}
		for _, limit := range []int{1, 2, 100} {
			mustIDs(t, queryAll(t, d, q, limit), "a00002", "a02998", "a03000")
		}
		q.Clauses["L"] = presence.Clause{Category: "c", Attribute: "lang", Op: "in", Value: []string{"fr", "xx"}}
		mustIDs(t, queryAll(t, d, q, 2), "a00002", "a02998", "a03000")
		// Dense: a full page of the maximum size, and a cursor after it.
		recs, next, err := d.QueryPresence(ctx, presence.PresenceQuery{Clauses: map[string]presence.Clause{
			"L": {Category: "c", Attribute: "lang", Op: "prefix", Value: "f"}}, Expression: "L", Limit: 1000})
		ok(t, err)
		if len(recs) != 1000 || recs[0].AgentID != "a00002" || recs[999].AgentID != "a02000" || next == "" {
			t.Fatalf("dense page: %d records, next %q", len(recs), next)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		_, _, err := d.QueryPresence(ctx, presence.PresenceQuery{Clauses: apiExample("ACTIVE").Clauses, Expression: "A AND B AND (C"})
		mustReason(t, err, "invalid_expression")
		_, _, err = d.QueryPresence(ctx, presence.PresenceQuery{Clauses: apiExample("ACTIVE").Clauses, Expression: "A AND B AND D"})
		mustReason(t, err, "unknown_clause")
		q := apiExample("ACTIVE")
		q.Cursor = "not a cursor"
		_, _, err = d.QueryPresence(ctx, q)
		mustCode(t, err, presence.EBADREQUEST)
	})
}

// The property test: random agents with random presence and attributes in
// a real database, random expressions over random clauses; the SQL answer
// must equal an in-memory evaluation of the same expression, which shares
// nothing with the compiler (the expression is generated as a tree, then
// rendered to text with random spacing, parentheses and keyword case).
func TestQueryPresenceMatchesInMemoryEvaluation(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	rnd := rand.New(rand.NewPCG(seed, 42))
	t.Logf("seed %d", seed)
	d := dbtest.MustOpenDB(t)

	values := []string{"", "a", "ab", "abc", "b", "bab", "a%c", "a_c", "abc%", `x\y`, "é", "éa", "AWAY", "away", "French", "Fr"}
	categories := []string{"c1", "c2"}
	attrs := []string{"n1", "n2", "phone/status"}
	statuses := []string{"available", "busy", "away", "break", "meal"}
	messages := []string{"back at 1", "back", "a%c", "AWAY", "é"}

	type agent struct {
		rec    *presence.Record
		custom map[[2]string]string
	}
	agents := map[string]*agent{}
	for i := range 40 {
		id := fmt.Sprintf("p%02d", i)
		mustAgent(t, d, id)
		a := &agent{custom: map[[2]string]string{}}
		if rnd.IntN(5) > 0 { // some agents keep no presence: offline, no message
			ch := presence.PresenceChange{Status: statuses[rnd.IntN(len(statuses))]}
			if rnd.IntN(3) > 0 {
				ch.Message = ptr(messages[rnd.IntN(len(messages))])
			}
			_, err := d.SetPresence(ctx, id, ch)
			ok(t, err)
		}
		change := presence.AttributeChange{Custom: map[string]map[string]*string{}}
		for _, c := range categories {
			for _, n := range attrs {
				if rnd.IntN(2) == 0 {
					v := values[rnd.IntN(len(values))]
					if change.Custom[c] == nil {
						change.Custom[c] = map[string]*string{}
					}
					change.Custom[c][n] = ptr(v)
					a.custom[[2]string{c, n}] = v
				}
			}
		}
		if len(change.Custom) > 0 {
			_, err := d.SetAttributes(ctx, id, change)
			ok(t, err)
		}
		agents[id] = a
	}
	ok(t, d.DeleteAgent(ctx, "p07")) // deleted agents never match
	delete(agents, "p07")
	for id, a := range agents {
		rec, err := d.FindPresence(ctx, id)
		ok(t, err)
		a.rec = rec
	}

	// Values for standard clauses: some that occur, some prefixes of them,
	// some that never do.
	standardValues := map[string][]string{
		"state":           {"OFFLINE", "ACTIVE", "OFF", "FLINE", ""},
		"status":          append([]string{"av", "offline", "a"}, statuses...),
		"system_presence": {"AVAILABLE", "AWAY", "A", "BR", "OFFLINE"},
		"routing_status":  {"OFF_QUEUE", "IDLE", "OFF", "_"},
		"message":         append([]string{"back", "", "%", "a"}, messages...),
		"queue":           {"sales", "s", ""},
	}
	ops := []string{"eq", "contains", "prefix", "in"}

	// matches is the in-memory meaning of one clause.
	matches := func(c presence.Clause, a *agent) bool {
		var have []string // the values the clause tests; none = fails
		if c.Category != "" {
			if v, found := a.custom[[2]string{c.Category, c.Attribute}]; found {
				have = []string{v}
			}
		} else {
			r := a.rec
			switch c.Attribute {
			case "state":
				have = []string{r.State}
			case "status":
				have = []string{r.Status.ID}
			case "system_presence":
				have = []string{r.Status.SystemPresence}
			case "routing_status":
				have = []string{r.RoutingStatus}
			case "message":
				if r.Message != nil {
					have = []string{*r.Message}
				}
			case "queue":
				have = r.Queues
			}
		}
		hit := slices.ContainsFunc(have, func(v string) bool {
			switch c.Op {
			case "eq":
				return v == c.Value.(string)
			case "contains":
				return strings.Contains(v, c.Value.(string))
			case "prefix":
				return strings.HasPrefix(v, c.Value.(string))
			default:
				return slices.Contains(c.Value.([]string), v)
			}
		})
		return hit != c.Negate
	}

	randomClause := func() presence.Clause {
		var c presence.Clause
		if rnd.IntN(2) == 0 {
			c.Attribute = []string{"state", "status", "system_presence", "routing_status", "message", "queue"}[rnd.IntN(6)]
		} else {
			c.Category = []string{"c1", "c2", "c3"}[rnd.IntN(3)]
			c.Attribute = attrs[rnd.IntN(len(attrs))]
		}
		pool := values
		if c.Category == "" {
			pool = standardValues[c.Attribute]
		}
		c.Op = ops[rnd.IntN(len(ops))]
		if c.Op == "in" {
			list := make([]string, 1+rnd.IntN(3))
			for i := range list {
				list[i] = pool[rnd.IntN(len(pool))]
			}
			c.Value = list
		} else {
			c.Value = pool[rnd.IntN(len(pool))]
		}
		c.Negate = rnd.IntN(4) == 0
		return c
	}

	for iter := range 400 {
		n := 1 + rnd.IntN(5)
		clauses := map[string]presence.Clause{}
		var names []string
		for i := range n {
			name := fmt.Sprintf("C%d", i)
			clauses[name] = randomClause()
			names = append(names, name)
		}
		if rnd.IntN(3) == 0 { // a clause used twice
			names = append(names, names[rnd.IntN(n)])
		}
		rnd.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		tree := randomTree(rnd, names)
		expr := tree.render(rnd)

		var want []string
		for id, a := range agents {
			if tree.eval(func(name string) bool { return matches(clauses[name], a) }) {
				want = append(want, id)
			}
		}
		slices.Sort(want)
		limit := []int{1, 3, 1000}[rnd.IntN(3)]
		got := queryAll(t, d, presence.PresenceQuery{Clauses: clauses, Expression: expr}, limit)
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d, query %d (limit %d): %s\nclauses %+v\nSQL %v\nmemory %v", seed, iter, limit, expr, clauses, got, want)
		}
	}
}

// exprTree is a random expression, evaluated and rendered by the test
// alone.
type exprTree struct {
	op   string // "ref", "not", "and", "or"
	name string
	kids []*exprTree
}

// randomTree builds a tree whose leaves are names, in order.
func randomTree(rnd *rand.Rand, names []string) *exprTree {
	var t *exprTree
	if len(names) == 1 {
		t = &exprTree{op: "ref", name: names[0]}
	} else {
		// Cut names into 2 or more consecutive groups.
		var kids []*exprTree
		for rest := names; len(rest) > 0; {
			k := 1 + rnd.IntN(len(rest))
			if len(kids) == 0 && k == len(rest) {
				k = len(rest) - 1
			}
			kids = append(kids, randomTree(rnd, rest[:k]))
			rest = rest[k:]
		}
		t = &exprTree{op: []string{"and", "and", "or"}[rnd.IntN(3)], kids: kids} // AND-heavy, like real queries
	}
	if rnd.IntN(5) == 0 {
		t = &exprTree{op: "not", kids: []*exprTree{t}}
	}
	return t
}

func (t *exprTree) eval(truth func(string) bool) bool {
	switch t.op {
	case "ref":
		return truth(t.name)
	case "not":
		return !t.kids[0].eval(truth)
	case "and":
		for _, k := range t.kids {
			if !k.eval(truth) {
				return false
			}
		}
		return true
	default:
		for _, k := range t.kids {
			if k.eval(truth) {
				return true
			}
		}
		return false
	}
}

// render writes t with keywords in random case, random spacing, and
// parentheses around every compound operand (sometimes around leaves too).
func (t *exprTree) render(rnd *rand.Rand) string {
	kw := func(k string) string {
		switch rnd.IntN(3) {
		case 0:
			return strings.ToLower(k)
		case 1:
			return k[:1] + strings.ToLower(k[1:])
		}
		return k
	}
	sp := func() string { return []string{" ", "  ", "\t", "\n "}[rnd.IntN(4)] }
	wrap := func(k *exprTree) string {
		s := k.render(rnd)
		if k.op == "and" || k.op == "or" || rnd.IntN(6) == 0 {
			return "(" + s + ")"
		}
		return s
	}
	switch t.op {
	case "ref":
		return t.name
	case "not":
		return kw("NOT") + sp() + wrap(t.kids[0])
	default:
		parts := make([]string, len(t.kids))
		for i, k := range t.kids {
			parts[i] = wrap(k)
		}
		return strings.Join(parts, sp()+kw(strings.ToUpper(t.op))+sp())
	}
}
