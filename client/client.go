// Package client follows presenced's event streams from Go.
//
// Subscribe opens GET /v1/events for a list of topic patterns and delivers
// each event on a channel. When the connection drops it reconnects by
// itself, with backoff, sending Last-Event-ID, so that the server resumes
// right after the last event delivered: nothing is lost and nothing comes
// twice. When the server no longer holds the events after that id it sends
// one event of Kind "reset": reload the state you keep, then go on.
//
//	ctx, cancel := context.WithCancel(context.Background())
//	defer cancel()
//	events := client.Subscribe(ctx, client.Options{
//		BaseURL: "https://presence.example.com",
//		Token:   os.Getenv("PRESENCED_TOKEN"),
//	}, []string{"agents.*.presence"}, savedID)
//	for ev := range events {
//		if ev.Kind == client.KindReset {
//			reloadAll()
//		} else {
//			apply(ev.Topic, ev.Body)
//		}
//		savedID = ev.ID // keep it to resume after a restart
//	}
//
// SSE parsing (parse.go, after the WHATWG spec) and reconnection are this
// package's own. The client of r3labs/sse v2.10.0 does not reconnect when
// the server ends a stream cleanly, gives up for good once 15 minutes have
// passed since it subscribed (time spent streaming counts), keeps retrying
// after its context ends, and delivers an event cut short by a disconnect
// and then resumes after it.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/http/httperror"
)

// KindReset is the Kind of the event that tells the client to reload state:
// the id it resumed from is older than the server's retention window. Its
// ID is where the stream goes on from.
const KindReset = presence.KindReset

// Event is one event of the stream, decoded from its envelope.
type Event struct {
	ID    string          // position in the log; opaque; resume after it
	Kind  string          // the SSE event name: presence, state, routing, …, or "reset"
	Topic string          // e.g. "agents.a1.presence"; empty for a reset
	At    time.Time       // when the change was made
	Body  json.RawMessage // the new state of the changed thing (the raw data if not an envelope)
}

// Options configure a subscription. Only BaseURL is required.
type Options struct {
	// BaseURL is the server's address, e.g. "https://presence.example.com".
	BaseURL string

	// Token, when set, is sent as "Authorization: Bearer <Token>".
	Token string

	// HTTPClient makes the requests; default a client of its own. It must
	// have no Timeout: a timeout would end every stream.
	HTTPClient *http.Client

	// Backoff returns the wait before reconnect attempt n (1, 2, …; back to
	// 1 after a connection that succeeded). Default: 250 ms doubling to
	// 30 s, with jitter.
	Backoff func(attempt int) time.Duration

	// IdleTimeout is how long a stream may stay silent, pings included,
	// before the client takes it for dead and reconnects. Default 45 s,
	// three of the server's heartbeats.
	IdleTimeout time.Duration

	// OnError, when set, is told why a connection failed or ended; errors
	// are *presence.Error. For an error answer, Code is the class of its
	// HTTP status (presence.EUNAUTHORIZED for a 401) and the server's more
	// precise code, when it sent one, is the Reason ("token_expired").
	OnError func(error)
}

// DefaultIdleTimeout is the default of Options.IdleTimeout.
const DefaultIdleTimeout = 45 * time.Second

// Subscribe streams the events of topics (patterns such as
// "agents.*.presence") from GET {BaseURL}/v1/events, starting after lastID
// when it is not empty, and reconnecting by itself until ctx ends. The
// channel is closed when ctx ends, or when the server refuses the request
// for good (a 4xx other than 408 and 429: a bad topic, a bad token);
// Options.OnError learns why.
func Subscribe(ctx context.Context, opts Options, topics []string, lastID string) <-chan Event {
	q := url.Values{"topic": topics}
	return subscribe(ctx, opts, "/v1/events?"+q.Encode(), lastID)
}

// SubscribeChannel is Subscribe for the stream of a channel, GET
// {BaseURL}/v1/channels/{id}/events, whose topics the server keeps.
func SubscribeChannel(ctx context.Context, opts Options, channelID, lastID string) <-chan Event {
	return subscribe(ctx, opts, "/v1/channels/"+url.PathEscape(channelID)+"/events", lastID)
}

