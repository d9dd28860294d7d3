package clause

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	presence "github.com/presenced/presenced"
)

// Program is a compiled query. Its SQL speaks only of the columns of the
// presence_records view (state, status_id, system_presence, routing_status,
// message, queues, agent_id) and of the attributes table, never of the
// tables behind the view, so it survives changes of the view's internals.
type Program struct {
	// Where is a boolean SQL expression over the presence_records view,
	// which the caller aliases r. Its parameters are $1 … $len(Args); the
	// caller numbers its own after them.
	Where string
	Args  []any

	// Expr is the parsed expression.
	Expr Expr
}

var clauseName = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// Compile checks q and compiles it. Errors are EINVALID with one of the
// Reason* codes and a message naming the clause or the position in the
// expression.
func Compile(q presence.PresenceQuery) (*Program, error) {
	if len(q.Clauses) == 0 {
		return nil, invalidClause("clauses must name at least one clause, e.g. {\"A\": {\"attribute\": \"state\", \"op\": \"eq\", \"value\": \"ACTIVE\"}}.")
	}
	if len(q.Clauses) > MaxClauses {
		return nil, presence.ReasonErrorf(presence.EINVALID, ReasonTooManyClauses,
			"A query may define at most %d clauses; this one defines %d.", MaxClauses, len(q.Clauses))
	}
	names := make([]string, 0, len(q.Clauses))
	for name := range q.Clauses {
		names = append(names, name)
	}
	sort.Strings(names) // the same bad query always names the same clause
	checked := make(map[string]*clause, len(names))
	for _, name := range names {
		c, err := checkClause(name, q.Clauses[name])
		if err != nil {
			return nil, err
		}
		checked[name] = c
	}

	x, err := Parse(q.Expression)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	var unknown error
	walk(x, func(r *Ref) {
		if _, ok := checked[r.Name]; !ok && unknown == nil {
			unknown = presence.ReasonErrorf(presence.EINVALID, ReasonUnknownClause,
				"expression: clause %q is not defined; the clauses are %s (at position %d).", r.Name, quoteList(names, 10), r.Pos)
		}
		used[r.Name] = true
	})
	if unknown != nil {
		return nil, unknown
	}
	for _, name := range names {
		if !used[name] {
			return nil, presence.ReasonErrorf(presence.EINVALID, ReasonUnusedClause,
				"clause %q is defined but the expression does not use it.", name)
		}
	}

	g := &generator{clauses: checked, frags: map[string]string{}}
	return &Program{Where: g.expr(x), Args: g.args, Expr: x}, nil
}

// clause is a checked clause.
type clause struct {
	name      string
	category  string // "" for a standard attribute
	attribute string
	op        string
	value     string   // ops other than in
	values    []string // op in
	negate    bool
}

func (c *clause) custom() bool { return c.category != "" }

func invalidClause(format string, args ...any) error {
	return presence.ReasonErrorf(presence.EINVALID, ReasonInvalidClause, format, args...)
}

func checkClause(name string, in presence.Clause) (*clause, error) {
	if !clauseName.MatchString(name) {
		return nil, invalidClause("Clause name %q must be 1 to %d letters, digits or _.", truncate(name, 80), MaxClauseNameLength)
	}
	switch strings.ToUpper(name) {
	case "AND", "OR", "NOT":
		return nil, invalidClause("Clause name %q is a keyword of the expression; choose another.", name)
	}
	c := &clause{name: name, category: in.Category, attribute: in.Attribute, op: in.Op, negate: in.Negate}
	field := "clauses." + name
	if in.Category == "" {
		if !isStandard(in.Attribute) {
			return nil, invalidClause("%s.attribute %q is not a standard attribute (%s); give a category for a custom attribute.",
				field, truncate(in.Attribute, 80), strings.Join(StandardAttributes, ", "))
		}
	} else {
		if err := presence.ValidateAttributeKey(field+".category", in.Category, presence.MaxAttributeCategoryLength); err != nil {
			return nil, asInvalidClause(err)
		}
		if err := presence.ValidateAttributeKey(field+".attribute", in.Attribute, presence.MaxAttributeNameLength); err != nil {
			return nil, asInvalidClause(err)
		}
	}
	switch in.Op {
	case OpEq, OpContains, OpPrefix:
		s, ok := in.Value.(string)
		if !ok {
			return nil, invalidClause("%s.value must be a string for op %q.", field, in.Op)
		}
		if err := checkValue(field+".value", s); err != nil {
			return nil, err
		}
		c.value = s
	case OpIn:
		list, ok := stringList(in.Value)
		if !ok {
			return nil, invalidClause("%s.value must be a list of strings for op \"in\".", field)
		}
		if len(list) == 0 || len(list) > MaxInValues {
			return nil, invalidClause("%s.value must list 1 to %d values.", field, MaxInValues)
		}
		for i, s := range list {
			if err := checkValue(fmt.Sprintf("%s.value[%d]", field, i), s); err != nil {
				return nil, err
			}
		}
		c.values = list
	default:
		return nil, invalidClause("%s.op must be one of eq, contains, prefix, in.", field)
	}
	return c, nil
}

