package http_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	presence "github.com/presenced/presenced"
)

// The bulk read's body is written without encoding/json; it must be the
// bytes encoding/json writes for the same records, on every page.
func TestPresenceListBodyIsEncodingJSON(t *testing.T) {
	t.Parallel()
	s := mustOpenServer(t)
	for i := range 5 {
		s.must(201, "POST", "/v1/agents", fmt.Sprintf(`{"id": "a%d"}`, i))
	}
	s.must(200, "PUT", "/v1/agents/a1/presence", `{"status": "meal", "message": "back <at> 1 & \"then\" \u2028 é", "reason_code": "lunch"}`)
	s.must(201, "POST", "/v1/agents/a2/sessions", `{}`)
	s.must(201, "PUT", "/v1/queues/sales", `{"name": "Sales"}`)
	s.must(200, "POST", "/v1/agents/a2/queues/sales/login", "")
	cursor := ""
	for page := 0; ; page++ {
		req, _ := http.NewRequest("GET", s.URL()+"/v1/presence?limit=2&cursor="+cursor, nil)
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		items, next, err := s.db.FindPresences(t.Context(), presence.PresenceFilter{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(struct {
			Items      []*presence.Record `json:"items"`
			NextCursor string             `json:"next_cursor,omitempty"`
		}{items, next})
		if res.StatusCode != 200 || string(got) != string(want) {
			t.Fatalf("page %d: %d\n%s\nencoding/json:\n%s", page, res.StatusCode, got, want)
		}
		if next == "" {
			break
		}
		cursor = next
	}
}
