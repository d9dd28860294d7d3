// Package clause is the language of the clause query
// (presence.PresenceQuery): it parses the query's boolean expression, checks
// its clauses and compiles both into a parameterized SQL condition over the
// presence_records view, which package db wraps in its statement. It lives
// under db because it writes SQL; it imports only the domain package.
// (Not to be confused with queries/, the sqlc statements of package db.)
//
// Safety rests on two rules that the fuzz tests check:
//
//   - No value, category or attribute name ever becomes SQL text. The SQL is
//     assembled only from fixed fragments of this package; everything the
//     client wrote travels as a $N parameter. (Clause names do not reach
//     the SQL either: they only select fragments.)
//   - Parsing is bounded: MaxExpressionLength characters, MaxDepth levels of
//     parentheses and NOT, MaxTerms clause references, MaxClauses clauses.
//     The parser recurses only at "(" and NOT and stops at MaxDepth, so no
//     input can exhaust the stack; AND and OR chains are read in loops.
//
// Semantics, which the property test in package db checks against an
// in-memory evaluation:
//
//   - Standard attributes (no category) test the presence record: state,
//     status (the status id), system_presence, routing_status, message and
//     queue (true when any of the agent's queues passes).
//   - A custom attribute clause holds when the agent has that attribute
//     (category and name) and its value passes the test; an agent without
//     the attribute fails it, so with negate it passes.
//   - Ops: eq (equal), contains (substring), prefix (starts with), in (equal
//     to one of a list). All compare exactly, case and accents included.
//   - A missing value (an agent without a presence message) passes no test.
//     Every clause is true or false, never SQL NULL, so NOT is plain
//     negation.
//   - NOT binds tighter than AND, AND tighter than OR; keywords are
//     case-insensitive.
package clause

// Limits of a query. Each one exceeded is a clean EINVALID (422) naming it.
const (
	MaxExpressionLength = 2000 // characters
	MaxDepth            = 32   // nested parentheses and NOTs
	MaxTerms            = 64   // clause references in the expression
	MaxClauses          = 32   // clauses defined
	MaxClauseNameLength = 64
	MaxInValues         = 100 // values in one "in" list
	MaxValueLength      = 500 // characters of one value (the longest presence message)
)

// Reasons (presence.Error.Reason) of the errors this package returns; the
// class is always presence.EINVALID.
const (
	ReasonInvalidExpression = "invalid_expression"
	ReasonTooLong           = "expression_too_long"
	ReasonTooDeep           = "expression_too_deep"
	ReasonTooManyTerms      = "too_many_terms"
	ReasonUnknownClause     = "unknown_clause"
	ReasonUnusedClause      = "unused_clause"
	ReasonInvalidClause     = "invalid_clause"
	ReasonTooManyClauses    = "too_many_clauses"
)

// Ops of a clause.
const (
	OpEq       = "eq"
	OpContains = "contains"
	OpPrefix   = "prefix"
	OpIn       = "in"
)

// Standard attributes: the presence record fields a clause without a
// category may test.
const (
	AttrState          = "state"
	AttrStatus         = "status"
	AttrSystemPresence = "system_presence"
	AttrRoutingStatus  = "routing_status"
	AttrMessage        = "message"
	AttrQueue          = "queue"
)

// StandardAttributes lists the standard attributes in documentation order.
var StandardAttributes = []string{AttrState, AttrStatus, AttrSystemPresence, AttrRoutingStatus, AttrMessage, AttrQueue}
