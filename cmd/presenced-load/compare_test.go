//go:build unix

package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestPeerPublish: the default template publishes as Mercure takes it, a
// form with the topic of -compare-url and the data, with the token; a
// template without fields sends the data as the body.
func TestPeerPublish(t *testing.T) {
	type got struct{ method, path, ctype, auth, body string }
	reqs := make(chan got, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		reqs <- got{r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), r.Header.Get("Authorization"), string(b)}
	}))
	defer srv.Close()
	const data = `{"status":"busy","message":"1"}`
	for _, tc := range []struct {
		template, sub, token string
		want                 got
	}{
		{defaultComparePublish, srv.URL + "/.well-known/mercure?match=x", "tok",
			got{"POST", "/.well-known/mercure", "application/x-www-form-urlencoded", "Bearer tok",
				"data=%7B%22status%22%3A%22busy%22%2C%22message%22%3A%221%22%7D&topic=x"}},
		{"PUT {url}/items?topic={topic}", srv.URL + "/sse?topic=a", "",
			got{"PUT", "/sse/items?topic=a", "application/json", "", data}},
	} {
		publish, err := peerPublish(tc.template, tc.sub, tc.token)
		if err != nil {
			t.Fatal(err)
		}
		if err := publish(context.Background(), 0, data); err != nil {
			t.Fatal(err)
		}
		if g := <-reqs; g != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.template, g, tc.want)
		}
	}
	if _, err := peerPublish("POST", srv.URL, ""); err == nil {
		t.Error("a template without a URL was taken")
	}
}
