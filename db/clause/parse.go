package clause

import (
	"fmt"
	"strings"
	"unicode/utf8"

	presence "github.com/presenced/presenced"
)

// Expr is a node of a parsed expression: *Ref, *Not, *And or *Or.
type Expr interface {
	// String renders the node in canonical form: keywords upper case, one
	// space around them, parentheses only where precedence needs them.
	// Parsing the canonical form gives back the same canonical form.
	String() string
	exprNode()
}

// Ref is a reference to a clause by name.
type Ref struct {
	Name string
	Pos  int // 1-based character position in the expression
}

// Not negates X.
type Not struct {
	X   Expr
	Pos int
}

// And holds when every X holds; Or when any does. A chain "A AND B AND C"
// is one node with three operands, so long chains add no depth.
type (
	And struct{ X []Expr }
	Or  struct{ X []Expr }
)

func (*Ref) exprNode() {}
func (*Not) exprNode() {}
func (*And) exprNode() {}
func (*Or) exprNode()  {}

func (r *Ref) String() string { return r.Name }

func (n *Not) String() string {
	if _, ok := n.X.(*Ref); ok {
		return "NOT " + n.X.String()
	}
	if _, ok := n.X.(*Not); ok {
		return "NOT " + n.X.String()
	}
	return "NOT (" + n.X.String() + ")"
}

func (a *And) String() string {
	parts := make([]string, len(a.X))
	for i, x := range a.X {
		if _, ok := x.(*Or); ok {
			parts[i] = "(" + x.String() + ")"
		} else {
			parts[i] = x.String()
		}
	}
	return strings.Join(parts, " AND ")
}

func (o *Or) String() string {
	parts := make([]string, len(o.X))
	for i, x := range o.X {
		parts[i] = x.String()
	}
	return strings.Join(parts, " OR ")
}

// Parse parses an expression over clause names:
//
//	expr    = and { "OR" and }
//	and     = unary { "AND" unary }
//	unary   = { "NOT" } primary
//	primary = name | "(" expr ")"
//	name    = 1 to 64 of A-Z a-z 0-9 _  (not a keyword)
//
// Keywords are case-insensitive; NOT binds tighter than AND, AND tighter
// than OR. Parse enforces MaxExpressionLength, MaxDepth and MaxTerms. Every
// error is EINVALID with Reason "invalid_expression" (or
// "expression_too_long", "expression_too_deep", "too_many_terms") and a
// message that gives the 1-based character position.
func Parse(s string) (Expr, error) {
	if !utf8.ValidString(s) {
		return nil, presence.ReasonErrorf(presence.EINVALID, ReasonInvalidExpression, "expression is not valid UTF-8.")
	}
	if n := utf8.RuneCountInString(s); n > MaxExpressionLength {
		return nil, presence.ReasonErrorf(presence.EINVALID, ReasonTooLong,
			"expression is %d characters long; at most %d are allowed (at position %d).", n, MaxExpressionLength, MaxExpressionLength+1)
	}
	return parse(s)
}

// parse is Parse without the length limit. It still cannot exhaust the
// stack: recursion happens only at "(" and NOT, and stops at MaxDepth.
func parse(s string) (Expr, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if p.peek().kind == tEOF {
		return nil, p.errorf(p.peek(), "expression is empty; name at least one clause, e.g. \"A AND B\"")
	}
	x, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		switch t.kind {
		case tRParen:
			return nil, p.errorf(t, "unmatched \")\"")
		case tIdent, tLParen, tNot:
			return nil, p.errorf(t, "expected AND, OR or the end, found %s", t)
		}
		return nil, p.errorf(t, "unexpected %s", t)
	}
	return x, nil
}

type tokenKind int

const (
	tEOF tokenKind = iota
	tIdent
	tAnd
	tOr
	tNot
	tLParen
	tRParen
)

type token struct {
	kind tokenKind
	text string
	pos  int // 1-based character position
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "the end of the expression"
	case tIdent:
		return fmt.Sprintf("clause %q", t.text)
	default:
		return fmt.Sprintf("%q", t.text)
	}
}

