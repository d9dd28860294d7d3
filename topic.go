package presence

import "strings"

// Topic roots and kinds. A topic names what changed:
//
//	agents.{id}.{kind}   kind: presence, state, routing, attributes, capacity
//	queues.{q}
//	statuses
//	admin
//	channels.{id}        internal: a channel's topic list changed
//
// Agent and queue ids may themselves contain dots ("john.doe"), so a topic is
// parsed by its shape, not split blindly: the first segment is the root, for
// agents the last segment is the kind and everything between is the id.
const (
	TopicAgents   = "agents"
	TopicQueues   = "queues"
	TopicStatuses = "statuses"
	TopicAdmin    = "admin"
	TopicChannels = "channels"

	// Wildcard matches one whole id or kind segment: "agents.*.presence".
	Wildcard = "*"
)

// AgentTopicKinds are the kinds of agents.{id}.{kind} topics.
var AgentTopicKinds = []string{"presence", "state", "routing", "attributes", "capacity"}

// MaxTopicLength bounds one topic string.
const MaxTopicLength = 300

// MaxTopics bounds the topic list of a channel, and by default that of a
// stream (sse.Config.MaxTopics). Genesys caps a channel at 1,000 topics; we
// take a hundred times that.
const MaxTopics = 100_000

// Topic is a parsed topic or topic pattern. ID and Kind may be Wildcard in a
// pattern; they are empty where the root has none.
type Topic struct {
	Root string
	ID   string
	Kind string
}

// ParseTopic parses a topic or, with allowWildcard, a topic pattern. It
// returns an EINVALID error that names the topic when it is malformed.
func ParseTopic(s string, allowWildcard bool) (Topic, error) {
	bad := func(why string) (Topic, error) {
		return Topic{}, Errorf(EINVALID, "Topic %q is not valid: %s.", truncate(s, 80), why)
	}
	if len(s) == 0 || len(s) > MaxTopicLength {
		return bad("it must be 1 to 300 characters")
	}
	root, rest, _ := strings.Cut(s, ".")
	okID := func(id string) bool { return ValidID(id) || (allowWildcard && id == Wildcard) }
	switch root {
	case TopicStatuses, TopicAdmin:
		if rest != "" {
			return bad("it takes no further segments")
		}
		return Topic{Root: root}, nil
	case TopicQueues, TopicChannels:
		if !okID(rest) || (root == TopicChannels && rest == Wildcard) {
			return bad("expected " + root + ".{id}")
		}
		return Topic{Root: root, ID: rest}, nil
	case TopicAgents:
		i := strings.LastIndexByte(rest, '.')
		if i < 0 {
			return bad("expected agents.{id}.{kind}")
		}
		id, kind := rest[:i], rest[i+1:]
		if !okID(id) {
			return bad("the agent id is not valid")
		}
		if !(allowWildcard && kind == Wildcard) && !isAgentKind(kind) {
			return bad("the kind must be one of " + strings.Join(AgentTopicKinds, ", "))
		}
		return Topic{Root: root, ID: id, Kind: kind}, nil
	default:
		return bad("it must start with agents, queues, statuses or admin")
	}
}

// ParseTopics parses the topic list of a stream or a channel: 1 to max
// topic patterns (ETOOLARGE above), none of them internal (the events of
// channels.{id} never reach clients). It returns them as a set, the form a
// stream subscribes with.
func ParseTopics(raw []string, max int) (map[Topic]struct{}, error) {
	if len(raw) == 0 {
		return nil, Errorf(EINVALID, "Name at least one topic.")
	}
	if len(raw) > max {
		return nil, Errorf(ETOOLARGE, "A topic list holds at most %d topics; got %d.", max, len(raw))
	}
	topics := make(map[Topic]struct{}, len(raw))
	for _, v := range raw {
		t, err := ParseTopic(v, true)
		if err != nil {
			return nil, err
		}
		if t.Root == TopicChannels {
			return nil, Errorf(EINVALID, "Topic %q is internal; open the channel's own stream instead.", truncate(v, 80))
		}
		topics[t] = struct{}{}
	}
	return topics, nil
}

func isAgentKind(k string) bool {
	for _, v := range AgentTopicKinds {
		if v == k {
			return true
		}
	}
	return false
}

// String renders t in its textual form.
func (t Topic) String() string {
	switch {
	case t.ID == "" && t.Kind == "":
		return t.Root
	case t.Kind == "":
		return t.Root + "." + t.ID
	default:
		return t.Root + "." + t.ID + "." + t.Kind
	}
}

// MatchKeys returns the patterns that match the concrete topic t, itself
// first. A subscriber index keyed by pattern finds every subscriber of an
// event with at most four map look-ups, whatever the number of topics.
// Channel topics match only exactly.
func (t Topic) MatchKeys() []Topic {
	switch {
	case t.Root == TopicChannels || t.ID == "":
		return []Topic{t}
	case t.Kind == "":
		return []Topic{t, {Root: t.Root, ID: Wildcard}}
	default:
		return []Topic{t,
			{Root: t.Root, ID: Wildcard, Kind: t.Kind},
			{Root: t.Root, ID: t.ID, Kind: Wildcard},
			{Root: t.Root, ID: Wildcard, Kind: Wildcard}}
	}
}
