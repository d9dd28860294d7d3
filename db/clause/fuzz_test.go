package clause

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	presence "github.com/presenced/presenced"
)

var parseReasons = []string{ReasonInvalidExpression, ReasonTooLong, ReasonTooDeep, ReasonTooManyTerms}

// FuzzParse: any input either parses, and its canonical form parses back
// to itself with the same truth table, or is rejected with EINVALID naming
// a position inside the input (or just past its end). Never a panic, never
// a stack overflow.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"A AND B AND C", "a or not (b and c)", "((A))", "NOT NOT A", "A AND", "(A", "A)", "",
		strings.Repeat("(", 40) + "A" + strings.Repeat(")", 40), "A AND é", "x_1 OR Y2 AND NOT z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		x, err := Parse(s)
		if err != nil {
			reason, pos := errorPosition(t, err)
			if !slices.Contains(parseReasons, reason) {
				t.Fatalf("Parse(%q): reason %q", s, reason)
			}
			if reason != ReasonTooLong && utf8.ValidString(s) && (pos < 1 || pos > utf8.RuneCountInString(s)+1) {
				t.Fatalf("Parse(%q): position %d outside 1..%d: %v", s, pos, utf8.RuneCountInString(s)+1, err)
			}
			return
		}
		canon := x.String()
		y, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, s, err)
		}
		if y.String() != canon {
			t.Fatalf("canonical form is not stable: %q → %q", canon, y.String())
		}
		if !sameTruthTable(x, y) {
			t.Fatalf("%q and its canonical form %q differ", s, canon)
		}
	})
}

// FuzzCompile: for any expression and any clause values, categories and
// attribute names, Compile either rejects the query with EINVALID or
// returns SQL whose placeholders match its arguments exactly and whose text
// does not depend on any of those strings — the proof that nothing the
// client wrote is spliced into SQL.
func FuzzCompile(f *testing.F) {
	f.Add("A AND B AND C", "ACTIVE", "CustomerService", "languages", "French", "phone/status", "AWAY", uint8(0))
	f.Add("A OR NOT (B AND C)", "x'; DROP TABLE agents; --", "$1", "%", "_", `\`, "é", uint8(0xff))
	f.Add("NOT NOT C OR B", "", "c", "n", "", "n", "", uint8(0x5a))
	f.Fuzz(func(t *testing.T, expr, v1, cat, name, v2, name2, v3 string, bits uint8) {
		ops := []string{OpEq, OpContains, OpPrefix, OpIn}
		std := []string{AttrState, AttrQueue}
		clauses := func(v1, cat, name, v2, name2, v3 string) map[string]presence.Clause {
			value := func(op, v string) any {
				if op == OpIn {
					return []string{v, v + "x"}
				}
				return v
			}
			opA, opB, opC := ops[bits&3], ops[bits>>2&3], ops[bits>>4&3]
			return map[string]presence.Clause{
				"A": {Attribute: std[bits>>6&1], Op: opA, Value: value(opA, v1)},
				"B": {Category: cat, Attribute: name, Op: opB, Value: value(opB, v2), Negate: bits&0x80 != 0},
				"C": {Category: cat, Attribute: name2, Op: opC, Value: value(opC, v3)},
			}
		}
		p, err := Compile(presence.PresenceQuery{Clauses: clauses(v1, cat, name, v2, name2, v3), Expression: expr})
		if err != nil {
			if presence.ErrorCode(err) != presence.EINVALID || presence.ErrorReason(err) == presence.EINVALID {
				t.Fatalf("error without a reason or of the wrong class: %v", err)
			}
			return
		}
		checkPlaceholders(t, p.Where, len(p.Args))
		if strings.Count(p.Where, "(") != strings.Count(p.Where, ")") {
			t.Fatalf("unbalanced SQL: %s", p.Where)
		}
		// Other strings of valid shape: the SQL must not change.
		q, err := Compile(presence.PresenceQuery{Clauses: clauses("v", "c", "n", "w", "m", "long value"), Expression: expr})
		if err != nil {
			t.Fatalf("valid query became invalid with other valid strings: %v", err)
		}
		if q.Where != p.Where {
			t.Fatalf("SQL depends on values:\n%s\n%s", p.Where, q.Where)
		}
	})
}
