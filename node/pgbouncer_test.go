package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
	"github.com/presenced/presenced/db/pgcluster"
	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// startBouncer starts PgBouncer in transaction mode in front of the server
// of dbURL, with few server connections so that every client shares them,
// and returns the URL of the same database through it.
func startBouncer(t testing.TB, dbURL string, poolSize int) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "presenced-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := pgcluster.StartBouncer(ctx, pgcluster.BouncerConfig{Dir: dir, TargetURL: dbURL, PoolMode: "transaction", PoolSize: poolSize})
	if err != nil {
		t.Fatalf("%v (make test-deps installs pgbouncer)", err)
	}
	t.Cleanup(func() {
		_ = b.Stop()
		if t.Failed() {
			t.Logf("pgbouncer log:\n%s", b.LogTail())
		}
	})
	u, _ := url.Parse(dbURL)
	return b.DatabaseURL(strings.TrimPrefix(u.Path, "/"))
}

// apiCall sends a request as the admin and returns the status and JSON body.
func apiCall(method, url, body string) (int, map[string]any, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := haClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	if res.StatusCode >= 300 {
		return res.StatusCode, map[string]any{"raw": string(raw)}, nil
	}
	return res.StatusCode, out, nil
}

// The API through PgBouncer 1.18 in transaction mode, the listener
// straight to PostgreSQL: no named prepared statement (the statement mode
// is chosen from --listen-database-url), no session state. Eight clients
// share three server connections; each walks the API many times (past
// the five runs after which a cached statement goes generic), and a
// stream on the node gets every change.
func TestAPIThroughPgBouncer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts pgbouncer")
	}
	direct := dbtest.NewDatabase(t)
	pooled := startBouncer(t, direct, 3)
	n := nodetest.MustOpenConfig(t, node.Config{Addr: "127.0.0.1:0", DatabaseURL: pooled, ListenDatabaseURL: direct,
		AdminToken: adminToken, Logger: quiet})
	base := n.URL()
	events := subscribe(t, base, []string{"agents.*.presence"}, "")
	waitSubscribed(t, n, 1)
	if code, _, _ := apiCall("PUT", base+"/v1/queues/sales", ""); code != 201 {
		t.Fatalf("PUT queue: %d", code)
	}

	const clients, rounds = 8, 7
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fail := func(step string, code int, out map[string]any, err error) {
				mu.Lock()
				defer mu.Unlock()
				failures = append(failures, fmt.Sprintf("%s: %d %v %v", step, code, out, err))
			}
			for r := range rounds {
				a := fmt.Sprintf("c%d-r%d", c, r)
				ag := base + "/v1/agents/" + a
				steps := []struct{ method, url, body string }{
					{"POST", base + "/v1/agents", `{"id": "` + a + `"}`},
					{"PUT", ag + "/presence", `{"status": "busy", "message": "m"}`},
					{"PUT", ag + "/attributes", `{"custom": {"CustomerService": {"languages": "French"}}}`},
					{"GET", ag, ""},
					{"GET", ag + "/presence", ""},
					{"GET", ag + "/attributes", ""},
					{"GET", base + "/v1/agents?limit=5", ""},
					{"GET", base + "/v1/presence", ""},
					{"GET", base + "/v1/presence?status=busy&limit=3", ""},
					{"POST", base + "/v1/presence/query", fmt.Sprintf(apiQueryForPooler, "ACTIVE", "A OR B")},
					{"GET", base + "/v1/spells?limit=5", ""},
					{"GET", base + "/v1/statuses", ""},
					{"GET", base + "/v1/audit?limit=5", ""},
					{"POST", base + "/v1/channels", `{"topics": ["agents.` + a + `.presence"]}`},
				}
				for _, s := range steps {
					if code, out, err := apiCall(s.method, s.url, s.body); err != nil || code >= 300 {
						fail(s.method+" "+s.url, code, out, err)
					}
				}
				code, sess, err := apiCall("POST", ag+"/sessions", "")
				if err != nil || code != 201 {
					fail("POST sessions", code, sess, err)
					continue
				}
				sid, _ := sess["session_id"].(string)
				for _, s := range []struct{ method, url string }{
					{"POST", ag + "/queues/sales/login"},
					{"GET", base + "/v1/queues/sales"},
					{"POST", ag + "/work"},
					{"GET", ag + "/work"},
					{"POST", base + "/v1/sessions/" + sid + "/heartbeat"},
					{"GET", base + "/v1/sessions/" + sid},
					{"DELETE", base + "/v1/sessions/" + sid},
					{"DELETE", ag},
					{"POST", ag + "/restore"},
				} {
					body := ""
					if strings.HasSuffix(s.url, "/work") && s.method == "POST" {
						body = `{"channel": "chat", "units": 1}`
					}
					if code, out, err := apiCall(s.method, s.url, body); err != nil || code >= 300 {
						fail(s.method+" "+s.url, code, out, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d requests failed through PgBouncer, e.g. %s", len(failures), failures[0])
	}
	// Each agent's creation and its busy spell, through the listener on
	// the direct connection.
	events.waitFor(t, "presence", 2*clients*rounds, 15*time.Second)
	if res, err := haClient.Get(base + "/readyz"); err != nil || res.StatusCode != 200 {
		t.Fatalf("/readyz through PgBouncer: %v %v", res, err)
	} else {
		res.Body.Close()
	}
}

const apiQueryForPooler = `{"clauses": {
   "A": {"attribute": "state", "op": "eq", "value": "%s"},
   "B": {"category": "CustomerService", "attribute": "languages", "op": "eq", "value": "French"}},
 "expression": "%s"}`

// TestMeasurePgBouncer measures presence changes per second over HTTP
// from 16 writers, straight to PostgreSQL and through PgBouncer in
// transaction mode (docs/performance.md). Run it by hand:
//
//	PRESENCED_MEASURE=1 go test -count=1 -run TestMeasurePgBouncer -v ./node/
func TestMeasurePgBouncer(t *testing.T) {
	if os.Getenv("PRESENCED_MEASURE") == "" {
		t.Skip("a measurement: PRESENCED_MEASURE=1 runs it")
	}
	const writers, agents = 16, 200
	duration := 8 * time.Second
	direct := dbtest.NewDatabase(t)
	pooled := startBouncer(t, direct, int(db.DefaultMaxConns())) // as many server connections as the node's pool
	for _, c := range []struct {
		name, url, listen, mode string
	}{
		{"direct, prepared statements", direct, "", ""},
		{"direct, describe mode", direct, "", "describe"},
		{"PgBouncer (transaction), describe mode", pooled, direct, ""},
		{"PgBouncer (transaction), exec mode", pooled, direct, "exec"},
		{"direct, prepared statements (again)", direct, "", ""},
	} {
		n := node.New(node.Config{Addr: "127.0.0.1:0", DatabaseURL: c.url, ListenDatabaseURL: c.listen, StatementMode: c.mode,
			AdminToken: adminToken, Logger: quiet})
		if err := n.Open(t.Context()); err != nil {
			t.Fatal(err)
		}
		for i := range agents {
			apiCall("POST", n.URL()+"/v1/agents", fmt.Sprintf(`{"id": "m%d"}`, i))
		}
		var mu sync.Mutex
		done, failed := 0, 0
		ctx, cancel := context.WithTimeout(context.Background(), duration)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					a := fmt.Sprintf("m%d", (w*agents/writers+i)%agents)
					code, _, err := apiCall("PUT", n.URL()+"/v1/agents/"+a+"/presence",
						`{"status": "`+[]string{"available", "busy"}[i%2]+`"}`)
					if ctx.Err() != nil {
						return
					}
					mu.Lock()
					if err == nil && code == 200 {
						done++
					} else {
						failed++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		cancel()
		_ = n.Close()
		t.Logf("%-40s %6.0f changes/s (%d failed)", c.name, float64(done)/duration.Seconds(), failed)
	}
}
