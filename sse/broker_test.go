package sse

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	presence "github.com/presenced/presenced"
)

func TestServeEvents_WireFormat(t *testing.T) {
	f := newFixture(t, Config{})
	ts := f.stream("/v1/events?topic=agents.a1.presence", "")
	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
	} {
		if got := ts.resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	ev := f.emit("agents.a1.presence", "presence", `{"agent_id": "a1",
		"status_id": "available"}`)
	fr := ts.next()
	if fr.ID != ev.Position.String() || fr.ID != "5000000003-7" {
		t.Errorf("id = %q, want %q", fr.ID, ev.Position)
	}
	if fr.Event != "presence" {
		t.Errorf("event = %q", fr.Event)
	}
	if fr.Data != string(ev.Data()) || strings.Contains(fr.Data, "\n") {
		t.Errorf("data = %q, want %q on one line", fr.Data, ev.Data())
	}
	var env presence.Envelope
	if err := json.Unmarshal([]byte(fr.Data), &env); err != nil || env.Topic != ev.Topic || env.Version != 1 || !env.At.Equal(ev.At) {
		t.Errorf("envelope = %+v, %v", env, err)
	}
	if got := f.b.Position(); got != ev.Position {
		t.Errorf("Position() = %v, want %v", got, ev.Position)
	}
}

func TestServeEvents_Errors(t *testing.T) {
	f := newFixture(t, Config{MaxTopics: 3})
	for _, tc := range []struct {
		name, query, lastID string
		status              int
		code                string
	}{
		{"NoTopic", "", "", 422, presence.EINVALID},
		{"EmptyTopic", "?topic=", "", 422, presence.EINVALID},
		{"BadTopic", "?topic=agents.a1", "", 422, presence.EINVALID},
		{"BadKind", "?topic=agents.a1.mood", "", 422, presence.EINVALID},
		{"BadOneOfMany", "?topic=statuses&topic=nope", "", 422, presence.EINVALID},
		{"InternalTopic", "?topic=channels.c1", "", 422, presence.EINVALID},
		{"TooMany", "?topic=statuses,admin,queues.q1&topic=queues.q2", "", 413, presence.ETOOLARGE},
		{"BadLastEventIDHeader", "?topic=statuses", "12", 400, presence.EBADREQUEST},
		{"BadLastEventIDParam", "?topic=statuses&last_event_id=x-1", "", 400, presence.EBADREQUEST},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.lastID != "" {
				h.Set("Last-Event-ID", tc.lastID)
			}
			resp := f.get("/v1/events"+tc.query, h)
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			if code, msg := apiError(t, resp); code != tc.code || msg == "" {
				t.Errorf("error = %q %q, want code %q", code, msg, tc.code)
			}
		})
	}
	if n := f.b.Subscribers(); n != 0 {
		t.Errorf("Subscribers() = %d after refused streams", n)
	}
}

func TestServeChannel_Errors(t *testing.T) {
	t.Run("UnknownChannel", func(t *testing.T) {
		f := newFixture(t, Config{})
		resp := f.get("/v1/channels/nope/events", nil)
		if code, _ := apiError(t, resp); resp.StatusCode != 404 || code != presence.ENOTFOUND {
			t.Errorf("got %d %q", resp.StatusCode, code)
		}
	})
	t.Run("NoChannelService", func(t *testing.T) {
		f := newFixture(t, Config{})
		f.b.cfg.Channels = nil
		resp := f.get("/v1/channels/c1/events", nil)
		if code, _ := apiError(t, resp); resp.StatusCode != 404 || code != presence.ENOTFOUND {
			t.Errorf("got %d %q", resp.StatusCode, code)
		}
	})
	t.Run("TooManyTopics", func(t *testing.T) {
		f := newFixture(t, Config{MaxTopics: 1})
		ch, _ := f.channels.CreateChannel(t.Context(), []string{"statuses", "admin"})
		resp := f.get("/v1/channels/"+ch.ID+"/events", nil)
		if code, _ := apiError(t, resp); resp.StatusCode != 413 || code != presence.ETOOLARGE {
			t.Errorf("got %d %q", resp.StatusCode, code)
		}
	})
}

func TestServeEvents_NotOpen(t *testing.T) {
	f := newFixture(t, Config{})
	f.b.Close()
	resp := f.get("/v1/events?topic=statuses", nil)
	if code, _ := apiError(t, resp); resp.StatusCode != 503 || code != presence.EUNAVAILABLE {
		t.Errorf("got %d %q", resp.StatusCode, code)
	}
}