func isNameByte(c byte) bool {
	return c == '_' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// lex splits s into tokens. Positions count characters, not bytes, so a
// client can point at the offending character whatever the script.
func lex(s string) ([]token, error) {
	var toks []token
	pos := 0 // characters before s[i]
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i, pos = i+1, pos+1
		case c == '(' || c == ')':
			k := tLParen
			if c == ')' {
				k = tRParen
			}
			toks = append(toks, token{kind: k, text: string(c), pos: pos + 1})
			i, pos = i+1, pos+1
		case isNameByte(c):
			j := i
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
			word := s[i:j]
			t := token{kind: tIdent, text: word, pos: pos + 1}
			switch strings.ToUpper(word) {
			case "AND":
				t.kind = tAnd
			case "OR":
				t.kind = tOr
			case "NOT":
				t.kind = tNot
			}
			if t.kind == tIdent && len(word) > MaxClauseNameLength {
				return nil, invalidAt(t.pos, "clause name %q… is longer than %d characters", word[:16], MaxClauseNameLength)
			}
			toks = append(toks, t)
			i, pos = j, pos+(j-i) // names are ASCII: one byte, one character
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return nil, invalidAt(pos+1, "unexpected character %q; use clause names, AND, OR, NOT and parentheses", r)
		}
	}
	return append(toks, token{kind: tEOF, pos: pos + 1}), nil
}

type parser struct {
	toks  []token
	i     int
	terms int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errorf(t token, format string, args ...any) error {
	return invalidAt(t.pos, format, args...)
}

func (p *parser) or(depth int) (Expr, error) {
	x, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tOr {
		return x, nil
	}
	xs := []Expr{x}
	for p.peek().kind == tOr {
		p.next()
		y, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	return &Or{X: xs}, nil
}

func (p *parser) and(depth int) (Expr, error) {
	x, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tAnd {
		return x, nil
	}
	xs := []Expr{x}
	for p.peek().kind == tAnd {
		p.next()
		y, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	return &And{X: xs}, nil
}

// unary reads a run of NOTs in a loop (each one a level of depth) and then
// one primary; "NOT NOT … A" cannot recurse.
func (p *parser) unary(depth int) (Expr, error) {
	var nots []token
	for p.peek().kind == tNot {
		t := p.next()
		if depth++; depth > MaxDepth {
			return nil, tooDeep(t)
		}
		nots = append(nots, t)
	}
	x, err := p.primary(depth)
	if err != nil {
		return nil, err
	}
	for i := len(nots) - 1; i >= 0; i-- {
		x = &Not{X: x, Pos: nots[i].pos}
	}
	return x, nil
}

func (p *parser) primary(depth int) (Expr, error) {
	t := p.next()
	switch t.kind {
	case tIdent:
		if p.terms++; p.terms > MaxTerms {
			return nil, presence.ReasonErrorf(presence.EINVALID, ReasonTooManyTerms,
				"expression names clauses more than %d times (at position %d).", MaxTerms, t.pos)
		}
		return &Ref{Name: t.text, Pos: t.pos}, nil
	case tLParen:
		if depth+1 > MaxDepth {
			return nil, tooDeep(t)
		}
		x, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, p.errorf(c, "expected \")\" to close the \"(\" at position %d, found %s", t.pos, c)
		}
		return x, nil
	case tEOF:
		return nil, p.errorf(t, "expression ends early; expected a clause name or \"(\"")
	default:
		return nil, p.errorf(t, "expected a clause name or \"(\", found %s", t)
	}
}

func tooDeep(t token) error {
	return presence.ReasonErrorf(presence.EINVALID, ReasonTooDeep,
		"expression nests deeper than %d levels of parentheses and NOT (at position %d).", MaxDepth, t.pos)
}

func invalidAt(pos int, format string, args ...any) error {
	return presence.ReasonErrorf(presence.EINVALID, ReasonInvalidExpression,
		"expression: %s (at position %d).", fmt.Sprintf(format, args...), pos)
}