func stringList(v any) ([]string, bool) {
	switch v := v.(type) {
	case []string:
		return v, true
	case []any:
		out := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

// checkValue rejects what PostgreSQL would reject (invalid UTF-8, NUL) so
// that no value can turn into a 5xx.
func checkValue(field, s string) error {
	if !utf8.ValidString(s) {
		return invalidClause("%s is not valid UTF-8.", field)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return invalidClause("%s must not contain NUL characters.", field)
	}
	if n := utf8.RuneCountInString(s); n > MaxValueLength {
		return invalidClause("%s is %d characters long; at most %d are allowed.", field, n, MaxValueLength)
	}
	return nil
}

func asInvalidClause(err error) error {
	return invalidClause("%s", presence.ErrorMessage(err))
}

func isStandard(a string) bool {
	for _, s := range StandardAttributes {
		if s == a {
			return true
		}
	}
	return false
}

// walk calls f for every reference, left to right. Its recursion is bounded
// by MaxDepth like the parser's.
func walk(x Expr, f func(*Ref)) {
	switch x := x.(type) {
	case *Ref:
		f(x)
	case *Not:
		walk(x.X, f)
	case *And:
		for _, y := range x.X {
			walk(y, f)
		}
	case *Or:
		for _, y := range x.X {
			walk(y, f)
		}
	}
}

// generator turns an expression into SQL. Each clause becomes one fragment
// with its own parameters, made at its first reference and reused by every
// later one.
type generator struct {
	clauses map[string]*clause
	frags   map[string]string
	args    []any
}

func (g *generator) param(v any, cast string) string {
	g.args = append(g.args, v)
	return "$" + strconv.Itoa(len(g.args)) + "::" + cast
}

func (g *generator) expr(x Expr) string {
	switch x := x.(type) {
	case *Ref:
		f, ok := g.frags[x.Name]
		if !ok {
			f = g.clause(g.clauses[x.Name])
			g.frags[x.Name] = f
		}
		return f
	case *Not:
		return "NOT " + g.expr(x.X)
	case *And:
		return g.join(x.X, " AND ")
	case *Or:
		return g.join(x.X, " OR ")
	}
	panic(fmt.Sprintf("clause: unknown node %T", x))
}

func (g *generator) join(xs []Expr, op string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = g.expr(x)
	}
	return "(" + strings.Join(parts, op) + ")"
}

// standardColumns maps standard attributes to the view's columns. queue is
// the array column queues and handled apart.
var standardColumns = map[string]string{
	AttrState:          "r.state",
	AttrStatus:         "r.status_id",
	AttrSystemPresence: "r.system_presence",
	AttrRoutingStatus:  "r.routing_status",
	AttrMessage:        "r.message",
}

// clause renders one clause, always parenthesised and two-valued.
func (g *generator) clause(c *clause) string {
	var s string
	switch {
	case c.custom():
		// At top level PostgreSQL turns EXISTS into a semi-join and NOT
		// EXISTS into an anti-join: it may start from the attribute's
		// agents (attributes_search_idx) and evaluate the view for those
		// alone, or probe attributes_pkey once per agent it walks.
		s = "EXISTS (SELECT FROM attributes x WHERE x.agent_id = r.agent_id AND x.category = " +
			g.param(c.category, "text") + " AND x.name = " + g.param(c.attribute, "text") +
			" AND " + g.test("x.value", c) + ")"
	case c.attribute == AttrQueue:
		switch c.op {
		case OpEq:
			s = "coalesce(" + g.param(c.value, "text") + " = ANY (r.queues), false)"
		case OpIn:
			s = "coalesce(r.queues && " + g.param(c.values, "text[]") + ", false)"
		default:
			s = "EXISTS (SELECT FROM unnest(r.queues) AS q(v) WHERE " + g.test("q.v", c) + ")"
		}
	case c.attribute == AttrMessage:
		// coalesce: a NULL (no message) fails the test instead of making
		// the whole expression unknown, so NOT stays plain negation.
		s = "coalesce(" + g.test(standardColumns[c.attribute], c) + ", false)"
	default:
		// Never NULL in the view, so the bare test is two-valued and
		// reaches the column's index (agent_states_state_idx): with it
		// "state eq X" finds no one in well under a millisecond instead of
		// evaluating the view for every candidate of the other clauses.
		s = g.test(standardColumns[c.attribute], c)
	}
	if c.negate {
		return "(NOT " + s + ")"
	}
	return "(" + s + ")"
}

// test renders the op on one text column.
func (g *generator) test(col string, c *clause) string {
	switch c.op {
	case OpEq:
		return col + " = " + g.param(c.value, "text")
	case OpIn:
		return col + " = ANY (" + g.param(c.values, "text[]") + ")"
	case OpPrefix:
		return col + " LIKE " + g.param(likeEscape(c.value)+"%", "text")
	default: // OpContains
		return col + " LIKE " + g.param("%"+likeEscape(c.value)+"%", "text")
	}
}

// likeEscape quotes LIKE's wildcards and its escape character (backslash,
// the default), so "50%_off" matches only itself.
func likeEscape(s string) string {
	if !strings.ContainsAny(s, `\%_`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r == '\\' || r == '%' || r == '_' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func quoteList(names []string, max int) string {
	q := make([]string, 0, len(names))
	for i, n := range names {
		if i == max {
			q = append(q, "…")
			break
		}
		q = append(q, strconv.Quote(n))
	}
	return strings.Join(q, ", ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
