package clause

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	presence "github.com/presenced/presenced"
)

// eval evaluates x in memory, given the truth of each clause.
func eval(x Expr, truth func(string) bool) bool {
	switch x := x.(type) {
	case *Ref:
		return truth(x.Name)
	case *Not:
		return !eval(x.X, truth)
	case *And:
		for _, y := range x.X {
			if !eval(y, truth) {
				return false
			}
		}
		return true
	case *Or:
		for _, y := range x.X {
			if eval(y, truth) {
				return true
			}
		}
		return false
	}
	panic(fmt.Sprintf("unknown node %T", x))
}

// names returns the distinct clause names of x in order of appearance.
func names(x Expr) []string {
	seen := map[string]bool{}
	var out []string
	walk(x, func(r *Ref) {
		if !seen[r.Name] {
			seen[r.Name] = true
			out = append(out, r.Name)
		}
	})
	return out
}

// sameTruthTable reports whether x and y agree on every assignment of
// their first six clause names.
func sameTruthTable(x, y Expr) bool {
	ns := names(x)
	if len(ns) > 6 {
		ns = ns[:6]
	}
	for bits := 0; bits < 1<<len(ns); bits++ {
		truth := func(n string) bool {
			for i, m := range ns {
				if m == n {
					return bits&(1<<i) != 0
				}
			}
			return len(n)%2 == 0 // names past the sixth: fixed
		}
		if eval(x, truth) != eval(y, truth) {
			return false
		}
	}
	return true
}

