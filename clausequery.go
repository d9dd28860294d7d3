package presence

import "context"

// PresenceQuery is a clause query (after Pega's queryPresence): named
// clauses, each a test on one attribute of an agent, joined by a boolean
// expression over their names, e.g.
//
//	{"clauses": {"A": {"attribute": "state", "op": "eq", "value": "ACTIVE"},
//	             "B": {"category": "CustomerService", "attribute": "languages", "op": "eq", "value": "French"}},
//	 "expression": "A AND NOT B"}
//
// Package db/clause parses and compiles it; see its documentation for the
// grammar, the operators and the limits.
type PresenceQuery struct {
	Clauses    map[string]Clause `json:"clauses"`
	Expression string            `json:"expression"`

	Cursor string `json:"-"` // from ?cursor=
	Limit  int    `json:"-"` // from ?limit=
}

// Clause tests one attribute. Without Category, Attribute names a standard
// attribute (state, status, system_presence, routing_status, message,
// queue); with it, a custom attribute. Value is a string, or a list of
// strings for op "in". Negate inverts the test.
type Clause struct {
	Category  string `json:"category,omitempty"`
	Attribute string `json:"attribute"`
	Op        string `json:"op"`
	Value     any    `json:"value"`
	Negate    bool   `json:"negate,omitempty"`
}

// QueryService answers clause queries.
type QueryService interface {
	// QueryPresence returns the presence records of the live agents that
	// satisfy q, in agent id order, one page at a time, and the cursor of
	// the next page ("" on the last). EINVALID for a bad query, with a
	// Reason such as "invalid_expression" or "unknown_clause" and a message
	// giving the position in the expression; EBADREQUEST for a bad cursor.
	QueryPresence(ctx context.Context, q PresenceQuery) ([]*Record, string, error)
}