func TestServeEvents_Routing(t *testing.T) {
	f := newFixture(t, Config{})
	open := func(topics ...string) *testStream {
		q := url.Values{"topic": topics}
		return f.stream("/v1/events?"+q.Encode(), "")
	}
	presenceOfAll := open("agents.*.presence")
	john := open("agents.john.doe.*")
	overlap := open("agents.john.doe.presence", "agents.*.presence", "agents.*.*")
	queues := open("queues.*")
	statuses := open("statuses")
	commaList := open("admin,queues.q.1")

	e1 := f.emit("agents.john.doe.presence", "presence", `{"n":1}`) // dotted agent id
	e2 := f.emit("agents.jane.state", "state", `{"n":2}`)
	e3 := f.emit("queues.q.1", "queue", `{"n":3}`)
	e4 := f.emit("statuses", "status", `{"n":4}`)
	e5 := f.emit("admin", "deleted", `{"n":5}`)
	e6 := f.emit("agents.jane.presence", "presence", `{"n":6}`)
	e7 := f.emit("agents.john.doe.routing", "routing", `{"n":7}`)

	presenceOfAll.expectEvents(e1, e6)
	john.expectEvents(e1, e7)
	overlap.expectEvents(e1, e2, e6, e7) // once each, though e1 matches all three
	queues.expectEvents(e3)
	statuses.expectEvents(e4)
	commaList.expectEvents(e3, e5)
	for _, ts := range []*testStream{presenceOfAll, john, overlap, queues, statuses, commaList} {
		ts.expectQuiet(50 * time.Millisecond)
	}
}

func TestServeEvents_Resume(t *testing.T) {
	f := newFixture(t, Config{})
	f.b.pageSize = 3 // several pages
	var mine []presence.Event
	for i := range 20 {
		topic := "agents.a1.presence"
		if i%3 == 0 {
			topic = "agents.a2.presence"
		}
		ev := f.emit(topic, "presence", `{}`)
		if topic == "agents.a1.presence" {
			mine = append(mine, ev)
		}
	}
	t.Run("Header", func(t *testing.T) {
		ts := f.stream("/v1/events?topic=agents.a1.presence", mine[4].Position.String())
		ts.expectEvents(mine[5:]...)
		live := f.emit("agents.a1.presence", "presence", `{"live":true}`)
		ts.expectEvents(live)
		mine = append(mine, live)
		ts.close()
	})
	t.Run("Param", func(t *testing.T) {
		ts := f.stream("/v1/events?topic=agents.a1.presence&last_event_id="+mine[0].Position.String(), "")
		ts.expectEvents(mine[1:]...)
		ts.expectQuiet(50 * time.Millisecond)
		ts.close()
	})
	t.Run("HeaderWinsOverParam", func(t *testing.T) {
		ts := f.stream("/v1/events?topic=agents.a1.presence&last_event_id="+mine[0].Position.String(), mine[10].Position.String())
		ts.expectEvents(mine[11:]...)
		ts.close()
	})
	t.Run("FromTheStart", func(t *testing.T) {
		ts := f.stream("/v1/events?topic=agents.a1.presence", "0-0")
		ts.expectEvents(mine...)
		ts.close()
	})
	t.Run("LogError", func(t *testing.T) {
		f.log.SetReadErr(presence.Errorf(presence.EUNAVAILABLE, "The database is down."))
		defer f.log.SetReadErr(nil)
		resp := f.get("/v1/events?topic=agents.a1.presence", http.Header{"Last-Event-ID": {"1-1"}})
		if code, _ := apiError(t, resp); resp.StatusCode != 503 || code != presence.EUNAVAILABLE {
			t.Errorf("got %d %q", resp.StatusCode, code)
		}
	})
}

// TestServeEvents_ResumeFromNodeAhead resumes with an id that this node's
// listener has not reached yet (the client came from a node further
// ahead): the backlog comes from the log, and the listener's late events
// are not sent twice.
func TestServeEvents_ResumeFromNodeAhead(t *testing.T) {
	f := newFixture(t, Config{})
	for range 3 {
		f.emit("statuses", "status", `{}`)
	}
	var late []presence.Event // in the log, not yet published here
	for range 4 {
		late = append(late, f.log.Add("statuses", "status", `{"late":true}`))
	}
	ts := f.stream("/v1/events?topic=statuses", late[1].Position.String())
	ts.expectEvents(late[2], late[3])
	atHead := f.stream("/v1/events?topic=statuses", late[3].Position.String())
	for _, ev := range late {
		f.b.Publish(ev)
	}
	next := f.emit("statuses", "status", `{}`)
	ts.expectEvents(next)
	atHead.expectEvents(next) // no reset: the log has the id
}

