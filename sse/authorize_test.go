package sse

import (
	"net/http"
	"testing"
	"time"

	presence "github.com/presenced/presenced"
)

// onlyAgent stands in for the token check of the http package: the
// request may read agents.{who}.* and statuses, where who is a query
// parameter.
func onlyAgent(r *http.Request, t presence.Topic) error {
	who := r.URL.Query().Get("who")
	if t.Root == presence.TopicStatuses || (t.Root == presence.TopicAgents && t.ID == who) {
		return nil
	}
	return presence.Errorf(presence.EFORBIDDEN, "Topic %q is not yours.", t.String())
}

func TestServeEvents_AuthorizeRefusesBeforeTheStream(t *testing.T) {
	f := newFixture(t, Config{Authorize: onlyAgent})
	for _, q := range []string{
		"?who=a1&topic=agents.a2.presence",
		"?who=a1&topic=agents.a1.presence&topic=agents.*.presence",
		"?who=a1&topic=queues.q1",
		"?who=a1&topic=admin",
	} {
		resp := f.get("/v1/events"+q, nil)
		if code, _ := apiError(t, resp); resp.StatusCode != 403 || code != presence.EFORBIDDEN {
			t.Errorf("%s: %d %q", q, resp.StatusCode, code)
		}
	}
	if n := f.b.Subscribers(); n != 0 {
		t.Fatalf("refused streams registered: %d", n)
	}
	ts := f.stream("/v1/events?who=a1&topic=agents.a1.*&topic=statuses", "")
	f.emit("agents.a2.presence", "presence", `{"n":1}`)
	e2 := f.emit("agents.a1.presence", "presence", `{"n":2}`)
	ts.expectEvents(e2)
}

func TestServeChannel_AuthorizeChecksTheChannelsTopics(t *testing.T) {
	f := newFixture(t, Config{Authorize: onlyAgent})
	theirs, _ := f.channels.CreateChannel(t.Context(), []string{"agents.a1.presence", "agents.a2.presence"})
	resp := f.get("/v1/channels/"+theirs.ID+"/events?who=a1", nil)
	if code, _ := apiError(t, resp); resp.StatusCode != 403 || code != presence.EFORBIDDEN {
		t.Fatalf("channel with another agent's topic: %d %q", resp.StatusCode, code)
	}

	// Topics added while the stream runs that the token may not read are
	// left out; the stream goes on with the rest.
	mine, _ := f.channels.CreateChannel(t.Context(), []string{"agents.a1.presence"})
	ts := f.stream("/v1/channels/"+mine.ID+"/events?who=a1", "")
	if _, err := f.channels.SetChannelTopics(t.Context(), mine.ID, []string{"agents.a1.*", "agents.a2.presence", "agents.*.state"}); err != nil {
		t.Fatal(err)
	}
	f.emit("agents.a2.presence", "presence", `{"n":1}`)
	f.emit("agents.a3.state", "state", `{"n":2}`)
	e3 := f.emit("agents.a1.state", "state", `{"n":3}`)
	ts.expectEvents(e3)
	ts.expectQuiet(50 * time.Millisecond)
}
