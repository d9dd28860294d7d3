//go:build unix

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A peer SSE server, measured with the same subscribers and publishers as
// presenced (-compare-url). Its subscribers open -compare-url; events are
// published through -compare-publish, a template of the form
//
//	METHOD URL [key=value ...]
//
// where {url} is -compare-url without its query, {topic} its topic
// parameter and {data} the event's data (JSON carrying its send time, which
// the subscribers read back). key=value pairs are sent as a form
// (application/x-www-form-urlencoded); without any, {data} is the body.
// -compare-token, when set, is sent as a bearer token with every request.
// The default template fits Mercure: POST {url} topic={topic} data={data}.
const defaultComparePublish = "POST {url} topic={topic} data={data}"

// peerPublish parses the template of -compare-publish for the peer at
// subscribeURL.
func peerPublish(template, subscribeURL, token string) (publishFunc, error) {
	u, err := url.Parse(subscribeURL)
	if err != nil {
		return nil, err
	}
	topic := u.Query().Get("topic")
	if topic == "" {
		topic = u.Query().Get("match") // Mercure's newer name
	}
	base := *u
	base.RawQuery = ""
	f := strings.Fields(template)
	if len(f) < 2 {
		return nil, fmt.Errorf("-compare-publish %q: want METHOD URL [key=value ...]", template)
	}
	fill := func(s, data string) string {
		return strings.NewReplacer("{url}", base.String(), "{topic}", topic, "{data}", data).Replace(s)
	}
	method, target := f[0], f[1]
	var fields [][2]string
	for _, kv := range f[2:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("-compare-publish: %q is not key=value", kv)
		}
		fields = append(fields, [2]string{k, v})
	}
	c := &http.Client{Transport: &http.Transport{MaxIdleConns: 2 * writers, MaxIdleConnsPerHost: 2 * writers}}
	return func(ctx context.Context, _ int, data string) error {
		body, ctype := data, "application/json"
		if fields != nil {
			form := url.Values{}
			for _, kv := range fields {
				form.Add(kv[0], fill(kv[1], data))
			}
			body, ctype = form.Encode(), "application/x-www-form-urlencoded"
		}
		req, err := http.NewRequestWithContext(ctx, method, fill(target, url.QueryEscape(data)), strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", ctype)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode/100 != 2 {
			return fmt.Errorf("%s %s: %d", method, req.URL, res.StatusCode)
		}
		return nil
	}, nil
}

// comparePeer runs l against the peer of -compare-url.
func comparePeer(ctx context.Context, o options, l load) error {
	publish, err := peerPublish(o.comparePublish, o.compareURL, o.compareToken)
	if err != nil {
		return err
	}
	var rt http.RoundTripper = &http.Transport{MaxIdleConnsPerHost: l.subs}
	if o.compareToken != "" {
		rt = tokenTransport{rt, o.compareToken}
	}
	c := &http.Client{Transport: rt}
	r := trial{
		label: fmt.Sprintf("peer %s, %d subscribers × %d events/s", o.compareURL, l.subs, l.rate),
		subscribe: func(ctx context.Context, wg *sync.WaitGroup) ([]*rawSubscriber, error) {
			return subscribeURLs(ctx, c, l.subs, func(int) string { return o.compareURL }, true, wg)
		},
		publish: publish,
	}
	if o.comparePID > 0 {
		r.procs = []proc{proc(o.comparePID)}
	}
	return r.measure(ctx, o, l)
}

// tokenTransport sends a bearer token with every request.
type tokenTransport struct {
	next  http.RoundTripper
	token string
}

func (t tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.token)
	return t.next.RoundTrip(r)
}

// startCPUHog runs a child process that keeps one core busy until stop:
// the contention of a noisy neighbour for the whole run (-cpu-hog).
func startCPUHog() (stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "hog")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }, nil
}

// runHog is the hog child: a busy loop on one core, until it is killed.
func runHog() int {
	runtime.GOMAXPROCS(1)
	n := 0
	for {
		n++
	}
}

// proc is a server process whose CPU time is reported.
type proc int

func (n *childNode) proc() proc { return proc(n.cmd.Process.Pid) }

// cpu returns the CPU time the process has used so far, from /proc.
func (p proc) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+2:]
	}
	f := strings.Fields(s) // from field 3, state
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}
