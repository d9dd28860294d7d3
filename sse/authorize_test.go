package sse

import (
	"net/http"
	"strings"
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

	// A topic the token may not read, added while the stream runs, ends
	// the stream with a forbidden event naming it: it neither goes on
	// silently without it nor delivers it.
	mine, _ := f.channels.CreateChannel(t.Context(), []string{"agents.a1.presence"})
	ts := f.stream("/v1/channels/"+mine.ID+"/events?who=a1", "")
	e1 := f.emit("agents.a1.presence", "presence", `{"n":1}`)
	ts.expectEvents(e1)
	if _, err := f.channels.SetChannelTopics(t.Context(), mine.ID, []string{"agents.a1.*", "agents.a2.presence", "agents.*.state"}); err != nil {
		t.Fatal(err)
	}
	fr := ts.next()
	if fr.Event != KindForbidden || !strings.Contains(fr.Data, `"topics":["agents.*.state","agents.a2.presence"]`) ||
		!strings.Contains(fr.Data, `"channel":"`+mine.ID+`"`) {
		t.Fatalf("got %+v, want a forbidden event naming the refused topics", fr)
	}
	f.emit("agents.a1.state", "state", `{"n":2}`)
	ts.expectEnd()
	waitFor(t, "the stream to go", func() bool { return f.b.Subscribers() == 0 })

	// Its reconnect is refused, from the id of the forbidden event on.
	resp = f.get("/v1/channels/"+mine.ID+"/events?who=a1", http.Header{"Last-Event-Id": {fr.ID}})
	if code, _ := apiError(t, resp); resp.StatusCode != 403 || code != presence.EFORBIDDEN {
		t.Fatalf("reconnect: %d %q", resp.StatusCode, code)
	}

	// Topics the token may read change the stream's topics, and it goes on.
	ok, _ := f.channels.CreateChannel(t.Context(), []string{"agents.a1.presence"})
	ts2 := f.stream("/v1/channels/"+ok.ID+"/events?who=a1", "")
	if _, err := f.channels.SetChannelTopics(t.Context(), ok.ID, []string{"agents.a1.*", "statuses"}); err != nil {
		t.Fatal(err)
	}
	e3 := f.emit("agents.a1.state", "state", `{"n":3}`)
	ts2.expectEvents(e3)
	ts2.expectQuiet(50 * time.Millisecond)
}

// A channel widened past its stream's token while the stream is still
// catching up (not live yet) ends it with the forbidden event too, after
// the events queued before it: the writer takes them in that order. It
// used to end such a stream with no event (TestServeChannel_Authorize…
// failed now and then under load).
func TestEndForbiddenBeforeLiveComesAfterThePending(t *testing.T) {
	f := newFixture(t, Config{Authorize: onlyAgent})
	mine := presence.Topic{Root: "agents", ID: "a1", Kind: "presence"}
	s := &subscriber{out: make(chan *wire, 1), allow: func(tp presence.Topic) bool { return tp == mine }}
	queued := presence.Event{Position: presence.Position{Xid: 5, ID: 1}, Topic: mine.String(), Kind: "presence", Body: []byte(`{}`)}
	s.pending = []presence.Event{queued}
	topics, err := presence.ParseTopics([]string{"agents.a1.presence", "agents.a2.presence"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	change := &channelChange{id: "c1", ev: presence.Event{Position: presence.Position{Xid: 6, ID: 2}, Topic: "channels.c1"}, topics: topics}
	f.b.mu.Lock()
	queuedIt := f.b.endForbidden(s, change)
	f.b.mu.Unlock()
	if !queuedIt {
		t.Fatal("the forbidden event was not queued for a stream catching up")
	}
	evs, last := s.takePending()
	if !last || len(evs) != 2 || evs[0].Position != queued.Position || evs[1].Kind != KindForbidden ||
		!strings.Contains(string(evs[1].Body), `"topics":["agents.a2.presence"]`) {
		t.Fatalf("pending %+v, last %v; want the queued event, then the forbidden one, last", evs, last)
	}
}