// TestServeEvents_ResumeHandOver resumes while events are published all the
// time, and also on every log read, so that events land before, during and
// after the hand-over from backlog to live. The stream must carry exactly
// the log's events after the id, in order.
func TestServeEvents_ResumeHandOver(t *testing.T) {
	const topic, other = "agents.a.presence", "agents.b.presence"
	for round := range 15 {
		f := newFixture(t, Config{BufferSize: 50_000})
		f.b.pageSize = 4
		var history []presence.Event
		for i := range 40 {
			history = append(history, f.emit([]string{topic, other}[i%2], "presence", `{}`))
		}
		resumeAt := history[2*round+1].Position

		f.log.SetBeforeRead(func() {
			f.emit(topic, "presence", `{"during":"read"}`)
			f.emit(other, "presence", `{"during":"read"}`)
		})
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				f.emit([]string{topic, other}[i%2], "presence", `{"during":"publish"}`)
				if i%16 == 0 {
					time.Sleep(50 * time.Microsecond)
				}
			}
		}()
		resumed := f.stream("/v1/events?topic="+topic, resumeAt.String())
		fresh := f.stream("/v1/events?topic="+topic, "")
		first := resumed.next()
		time.Sleep(time.Duration(round) * time.Millisecond)
		close(stop)
		<-done
		f.log.SetBeforeRead(nil)
		end := f.emit(topic, "presence", `{"end":true}`)

		got := []string{first.ID}
		for got[len(got)-1] != end.Position.String() {
			got = append(got, resumed.next().ID)
		}
		var want []presence.Event // up to end: a log read still running may add more
		for _, ev := range f.log.After(resumeAt, topic) {
			if !end.Position.Less(ev.Position) {
				want = append(want, ev)
			}
		}
		if len(got) != len(want) {
			var ws []string
			for _, ev := range want {
				ws = append(ws, ev.Position.String())
			}
			t.Fatalf("round %d: got %d events, want %d\ngot  %v\nwant %v", round, len(got), len(want), got, ws)
		}
		for i := range want {
			if got[i] != want[i].Position.String() {
				t.Fatalf("round %d: event %d is %s, want %s", round, i, got[i], want[i].Position)
			}
		}

		// Without an id the stream starts live: from its first event on it
		// must be the log, with no gap and no duplicate.
		fr := fresh.next()
		var startAt presence.Position
		for _, ev := range f.log.After(presence.Position{}, topic) {
			if ev.Position.String() == fr.ID {
				break
			}
			startAt = ev.Position
		}
		for i, ev := range f.log.After(startAt, topic) {
			if i > 0 {
				fr = fresh.next()
			}
			if fr.ID != ev.Position.String() {
				t.Fatalf("round %d: fresh stream event %d is %s, want %s", round, i, fr.ID, ev.Position)
			}
		}
	}
}

func TestServeEvents_Reset(t *testing.T) {
	f := newFixture(t, Config{})
	var evs []presence.Event
	for range 10 {
		evs = append(evs, f.emit("agents.a1.presence", "presence", `{}`))
	}
	f.log.Prune(evs[5].Position)

	ts := f.stream("/v1/events?topic=agents.a1.presence", evs[2].Position.String())
	fr := ts.next()
	if fr.Event != presence.KindReset || fr.ID != evs[9].Position.String() {
		t.Fatalf("got %+v, want a reset with the head's id %s", fr, evs[9].Position)
	}
	// The message says why: the log's own reason (a failover's loss
	// reads differently from retention), then what to do.
	resetMessage := func(data string) string {
		t.Helper()
		var env presence.Envelope
		var body struct {
			Reload  bool
			Message string
		}
		if err := json.Unmarshal([]byte(data), &env); err != nil || json.Unmarshal(env.Body, &body) != nil || !body.Reload {
			t.Errorf("reset data = %s", data)
		}
		return body.Message
	}
	if m := resetMessage(fr.Data); !strings.Contains(m, "past the retention window") || !strings.Contains(m, "Reload the state") {
		t.Errorf("reset message %q does not say why and what to do", m)
	}
	live := f.emit("agents.a1.presence", "presence", `{"after":"reset"}`)
	ts.expectEvents(live) // one reset, then live

	// An id the log never reached (a restored database) resets too.
	future := presence.Position{Xid: live.Position.Xid + 100, ID: 1}
	ahead := f.stream("/v1/events?topic=agents.a1.presence", future.String())
	if fr := ahead.next(); fr.Event != presence.KindReset || fr.ID != live.Position.String() {
		t.Fatalf("got %+v, want a reset with the head's id %s", fr, live.Position)
	} else if m := resetMessage(fr.Data); !strings.Contains(m, "past the head of the event log") {
		t.Errorf("reset message %q for an id past the head", m)
	}
	live2 := f.emit("agents.a1.presence", "presence", `{"after":"future"}`)
	ahead.expectEvents(live2)
	ts.expectEvents(live2)

	// An id inside the window resumes as usual.
	ok := f.stream("/v1/events?topic=agents.a1.presence", evs[6].Position.String())
	ok.expectEvents(evs[7], evs[8], evs[9], live, live2)
}

