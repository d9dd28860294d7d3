package presence_test

import (
	"testing"

	presence "github.com/presenced/presenced"
)

func TestTokenScopes(t *testing.T) {
	a1 := "a1"
	topic := func(s string) presence.Topic {
		tp, err := presence.ParseTopic(s, true)
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	admin := &presence.Token{Scopes: []string{presence.ScopeAdmin}}
	reader := &presence.Token{Scopes: []string{presence.ScopeRead}}
	own := &presence.Token{Scopes: []string{presence.ScopeRead, presence.ScopeWrite}, AgentID: &a1}
	wide := &presence.Token{Scopes: []string{presence.ScopeReadAll, presence.ScopeWrite}, AgentID: &a1}
	writer := &presence.Token{Scopes: []string{presence.ScopeWrite}}

	for _, c := range []struct {
		tok          *presence.Token
		scope, agent string
		want         bool
	}{
		{admin, presence.ScopeWrite, "a2", true},
		{admin, presence.ScopeRead, "a2", true},
		{reader, presence.ScopeRead, "a2", true},
		{reader, presence.ScopeWrite, "a2", false},
		{own, presence.ScopeWrite, "a1", true},
		{own, presence.ScopeWrite, "a2", false},
		{own, presence.ScopeRead, "a2", false},
		{wide, presence.ScopeRead, "a2", true},
		{wide, presence.ScopeWrite, "a2", false},
		{writer, presence.ScopeRead, "a1", false},
		{nil, presence.ScopeRead, "a1", false},
	} {
		if got := c.tok.MayAct(c.scope, c.agent); got != c.want {
			t.Errorf("%v MayAct(%s, %s) = %v", c.tok, c.scope, c.agent, got)
		}
	}
	for s, want := range map[string]bool{
		"agents.a1.presence": true, "agents.a1.*": true, "statuses": true,
		"agents.a2.presence": false, "agents.*.presence": false, "agents.*.*": false,
		"queues.q1": false, "queues.*": false, "admin": false,
	} {
		if got := own.MayReadTopic(topic(s)); got != want {
			t.Errorf("bound token MayReadTopic(%s) = %v", s, got)
		}
		if !wide.MayReadTopic(topic(s)) || !reader.MayReadTopic(topic(s)) || writer.MayReadTopic(topic(s)) {
			t.Errorf("topic %s: wide, reader or writer wrong", s)
		}
	}
}
