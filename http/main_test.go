package http_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
	presencehttp "github.com/presenced/presenced/http"
	"github.com/presenced/presenced/internal/presencetest"
)

func TestMain(m *testing.M) { presencetest.Main(m, dbtest.Stop) }

// positionStub stands in for the SSE broker's position in ETag tests.
type positionStub struct{ pos presence.Position }

func (p *positionStub) ServeEvents(w http.ResponseWriter, r *http.Request)            {}
func (p *positionStub) ServeChannel(w http.ResponseWriter, r *http.Request, _ string) {}
func (p *positionStub) Position() presence.Position                                   { return p.pos }

// testServer is a Server on a fresh database.
type testServer struct {
	*presencehttp.Server
	t       *testing.T
	events  *positionStub
	db      *db.DB
	adminID string // the id of testAdminToken
}

// testAdminToken is the admin token of every test server; the request
// helpers send it unless told otherwise.
const testAdminToken = "test-admin-token-0123456789abcdef0123456789abcdef"

// mustOpenServer opens a server on a fresh database with auth on, as in
// production, and testAdminToken stored as an admin token.
func mustOpenServer(t *testing.T, opts ...func(*presencehttp.Server)) *testServer {
	t.Helper()
	d := dbtest.MustOpenDB(t)
	s := presencehttp.NewServer()
	s.Addr = "127.0.0.1:0"
	s.AgentService, s.StatusService, s.PresenceService, s.SpellService, s.ChannelService = d, d, d, d, d
	s.SessionService, s.QueueService, s.WorkService = d, d, d
	s.TokenService, s.AuditLog = d, d
	if f, ok := any(d).(presence.SessionAgentFinder); ok {
		s.SessionAgents = f
	}
	if f, ok := any(d).(presence.WorkAgentFinder); ok {
		s.WorkAgents = f
	}
	admin, err := d.EnsureToken(t.Context(), testAdminToken, presence.TokenInput{Scopes: []string{presence.ScopeAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	s.AttributeService, s.QueryService = d, d
	stub := &positionStub{}
	s.EventPosition = stub.Position
	for _, o := range opts {
		o(s)
	}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(t.Context()) })
	return &testServer{Server: s, t: t, events: stub, db: d, adminID: admin.ID}
}

// otherNode opens a second server on the same database, serving agents,
// presence and tokens: another node of the same deployment.
func (s *testServer) otherNode() *presencehttp.Server {
	s.t.Helper()
	other := presencehttp.NewServer()
	other.Addr = "127.0.0.1:0"
	other.AgentService, other.PresenceService, other.TokenService = s.db, s.db, s.db
	if err := other.Open(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = other.Close(s.t.Context()) })
	return other
}

// sql returns a pool on the server's database for SQL behind the
// services' back (dbtest.MustOpenPool).
func (s *testServer) sql() *pgxpool.Pool { return dbtest.MustOpenPool(s.t, s.db.URL) }

// do sends a request and returns the status and the decoded JSON body. It
// sends testAdminToken unless header names an Authorization ("" for none).
func (s *testServer) do(method, path, body string, header ...string) (int, map[string]any, http.Header) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
		if header[i+1] == "" {
			req.Header.Del(header[i])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			s.t.Fatalf("%s %s: body is not a JSON object: %s", method, path, raw)
		}
	}
	return res.StatusCode, out, res.Header
}

// must sends a request and fails unless the status is want.
func (s *testServer) must(want int, method, path, body string) map[string]any {
	s.t.Helper()
	code, out, _ := s.do(method, path, body)
	if code != want {
		s.t.Fatalf("%s %s = %d %v, want %d", method, path, code, out, want)
	}
	return out
}

// mustError checks status and error code of a failing request.
func (s *testServer) mustError(want int, code, method, path, body string) {
	s.t.Helper()
	out := s.must(want, method, path, body)
	e, _ := out["error"].(map[string]any)
	if e == nil || e["code"] != code || e["message"] == "" {
		s.t.Fatalf("%s %s: error body %v, want code %q", method, path, out, code)
	}
}

func items(out map[string]any) []any {
	v, _ := out["items"].([]any)
	return v
}

// mustToken makes a token with the given scopes, bound to agent unless it
// is "", and returns its secret.
func (s *testServer) mustToken(agent string, scopes ...string) string {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"scopes": scopes})
	if agent != "" {
		body, _ = json.Marshal(map[string]any{"scopes": scopes, "agent_id": agent})
	}
	out := s.must(201, "POST", "/v1/tokens", string(body))
	return out["token"].(string)
}

// as sends a request with token ("" for none) and returns status and body.
func (s *testServer) as(token, method, path, body string, header ...string) (int, map[string]any) {
	s.t.Helper()
	auth := ""
	if token != "" {
		auth = "Bearer " + token
	}
	code, out, _ := s.do(method, path, body, append([]string{"Authorization", auth}, header...)...)
	return code, out
}

// mustAs fails unless a request with token answers want.
func (s *testServer) mustAs(want int, token, method, path, body string) map[string]any {
	s.t.Helper()
	code, out := s.as(token, method, path, body)
	if code != want {
		s.t.Fatalf("%s %s = %d %v, want %d", method, path, code, out, want)
	}
	return out
}