func subscribe(ctx context.Context, opts Options, path, lastID string) <-chan Event {
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.Backoff == nil {
		opts.Backoff = defaultBackoff
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	s := &subscription{
		opts:   opts,
		url:    strings.TrimSuffix(opts.BaseURL, "/") + path,
		lastID: lastID,
		out:    make(chan Event, 16),
	}
	go s.run(ctx)
	return s.out
}

// subscription is one call of Subscribe; its goroutine owns every field.
type subscription struct {
	opts   Options
	url    string
	lastID string // the id of the last event delivered (or dispatched without data)
	out    chan Event
}

func (s *subscription) run(ctx context.Context) {
	defer close(s.out)
	attempt := 0
	for {
		connected, err := s.stream(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil && s.opts.OnError != nil {
			s.opts.OnError(err)
		}
		if permanent(err) {
			return
		}
		if connected {
			attempt = 0
		}
		attempt++
		t := time.NewTimer(s.opts.Backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// stream runs one connection until it ends. connected reports whether the
// server accepted it.
func (s *subscription) stream(ctx context.Context) (connected bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return false, &presence.Error{Code: presence.EINVALID, Message: "Bad BaseURL: " + err.Error()}
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if s.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.opts.Token)
	}
	if s.lastID != "" {
		req.Header.Set("Last-Event-ID", s.lastID)
	}
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		return false, presence.Errorf(presence.EUNAVAILABLE, "Connect to %s: %v", s.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, httperror.Read(resp)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return false, presence.Errorf(presence.EINTERNAL, "%s answered %q, not an event stream.", s.url, mt)
	}

	// A peer that vanished without closing the connection sends nothing,
	// not even pings: a timer, pushed back by every read, ends the wait.
	errIdle := presence.Errorf(presence.EUNAVAILABLE, "No data from %s for %v; reconnecting.", s.url, s.opts.IdleTimeout)
	idle := time.AfterFunc(s.opts.IdleTimeout, func() { cancel(errIdle) })
	defer idle.Stop()
	p := newParser(&idleReader{r: resp.Body, t: idle, d: s.opts.IdleTimeout}, s.lastID)
	for {
		m, err := p.next()
		if err != nil {
			// Only dispatched events count: an unfinished one is sent again.
			s.lastID = p.lastID
			if cause := context.Cause(ctx); cause == errIdle {
				return true, errIdle
			}
			if errors.Is(err, io.EOF) {
				return true, presence.Errorf(presence.EUNAVAILABLE, "The server ended the stream.")
			}
			return true, presence.Errorf(presence.EUNAVAILABLE, "Stream from %s broke: %v", s.url, err)
		}
		select {
		case s.out <- decode(m):
			s.lastID = m.id
		case <-ctx.Done():
			return true, nil
		}
	}
}

// idleReader pushes back the idle timer whenever data arrives.
type idleReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.t.Reset(r.d)
	}
	return n, err
}

// decode turns a message into an Event; the data is the JSON envelope
// {topic, version, at, body}.
func decode(m message) Event {
	ev := Event{ID: m.id, Kind: m.kind}
	var env presence.Envelope
	if err := json.Unmarshal([]byte(m.data), &env); err == nil {
		ev.Topic, ev.At, ev.Body = env.Topic, env.At, env.Body
	} else {
		ev.Body = json.RawMessage(m.data)
	}
	return ev
}

// permanent reports whether retrying cannot help: the request itself is
// refused. It looks at the class (the status of the answer), not at the
// server's precise code: a 401 token_expired is as final as any 401.
func permanent(err error) bool {
	if err == nil {
		return false
	}
	switch presence.ErrorCode(err) {
	case presence.EBADREQUEST, presence.EUNAUTHORIZED, presence.EFORBIDDEN,
		presence.ENOTFOUND, presence.ETOOLARGE, presence.EINVALID:
		return true
	}
	return false
}

// defaultBackoff waits 250 ms doubling to 30 s, with "equal jitter" so that
// clients dropped together do not come back together.
func defaultBackoff(attempt int) time.Duration {
	d := min(250*time.Millisecond<<min(attempt-1, 7), 30*time.Second)
	return d/2 + rand.N(d/2+1)
}

// String renders an event for logs.
func (e Event) String() string { return fmt.Sprintf("%s %s %s %s", e.ID, e.Kind, e.Topic, e.Body) }