func TestServeChannel_TopicsChangeLive(t *testing.T) {
	f := newFixture(t, Config{})
	ch, _ := f.channels.CreateChannel(t.Context(), []string{"agents.a1.presence"})
	ts := f.stream("/v1/channels/"+ch.ID+"/events", "")

	e1 := f.emit("agents.a1.presence", "presence", `{"n":1}`)
	e2 := f.emit("agents.a2.presence", "presence", `{"n":2}`)
	ts.expectEvents(e1)

	if _, err := f.channels.SetChannelTopics(t.Context(), ch.ID, []string{"agents.a2.*", "queues.*"}); err != nil {
		t.Fatal(err)
	}
	f.emit("agents.a1.presence", "presence", `{"n":3}`)
	e4 := f.emit("agents.a2.presence", "presence", `{"n":4}`)
	e5 := f.emit("queues.q1", "queue", `{"n":5}`)
	ts.expectEvents(e4, e5) // the channel event itself is not sent
	ts.expectQuiet(50 * time.Millisecond)
	if n := f.b.Subscribers(); n != 1 {
		t.Errorf("Subscribers() = %d", n)
	}

	// A resumed channel stream reads its backlog with the channel's current
	// topics (so e2, from before the change, too) and skips the channel's
	// own events.
	again := f.stream("/v1/channels/"+ch.ID+"/events", e1.Position.String())
	again.expectEvents(e2, e4, e5)
}

func TestServeChannel_100kTopics(t *testing.T) {
	f := newFixture(t, Config{})
	topics := make([]string, presence.MaxTopics)
	for i := range topics {
		topics[i] = "agents.a" + strconv.Itoa(i) + ".presence"
	}
	ch, _ := f.channels.CreateChannel(t.Context(), topics)
	ts := f.stream("/v1/channels/"+ch.ID+"/events", "")

	start := time.Now()
	last := f.emit(topics[len(topics)-1], "presence", `{}`)
	f.emit("agents.nobody.presence", "presence", `{}`)
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("two publishes took %v", d)
	}
	ts.expectEvents(last)

	// Replace all 100,000 topics at once.
	for i := range topics {
		topics[i] = "agents.b" + strconv.Itoa(i) + ".presence"
	}
	start = time.Now()
	if _, err := f.channels.SetChannelTopics(t.Context(), ch.ID, topics); err != nil {
		t.Fatal(err)
	}
	t.Logf("replacing 100,000 topics took %v", time.Since(start))
	f.emit("agents.a5.presence", "presence", `{}`)
	b5 := f.emit("agents.b5.presence", "presence", `{}`)
	ts.expectEvents(b5)
}

func TestBroker_PublishOutOfOrderIgnored(t *testing.T) {
	f := newFixture(t, Config{})
	ts := f.stream("/v1/events?topic=statuses", "")
	e1 := f.emit("statuses", "status", `{}`)
	f.b.Publish(e1) // again
	f.b.Publish(presence.Event{Position: presence.Position{Xid: 1, ID: 1}, Topic: "statuses", Kind: "status"})
	e2 := f.emit("statuses", "status", `{}`)
	ts.expectEvents(e1, e2)
	if f.b.Position() != e2.Position {
		t.Errorf("Position() = %v", f.b.Position())
	}
}

func TestBroker_ClientsLeave(t *testing.T) {
	f := newFixture(t, Config{})
	ignore := goleak.IgnoreCurrent()
	var streams []*testStream
	for range 5 {
		streams = append(streams, f.stream("/v1/events?topic=agents.*.presence", ""))
	}
	f.emit("agents.a1.presence", "presence", `{}`)
	for _, ts := range streams {
		ts.next()
		ts.close()
	}
	waitFor(t, "subscribers to leave", func() bool { return f.b.Subscribers() == 0 })
	f.client.Transport.(*http.Transport).CloseIdleConnections()
	goleak.VerifyNone(t, ignore)
}

func TestBroker_Close(t *testing.T) {
	f := newFixture(t, Config{})
	var streams []*testStream
	for range 3 {
		streams = append(streams, f.stream("/v1/events?topic=statuses", ""))
	}
	closed := make(chan struct{})
	go func() { f.b.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	for _, ts := range streams {
		ts.expectEnd()
	}
	if n := f.b.Subscribers(); n != 0 {
		t.Errorf("Subscribers() = %d after Close", n)
	}
	resp := f.get("/v1/events?topic=statuses", nil)
	if code, _ := apiError(t, resp); resp.StatusCode != 503 || code != presence.EUNAVAILABLE {
		t.Errorf("after Close: %d %q", resp.StatusCode, code)
	}
	f.srv.Close() // returns only when no handler is left
}
