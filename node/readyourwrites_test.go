package node_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/presenced/presenced/db/dbtest"
	"github.com/presenced/presenced/node/nodetest"
)

// bulkStatus reads GET /v1/presence?agent=id with If-None-Match etag and
// returns the status code, the agent's status id ("" on 304) and the ETag.
func bulkStatus(t *testing.T, base, id, etag string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", base+"/v1/presence?agent="+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return res.StatusCode, "", res.Header.Get("ETag")
	}
	var body struct {
		Items []struct {
			Status struct {
				ID string `json:"id"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || len(body.Items) != 1 {
		t.Fatalf("bulk read: %s", raw)
	}
	return res.StatusCode, body.Items[0].Status.ID, res.Header.Get("ETag")
}

// Once a write has been answered, the bulk read on the same node reflects
// it: with the ETag of the read before the write (no 304 for the old
// state), and without one (no cached old answer). The node's listener
// delivers the write's event a few milliseconds after the answer, so
// without read-your-writes several of these iterations see the old record.
func TestBulkReadReflectsTheNodesOwnWrites(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	n := nodetest.MustOpen(t, url)
	if code := request(t, "POST", n.URL()+"/v1/agents", `{"id": "a1"}`); code != 201 {
		t.Fatal(code)
	}
	statuses := []string{"available", "busy", "break", "meal"}
	stale := 0
	for i := range 60 {
		_, _, etag := bulkStatus(t, n.URL(), "a1", "")
		// Warm the cache at the old position too.
		bulkStatus(t, n.URL(), "a1", "")
		want := statuses[i%len(statuses)]
		put(t, n.URL(), "/v1/agents/a1/presence", `{"status": "`+want+`"}`)
		if i%2 == 0 {
			code, got, _ := bulkStatus(t, n.URL(), "a1", etag)
			if code != 200 || got != want {
				stale++
				t.Logf("try %d with If-None-Match %s: %d %q, want 200 %q", i, etag, code, got, want)
			}
		} else if _, got, _ := bulkStatus(t, n.URL(), "a1", ""); got != want {
			stale++
			t.Logf("try %d: %q, want %q", i, got, want)
		}
	}
	if stale > 0 {
		t.Fatalf("%d of 60 reads after an answered write did not reflect it", stale)
	}
}
