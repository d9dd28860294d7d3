package sse

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	presence "github.com/presenced/presenced"
)

// A bad Last-Event-ID is 400 and is not echoed whole (it was, all 5,000
// characters of it).
func TestServeEvents_BadLastEventIDIsCutInTheError(t *testing.T) {
	f := newFixture(t, Config{})
	long := strings.Repeat("x", 5000)
	for _, resp := range []*http.Response{
		f.get("/v1/events?topic=agents.a1.presence", http.Header{"Last-Event-Id": {long}}),
		f.get("/v1/events?topic=agents.a1.presence&last_event_id="+url.QueryEscape(long), nil),
	} {
		code, message := apiError(t, resp)
		if resp.StatusCode != 400 || code != presence.EBADREQUEST || len(message) > 200 || !strings.Contains(message, "xxx…") {
			t.Errorf("%d %q %q (%d bytes)", resp.StatusCode, code, message[:min(len(message), 120)], len(message))
		}
	}
}

// After the log was pruned empty, the reset event carries the position
// the log was pruned through and the stream's topics (it carried an
// empty topic).
func TestServeEvents_ResetOfALogPrunedEmpty(t *testing.T) {
	f := newFixture(t, Config{})
	var evs []presence.Event
	for range 5 {
		evs = append(evs, f.emit("agents.a1.presence", "presence", `{}`))
	}
	f.log.Prune(evs[4].Position)

	ts := f.stream("/v1/events?topic=agents.a1.presence,statuses", evs[1].Position.String())
	fr := ts.next()
	var env presence.Envelope
	if err := json.Unmarshal([]byte(fr.Data), &env); err != nil {
		t.Fatal(err)
	}
	if fr.Event != presence.KindReset || fr.ID != evs[4].Position.String() || env.Topic != "agents.a1.presence,statuses" {
		t.Fatalf("got %+v topic %q, want a reset with id %s and the stream's topics", fr, env.Topic, evs[4].Position)
	}
	live := f.emit("agents.a1.presence", "presence", `{"after":"reset"}`)
	ts.expectEvents(live)
}

// A stream that cannot start is answered as every error of the API is
// (http/httperror): the precise code when the error has one (it was the
// class), Retry-After on a 503 (it had none), and never cached.
func TestServeErrorsAreAPIErrors(t *testing.T) {
	f := newFixture(t, Config{Channels: goneChannels{}})
	resp := f.get("/v1/channels/c1/events", nil)
	if code, _ := apiError(t, resp); resp.StatusCode != 404 || code != "channel_not_found" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("unknown channel: %d %q %v", resp.StatusCode, code, resp.Header)
	}

	f.b.Close()
	resp = f.get("/v1/events?topic=statuses", nil)
	if code, _ := apiError(t, resp); resp.StatusCode != 503 || code != presence.EUNAVAILABLE ||
		resp.Header.Get("Retry-After") != "1" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("closed broker: %d %q %v", resp.StatusCode, code, resp.Header)
	}
}

// goneChannels is a ChannelService that holds no channel.
type goneChannels struct{ presence.ChannelService }

func (goneChannels) FindChannelByID(ctx context.Context, id string) (*presence.Channel, error) {
	return nil, presence.ReasonErrorf(presence.ENOTFOUND, "channel_not_found", "Channel %q does not exist.", id)
}
