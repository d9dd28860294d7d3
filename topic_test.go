package presence_test

import (
	"testing"

	presence "github.com/presenced/presenced"
)

func TestParseTopic(t *testing.T) {
	good := map[string]presence.Topic{
		"agents.a1.presence":       {Root: "agents", ID: "a1", Kind: "presence"},
		"agents.john.doe.state":    {Root: "agents", ID: "john.doe", Kind: "state"},
		"agents.*.presence":        {Root: "agents", ID: "*", Kind: "presence"},
		"agents.a@b.example.com.*": {Root: "agents", ID: "a@b.example.com", Kind: "*"},
		"queues.sales.eu":          {Root: "queues", ID: "sales.eu"},
		"queues.*":                 {Root: "queues", ID: "*"},
		"statuses":                 {Root: "statuses"},
		"admin":                    {Root: "admin"},
	}
	for s, want := range good {
		got, err := presence.ParseTopic(s, true)
		if err != nil || got != want || got.String() != s {
			t.Errorf("ParseTopic(%q) = %+v, %v; want %+v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "agents", "agents.a1", "agents.a1.mood", "agents..presence", "agent.a1.presence",
		"statuses.x", "queues.", "queues.a b", "channels.*", "x"} {
		if _, err := presence.ParseTopic(s, true); presence.ErrorCode(err) != presence.EINVALID {
			t.Errorf("ParseTopic(%q) accepted", s)
		}
	}
	if _, err := presence.ParseTopic("agents.*.presence", false); err == nil {
		t.Error("wildcard accepted in a concrete topic")
	}
}

func TestTopicMatchKeys(t *testing.T) {
	tp, _ := presence.ParseTopic("agents.john.doe.presence", false)
	keys := map[string]bool{}
	for _, k := range tp.MatchKeys() {
		keys[k.String()] = true
	}
	for _, want := range []string{"agents.john.doe.presence", "agents.*.presence", "agents.john.doe.*", "agents.*.*"} {
		if !keys[want] {
			t.Errorf("MatchKeys lacks %s: %v", want, keys)
		}
	}
	if q, _ := presence.ParseTopic("queues.sales", false); len(q.MatchKeys()) != 2 {
		t.Errorf("queue keys: %v", q.MatchKeys())
	}
}

func TestPosition(t *testing.T) {
	p := presence.Position{Xid: 812, ID: 17}
	q, err := presence.ParsePosition(p.String())
	if err != nil || q != p || p.String() != "812-17" {
		t.Fatalf("round trip: %v %v", q, err)
	}
	if !(presence.Position{Xid: 1, ID: 99}).Less(presence.Position{Xid: 2, ID: 1}) {
		t.Fatal("xid orders first")
	}
	e := presence.Position{Epoch: 3, Xid: 812, ID: 17}
	if q, err := presence.ParsePosition(e.String()); err != nil || q != e || e.String() != "3-812-17" {
		t.Fatalf("round trip with epoch: %v %v", q, err)
	}
	if !(presence.Position{Epoch: 2, Xid: 1, ID: 99}).Less(presence.Position{Epoch: 1, Xid: 2, ID: 1}) {
		t.Fatal("the epoch takes part in the order")
	}
	for _, s := range []string{"", "12", "a-1", "1-b", "1--1", "-1-1", "1-2-3-4", "x-1-1", "-1-1-1", "4294967296-1-1"} {
		if _, err := presence.ParsePosition(s); presence.ErrorCode(err) != presence.EBADREQUEST {
			t.Errorf("ParsePosition(%q) accepted", s)
		}
	}
}

// The one check of a stream's or a channel's topic list.
func TestParseTopics(t *testing.T) {
	got, err := presence.ParseTopics([]string{"agents.*.presence", "statuses", "agents.*.presence"}, 3)
	_, wild := got[presence.Topic{Root: presence.TopicAgents, ID: presence.Wildcard, Kind: "presence"}]
	_, statuses := got[presence.Topic{Root: presence.TopicStatuses}]
	if err != nil || len(got) != 2 || !wild || !statuses {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, c := range []struct {
		raw  []string
		code string
	}{
		{nil, presence.EINVALID},
		{[]string{"statuses", "admin", "queues.q1", "agents.a1.state"}, presence.ETOOLARGE},
		{[]string{"statuses", "nothing.here"}, presence.EINVALID},
		{[]string{"channels.c1"}, presence.EINVALID}, // internal
	} {
		if _, err := presence.ParseTopics(c.raw, 3); presence.ErrorCode(err) != c.code {
			t.Errorf("ParseTopics(%q) = %v; want %s", c.raw, err, c.code)
		}
	}
}