func TestParseCanonicalForm(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"A AND B AND C":                "A AND B AND C",
		"a and b or not c":             "a AND b OR NOT c",
		"A OR B AND C":                 "A OR B AND C",
		"(A OR B) AND C":               "(A OR B) AND C",
		"((A))":                        "A",
		"A AND (B AND C)":              "A AND B AND C",
		"NOT (A AND B)":                "NOT (A AND B)",
		"NOT NOT A":                    "NOT NOT A",
		"not(A)":                       "NOT A",
		"\tA\nAND\r\n  B_2 ":           "A AND B_2",
		"(A OR B) AND (C OR NOT D)":    "(A OR B) AND (C OR NOT D)",
		"Andrew AND Oregon OR Nothing": "Andrew AND Oregon OR Nothing",
		"A AND NOT (B OR C) OR D":      "A AND NOT (B OR C) OR D",
	}
	for in, want := range cases {
		x, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if got := x.String(); got != want {
			t.Errorf("Parse(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParsePrecedence(t *testing.T) {
	t.Parallel()
	// NOT over AND over OR: "A OR B AND NOT C" is A OR (B AND (NOT C)).
	x, err := Parse("A OR B AND NOT C")
	if err != nil {
		t.Fatal(err)
	}
	for bits := 0; bits < 8; bits++ {
		a, b, c := bits&1 != 0, bits&2 != 0, bits&4 != 0
		truth := map[string]bool{"A": a, "B": b, "C": c}
		if got, want := eval(x, func(n string) bool { return truth[n] }), a || (b && !c); got != want {
			t.Fatalf("A=%v B=%v C=%v: %v, want %v", a, b, c, got, want)
		}
	}
}

var positionRE = regexp.MustCompile(`\(at position (\d+)\)\.$`)

// errorPosition returns the reason of a parse error and the position its
// message names (0 if none).
func errorPosition(t *testing.T, err error) (string, int) {
	t.Helper()
	if presence.ErrorCode(err) != presence.EINVALID {
		t.Fatalf("error %v is not EINVALID", err)
	}
	m := positionRE.FindStringSubmatch(presence.ErrorMessage(err))
	if m == nil {
		return presence.ErrorReason(err), 0
	}
	n, _ := strconv.Atoi(m[1])
	return presence.ErrorReason(err), n
}

func TestParseErrorsNameTheirPosition(t *testing.T) {
	t.Parallel()
	deep := func(n int) string { return strings.Repeat("(", n) + "A" + strings.Repeat(")", n) }
	cases := []struct {
		in     string
		reason string
		pos    int
	}{
		{"", ReasonInvalidExpression, 1},
		{"   ", ReasonInvalidExpression, 4},
		{"A AND", ReasonInvalidExpression, 6},
		{"A B", ReasonInvalidExpression, 3},
		{"(A", ReasonInvalidExpression, 3},
		{"A)", ReasonInvalidExpression, 2},
		{"A & B", ReasonInvalidExpression, 3},
		{"AND", ReasonInvalidExpression, 1},
		{"A AND OR B", ReasonInvalidExpression, 7},
		{"()", ReasonInvalidExpression, 2},
		{"A AND é", ReasonInvalidExpression, 7},
		{"é AND A", ReasonInvalidExpression, 1},
		{"ü OR ü", ReasonInvalidExpression, 1},
		{"A\u00a0AND B", ReasonInvalidExpression, 2},
		{"NOT", ReasonInvalidExpression, 4},
		{"A AND NOT", ReasonInvalidExpression, 10},
		{"(A AND B))", ReasonInvalidExpression, 10},
		{strings.Repeat("x", 65), ReasonInvalidExpression, 1},
		{deep(33), ReasonTooDeep, 33},
		{strings.Repeat("NOT ", 33) + "A", ReasonTooDeep, 129},
		{"(" + strings.Repeat("NOT ", 32) + "A)", ReasonTooDeep, 126},
		{strings.Repeat("A AND ", 64) + "A", ReasonTooManyTerms, 385},
		{strings.Repeat(" ", MaxExpressionLength) + "A", ReasonTooLong, MaxExpressionLength + 1},
	}
	for _, c := range cases {
		_, err := Parse(c.in)
		if err == nil {
			t.Errorf("Parse(%.40q) accepted", c.in)
			continue
		}
		reason, pos := errorPosition(t, err)
		if reason != c.reason || pos != c.pos {
			t.Errorf("Parse(%.40q) = %s at %d (%v), want %s at %d", c.in, reason, pos, err, c.reason, c.pos)
		}
	}
}

func TestParseAcceptsTheLimits(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		strings.Repeat("(", MaxDepth) + "A" + strings.Repeat(")", MaxDepth),
		strings.Repeat("NOT ", MaxDepth) + "A",
		strings.Repeat("A OR ", MaxTerms-1) + "A",
		strings.Repeat("x", MaxClauseNameLength),
	} {
		if _, err := Parse(in); err != nil {
			t.Errorf("Parse(%.40q…): %v", in, err)
		}
	}
}

// Far past the length limit the parser still answers with an error and not
// a stack overflow: it stops at MaxDepth.
func TestParseDeepInputIsRejectedWithoutRecursion(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		strings.Repeat("(", 100_000) + "A" + strings.Repeat(")", 100_000),
		strings.Repeat("NOT ", 100_000) + "A",
		strings.Repeat("(NOT ", 100_000) + "A",
	} {
		_, err := parse(in)
		if reason, _ := errorPosition(t, err); reason != ReasonTooDeep {
			t.Errorf("deep input: %v", err)
		}
		// Through the public entry point it is simply too long.
		if _, err := Parse(in); presence.ErrorReason(err) != ReasonTooLong {
			t.Errorf("Parse: %v", err)
		}
	}
	// 5,000 deep, the size the issue names.
	_, err := Parse(strings.Repeat("(", 5000) + "A" + strings.Repeat(")", 5000))
	if presence.ErrorCode(err) != presence.EINVALID {
		t.Fatalf("5,000 deep: %v", err)
	}
}

// A long AND chain is one node: it adds no depth and no recursion.
func TestParseLongChainsAreFlat(t *testing.T) {
	t.Parallel()
	x, err := parse(strings.Repeat("A AND ", 10_000) + "A")
	if presence.ErrorReason(err) != ReasonTooManyTerms {
		t.Fatalf("chain past MaxTerms: %v %v", x, err)
	}
	x, err = Parse(strings.Repeat("A AND ", MaxTerms-1) + "A")
	if err != nil {
		t.Fatal(err)
	}
	if and, ok := x.(*And); !ok || len(and.X) != MaxTerms {
		t.Fatalf("chain: %#v", x)
	}
}
