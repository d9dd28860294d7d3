//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// scenarioBulk: GET /v1/presence of every agent (paged by 1,000), one page,
// and the 304 answer a poller gets while nothing changed.
func scenarioBulk(ctx context.Context, e *env, o options) error {
	n, err := e.startNode(ctx)
	if err != nil {
		return err
	}
	c := httpClient(1)
	// get fetches url; it decodes the body only for paging (decode), as a
	// client that hands the JSON to a browser would not decode it at all.
	get := func(url, etag string, decode ...bool) (int, string, string, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		res, err := c.Do(req)
		if err != nil {
			return 0, "", "", err
		}
		defer res.Body.Close()
		var body struct {
			Items      []json.RawMessage `json:"items"`
			NextCursor string            `json:"next_cursor"`
		}
		if res.StatusCode == 200 && len(decode) > 0 {
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				return 0, "", "", err
			}
		} else {
			_, _ = io.Copy(io.Discard, res.Body)
		}
		return res.StatusCode, res.Header.Get("ETag"), body.NextCursor, nil
	}
	var walk, whole, uncached, page, notModified latencies
	var etag string
	for range 30 {
		start := time.Now()
		cursor, pages := "", 0
		for {
			code, tag, next, err := get(n.url+"/v1/presence?limit=1000&cursor="+cursor, "", true)
			if err != nil || code != 200 {
				return fmt.Errorf("bulk page: %d %v", code, err)
			}
			if pages == 0 {
				etag = tag
			}
			pages++
			if next == "" {
				break
			}
			cursor = next
		}
		walk.add(time.Since(start))
		if pages*1000 < o.agents {
			return fmt.Errorf("walked %d pages for %d agents", pages, o.agents)
		}
	}
	for range 30 {
		start := time.Now()
		if code, _, _, err := get(fmt.Sprintf("%s/v1/presence?limit=%d", n.url, o.agents), ""); err != nil || code != 200 {
			return fmt.Errorf("whole floor: %d %v", code, err)
		}
		whole.add(time.Since(start))
	}
	for i := range 30 {
		start := time.Now()
		// A query string never seen before misses the node's answer cache:
		// the same limit, written with ever more leading zeros (the API
		// refuses parameters it does not take).
		if code, _, _, err := get(fmt.Sprintf("%s/v1/presence?limit=%0*d", n.url, 6+i, o.agents), ""); err != nil || code != 200 {
			return fmt.Errorf("whole floor: %d %v", code, err)
		}
		uncached.add(time.Since(start))
	}
	for range 100 {
		start := time.Now()
		if code, _, _, err := get(n.url+"/v1/presence?limit=1000", ""); err != nil || code != 200 {
			return fmt.Errorf("page: %d %v", code, err)
		}
		page.add(time.Since(start))
	}
	for range 1000 {
		start := time.Now()
		code, _, _, err := get(n.url+"/v1/presence?limit=1000", etag)
		if err != nil || code != http.StatusNotModified {
			return fmt.Errorf("conditional GET: %d %v", code, err)
		}
		notModified.add(time.Since(start))
	}
	// The target is for one GET of the whole floor, cached or not; the
	// pages are what a client limited to openapi.json's 1,000 a page pays.
	fmt.Printf("all %d agents (%d pages of 1,000): %s\n", o.agents, (o.agents+999)/1000, walk.summary())
	fmt.Printf("all %d agents in one request:     %s  (target p50 ≤ 30 ms)\n", o.agents, whole.summary())
	fmt.Printf("  the same, missing the cache:     %s  (target p50 ≤ 30 ms)\n", uncached.summary())
	fmt.Printf("one page of 1,000:                 %s\n", page.summary())
	fmt.Printf("304 Not Modified:                  %s  (target ≤ 2 ms)\n", notModified.summary())
	return nil
}
