package db_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
	"github.com/presenced/presenced/db/pgcluster"
)

func TestTokens(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	t.Run("CreateAuthenticateRevoke", func(t *testing.T) {
		tok, secret, err := d.CreateToken(ctx, presence.TokenInput{Scopes: []string{presence.ScopeWrite, presence.ScopeRead}, AgentID: ptr("a1")})
		ok(t, err)
		if !strings.HasPrefix(secret, db.TokenPrefix) || len(secret) != len(db.TokenPrefix)+43 {
			t.Fatalf("secret %q: want the prefix and 256 bits in base64url", secret)
		}
		got, err := d.Authenticate(ctx, secret)
		ok(t, err)
		if got.ID != tok.ID || *got.AgentID != "a1" || len(got.Scopes) != 2 {
			t.Fatalf("authenticated as %+v", got)
		}
		_, err = d.Authenticate(ctx, secret+"x")
		mustCode(t, err, presence.EUNAUTHORIZED)
		_, err = d.Authenticate(ctx, "")
		mustCode(t, err, presence.EUNAUTHORIZED)
		ok(t, d.RevokeToken(ctx, tok.ID))
		_, err = d.Authenticate(ctx, secret)
		mustCode(t, err, presence.EUNAUTHORIZED)
		ok(t, d.RevokeToken(ctx, tok.ID))
		mustReason(t, d.RevokeToken(ctx, "nope"), "token_not_found")
	})
	t.Run("SecretsDiffer", func(t *testing.T) {
		_, s1, err := d.CreateToken(ctx, presence.TokenInput{Scopes: []string{presence.ScopeRead}})
		ok(t, err)
		_, s2, err := d.CreateToken(ctx, presence.TokenInput{Scopes: []string{presence.ScopeRead}})
		ok(t, err)
		if s1 == s2 {
			t.Fatal("two tokens share a secret")
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, in := range []presence.TokenInput{
			{},
			{Scopes: []string{"presence:everything"}},
			{Scopes: []string{presence.ScopeAdmin}, AgentID: ptr("a1")},
			{Scopes: []string{presence.ScopeRead}, AgentID: ptr("")},
			{Scopes: []string{presence.ScopeRead}, Name: ptr(strings.Repeat("n", 201))},
		} {
			_, _, err := d.CreateToken(ctx, in)
			mustCode(t, err, presence.EINVALID)
		}
	})
	t.Run("EnsureTokenKeepsOneRowAndItsRevocation", func(t *testing.T) {
		secret := strings.Repeat("b", 40)
		in := presence.TokenInput{Scopes: []string{presence.ScopeAdmin}}
		t1, err := d.EnsureToken(ctx, secret, in)
		ok(t, err)
		t2, err := d.EnsureToken(ctx, secret, in)
		ok(t, err)
		if t1.ID != t2.ID {
			t.Fatal("the bootstrap token was stored twice")
		}
		ok(t, d.RevokeToken(ctx, t1.ID))
		t3, err := d.EnsureToken(ctx, secret, in)
		ok(t, err)
		if t3.RevokedAt == nil {
			t.Fatal("a restart brought a revoked bootstrap token back")
		}
		_, err = d.EnsureToken(ctx, "short", in)
		mustCode(t, err, presence.EINVALID)
	})
}

func TestFirstAdminTokenIsMadeOnce(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	// Three nodes start at once on an empty database.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var secrets []string
	for range 3 {
		wg.Go(func() {
			tok, secret, err := d.CreateFirstAdminToken(ctx, "first start")
			if err != nil {
				t.Error(err)
				return
			}
			if tok != nil {
				mu.Lock()
				secrets = append(secrets, secret)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(secrets) != 1 {
		t.Fatalf("%d first admin tokens", len(secrets))
	}
	tok, err := d.Authenticate(ctx, secrets[0])
	ok(t, err)
	if !tok.Has(presence.ScopeAdmin) {
		t.Fatalf("first token: %+v", tok)
	}
	// Revoke it: with no live admin token left, the next start makes one.
	ok(t, d.RevokeToken(ctx, tok.ID))
	again, _, err := d.CreateFirstAdminToken(ctx, "first start")
	ok(t, err)
	if again == nil {
		t.Fatal("no admin token made while none is live")
	}
}

func TestAuditRecordsTheActingToken(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	admin, _, err := d.CreateToken(ctx, presence.TokenInput{Scopes: []string{presence.ScopeAdmin}})
	ok(t, err)
	actx := presence.WithToken(ctx, admin)
	ok(t, d.DeleteAgent(actx, "a1"))
	_, err = d.RestoreAgent(ctx, "a1") // from the command line: no actor
	ok(t, err)
	made, _, err := d.CreateToken(actx, presence.TokenInput{Scopes: []string{presence.ScopeRead}})
	ok(t, err)
	if made.CreatedBy == nil || *made.CreatedBy != admin.ID {
		t.Fatalf("created_by = %v", made.CreatedBy)
	}
	ok(t, d.RevokeToken(actx, made.ID))

	list, _, err := d.FindAudit(ctx, presence.AuditFilter{})
	ok(t, err)
	var got []string
	for _, e := range list {
		actor := "-"
		if e.ActorTokenID != nil {
			actor = *e.ActorTokenID
		}
		got = append(got, e.Action+" "+e.TargetType+" "+e.TargetID+" by "+actor)
	}
	want := []string{
		"revoke token " + made.ID + " by " + admin.ID,
		"create token " + made.ID + " by " + admin.ID,
		"restore agent a1 by -",
		"delete agent a1 by " + admin.ID,
		"create token " + admin.ID + " by -",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The actor does not outlive its transaction on a pooled connection.
	var actor *string
	ok(t, d.Pool().QueryRow(ctx, `SELECT nullif(current_setting('presenced.actor', true), '')`).Scan(&actor))
	if actor != nil {
		t.Fatalf("actor leaked: %s", *actor)
	}
	// Paging, and the report view for presence_reporting.
	page, next, err := d.FindAudit(ctx, presence.AuditFilter{Limit: 2})
	ok(t, err)
	page2, _, err := d.FindAudit(ctx, presence.AuditFilter{Limit: 2, Cursor: next})
	ok(t, err)
	if len(page) != 2 || len(page2) != 2 || page2[0].ID >= page[1].ID {
		t.Fatalf("pages: %v %v", page, page2)
	}
	tx, err := d.Pool().Begin(ctx)
	ok(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `SET LOCAL ROLE presence_reporting`)
	ok(t, err)
	var n int
	ok(t, tx.QueryRow(ctx, `SELECT count(*) FROM report.audit WHERE actor_token_id = $1`, admin.ID).Scan(&n))
	if n != 3 {
		t.Fatalf("report.audit: %d rows by the admin", n)
	}
	if _, err := tx.Exec(ctx, `SAVEPOINT s; SELECT * FROM tokens`); err == nil {
		t.Fatal("presence_reporting can read the token table")
	}
}

// No token's secret is in the database in clear: a full dump of it, data
// and schema, holds none of them, in any common encoding.
func TestDumpHoldsNoTokenSecret(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	d := db.NewDB(url)
	ok(t, d.Open(ctx))
	defer d.Close()
	mustAgent(t, d, "a1")

	var secrets []string
	_, s, err := d.CreateToken(ctx, presence.TokenInput{Scopes: []string{presence.ScopeRead}, Name: ptr("wallboard")})
	ok(t, err)
	secrets = append(secrets, s)
	_, s, err = d.CreateToken(ctx, presence.TokenInput{Scopes: []string{presence.ScopeWrite}, AgentID: ptr("a1")})
	ok(t, err)
	secrets = append(secrets, s)
	_, s, err = d.CreateFirstAdminToken(ctx, "first start")
	ok(t, err)
	secrets = append(secrets, s)
	bootstrap := "operator-chosen-bootstrap-secret-0123456789"
	tok, err := d.EnsureToken(ctx, bootstrap, presence.TokenInput{Scopes: []string{presence.ScopeAdmin}})
	ok(t, err)
	secrets = append(secrets, bootstrap)
	// Use them, so that nothing written on use stores them either.
	for _, s := range secrets {
		_, err := d.Authenticate(ctx, s)
		ok(t, err)
	}

	dump := pgDump(t, url)
	if !bytes.Contains(dump, []byte(tok.ID)) {
		t.Fatal("the dump does not hold the tokens table")
	}
	for _, s := range secrets {
		body := strings.TrimPrefix(s, db.TokenPrefix)
		forms := []string{s, body, hex.EncodeToString([]byte(s))}
		if raw, err := base64.RawURLEncoding.DecodeString(body); err == nil {
			forms = append(forms, hex.EncodeToString(raw))
		}
		for _, f := range forms {
			if bytes.Contains(dump, []byte(f)) {
				t.Fatalf("the dump holds a token secret (%q)", f)
			}
		}
	}
}

// pgDump runs the pg_dump of the test cluster's binaries on url, with the
// extra args, and returns what it writes.
func pgDump(t *testing.T, url string, args ...string) []byte {
	t.Helper()
	bin, err := pgcluster.FindBinDir()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	cmdCtx, cancel := context.WithTimeout(ctx, 60e9)
	defer cancel()
	cmd := exec.CommandContext(cmdCtx, filepath.Join(bin, "pg_dump"), append([]string{"--no-owner", "--dbname", url}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pg_dump: %v: %s", err, stderr.String())
	}
	return out
}

// The cost of authenticating a request: one index probe per request, no
// cache (so that a revocation is at once on every node).
func BenchmarkAuthenticate(b *testing.B) {
	d := dbtest.MustOpenDB(b)
	for range 1000 {
		if _, _, err := d.CreateToken(ctx, presence.TokenInput{Scopes: []string{presence.ScopeRead}}); err != nil {
			b.Fatal(err)
		}
	}
	_, secret, err := d.CreateToken(ctx, presence.TokenInput{Scopes: []string{presence.ScopeRead}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := d.Authenticate(ctx, secret); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestTokenExpiry: a token with expires_at authenticates until then and is
// refused with token_expired from then on; a first-start admin token
// counts only while it lives, and itself never expires.
func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	at := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	tok, secret, err := d.CreateToken(ctx, presence.TokenInput{Scopes: []string{presence.ScopeAdmin}, ExpiresAt: &at})
	ok(t, err)
	if tok.ExpiresAt == nil || tok.ExpiresAt.UTC().Format(time.RFC3339) != at {
		t.Fatalf("expires_at = %v, want %s", tok.ExpiresAt, at)
	}
	_, err = d.Authenticate(ctx, secret)
	ok(t, err)
	// A live admin token with an expiry: no first-start token is made.
	first, _, err := d.CreateFirstAdminToken(ctx, "first")
	ok(t, err)
	if first != nil {
		t.Fatal("a first-start admin token was made beside a live one")
	}
	_, err = d.Pool().Exec(ctx, `UPDATE tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, tok.ID)
	ok(t, err)
	_, err = d.Authenticate(ctx, secret)
	mustReason(t, err, "token_expired")
	mustCode(t, err, presence.EUNAUTHORIZED)
	// Every admin token has expired: the next start makes one, which never expires.
	first, _, err = d.CreateFirstAdminToken(ctx, "first")
	ok(t, err)
	if first == nil || first.ExpiresAt != nil {
		t.Fatalf("first-start admin token after the others expired: %+v", first)
	}
}

// Token lookups that arrive while the lookups in flight are busy go
// together in the next one, one query for all: each request gets its own
// token, an unknown or revoked one its refusal, and a request that came
// after a revocation is refused though a lookup in flight when it came had
// found the token live.
func TestTokenLookupsThatArriveTogether(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	var ids, secrets []string
	for range 3 {
		tok, secret, err := d.CreateToken(ctx, presence.TokenInput{Scopes: []string{presence.ScopeRead}})
		ok(t, err)
		ids, secrets = append(ids, tok.ID), append(secrets, secret)
	}
	sizes, release := d.HoldTokenLookups()
	type answer struct {
		tok *presence.Token
		err error
	}
	authenticate := func(secret string) chan answer {
		c := make(chan answer, 1)
		go func() {
			tok, err := d.Authenticate(ctx, secret)
			c <- answer{tok, err}
		}()
		return c
	}
	// As many lookups in flight as there may be, each past its query.
	var inFlight []chan answer
	for i := range db.MaxTokenLookups {
		inFlight = append(inFlight, authenticate(secrets[i%2]))
		if n := <-sizes; n != 1 {
			t.Fatalf("a lookup in flight carried %d secrets, want 1", n)
		}
	}
	ok(t, d.RevokeToken(ctx, ids[0]))
	later := []chan answer{authenticate(secrets[0]), authenticate(secrets[1]),
		authenticate(db.TokenPrefix + "unknown"), authenticate(secrets[2])}
	for d.QueuedTokenLookups() < len(later) {
		time.Sleep(time.Millisecond)
	}
	// One in flight ends: the lookup after it carries every request
	// that came meanwhile.
	release <- struct{}{}
	if n := <-sizes; n != len(later) {
		t.Errorf("the next lookup carried %d secrets, want %d", n, len(later))
	}
	for range inFlight {
		release <- struct{}{}
	}
	for i, c := range inFlight {
		if got := <-c; got.err != nil || got.tok.ID != ids[i%2] {
			t.Errorf("lookup in flight %d: %+v", i, got)
		}
	}
	for i, want := range []string{"", ids[1], "", ids[2]} {
		got := <-later[i]
		switch {
		case want == "" && presence.ErrorCode(got.err) != presence.EUNAUTHORIZED:
			t.Errorf("later request %d: %+v, want refused", i, got)
		case want != "" && (got.err != nil || got.tok.ID != want):
			t.Errorf("later request %d: %+v, want token %s", i, got, want)
		}
	}
}

// A presence change may be authenticated from what the node learnt of its
// token (AuthenticateForWrite: no lookup), because its write checks that
// the token is not revoked: a revoked token's change writes nothing and
// answers 401, alone and in a batch, without failing its neighbours, and
// the node then forgets the token. An expired token is looked up again.
func TestPresenceChangeChecksItsToken(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	for _, id := range []string{"t1", "t2", "t3", "t4"} {
		mustAgent(t, d, id)
	}
	write := presence.TokenInput{Scopes: []string{presence.ScopeWrite}}
	_, liveSecret, err := d.CreateToken(ctx, write)
	ok(t, err)
	gone, goneSecret, err := d.CreateToken(ctx, write)
	ok(t, err)
	lookups := d.CountTokenLookups()

	// Learnt by a lookup, then answered from memory.
	for _, secret := range []string{liveSecret, goneSecret} {
		_, err := d.AuthenticateForWrite(ctx, secret)
		ok(t, err)
		_, err = d.AuthenticateForWrite(ctx, secret)
		ok(t, err)
	}
	if n := lookups.Load(); n != 2 {
		t.Fatalf("%d token lookups for two tokens authenticated twice each, want 2", n)
	}
	gone2, gone2Secret, err := d.CreateToken(ctx, write)
	ok(t, err)
	_, err = d.AuthenticateForWrite(ctx, gone2Secret)
	ok(t, err)
	ok(t, d.RevokeToken(ctx, gone.ID))
	ok(t, d.RevokeToken(ctx, gone2.ID))
	// Revoked, but this node still knows them: no lookup.
	before := lookups.Load()
	remembered, err := d.AuthenticateForWrite(ctx, liveSecret)
	ok(t, err)
	stale, err := d.AuthenticateForWrite(ctx, goneSecret)
	ok(t, err)
	stale2, err := d.AuthenticateForWrite(ctx, gone2Secret)
	ok(t, err)
	if lookups.Load() != before {
		t.Fatal("known tokens were looked up")
	}
	// mustLookUpAndRefuse: the node forgot the token, so it is looked up
	// (and refused) again.
	mustLookUpAndRefuse := func(secret string) {
		t.Helper()
		before := lookups.Load()
		_, err := d.AuthenticateForWrite(ctx, secret)
		mustCode(t, err, presence.EUNAUTHORIZED)
		if lookups.Load() == before {
			t.Fatal("a token a write refused was answered from memory")
		}
	}
	events := func(agent string) (n int) {
		t.Helper()
		ok(t, d.Pool().QueryRow(ctx, `SELECT count(*) FROM events WHERE topic = 'agents.' || $1 || '.presence'`, agent).Scan(&n))
		return n
	}
	status := func(agent string) string {
		t.Helper()
		rec, err := d.FindPresence(ctx, agent)
		ok(t, err)
		return rec.Status.ID
	}

	// In a batch: the revoked token's items fail, their neighbours and a
	// later change of the same agent with a live token go in.
	before2 := events("t2")
	_, errs := d.RunPresenceBatchAs([]*presence.Token{remembered, stale, remembered, remembered},
		[]string{"t1", "t2", "t3", "t2"},
		[]presence.PresenceChange{{Status: "busy"}, {Status: "busy"}, {Status: "busy"}, {Status: "away"}})
	ok(t, errs[0])
	mustCode(t, errs[1], presence.EUNAUTHORIZED)
	ok(t, errs[2])
	ok(t, errs[3])
	if got := []string{status("t1"), status("t2"), status("t3")}; got[0] != "busy" || got[1] != "away" || got[2] != "busy" {
		t.Fatalf("statuses after the batch: %v", got)
	}
	if n := events("t2") - before2; n != 1 {
		t.Fatalf("t2 has %d new presence events, want 1 (the live token's change)", n)
	}
	mustLookUpAndRefuse(goneSecret)
	// Every item refused: the batch writes nothing.
	before4 := events("t4")
	_, errs = d.RunPresenceBatchAs([]*presence.Token{stale, stale}, []string{"t3", "t4"},
		[]presence.PresenceChange{{Status: "available"}, {Status: "busy"}})
	mustCode(t, errs[0], presence.EUNAUTHORIZED)
	mustCode(t, errs[1], presence.EUNAUTHORIZED)
	if status("t3") != "busy" || status("t4") != "offline" || events("t4") != before4 {
		t.Fatalf("refused batch wrote: t3 %s, t4 %s, %d new events of t4", status("t3"), status("t4"), events("t4")-before4)
	}

	// Alone (a batch of one is presence_apply's statement): nothing
	// written, and the node forgets the token.
	_, err = d.SetPresence(presence.WithToken(ctx, stale2), "t4", presence.PresenceChange{Status: "busy"})
	mustCode(t, err, presence.EUNAUTHORIZED)
	if status("t4") != "offline" || events("t4") != before4 {
		t.Fatalf("refused change wrote: t4 %s, %d new events", status("t4"), events("t4")-before4)
	}
	mustLookUpAndRefuse(gone2Secret)
	_, err = d.SetPresence(presence.WithToken(ctx, remembered), "t4", presence.PresenceChange{Status: "busy"})
	ok(t, err)
	// A change without a token (the server's own) is not checked.
	_, err = d.SetPresence(ctx, "t4", presence.PresenceChange{Status: "away"})
	ok(t, err)
	// Authenticate never answers from memory.
	before = lookups.Load()
	_, err = d.Authenticate(ctx, liveSecret)
	ok(t, err)
	if lookups.Load() == before {
		t.Fatal("Authenticate answered from memory")
	}

	// The node's memory is its own: a copy it gave out does not change it.
	remembered.ExpiresAt = ptr(time.Now().Add(-time.Second))
	if _, err := d.AuthenticateForWrite(ctx, liveSecret); err != nil {
		t.Fatalf("the node's memory changed with a copy it gave out: %v", err)
	}
	// An expired token is not answered from memory: the lookup says why.
	expiry := time.Now().Add(time.Second)
	at := expiry.UTC().Format(time.RFC3339Nano)
	_, brief, err := d.CreateToken(ctx, presence.TokenInput{Scopes: []string{presence.ScopeWrite}, ExpiresAt: &at})
	ok(t, err)
	_, err = d.AuthenticateForWrite(ctx, brief)
	ok(t, err)
	time.Sleep(time.Until(expiry) + 100*time.Millisecond)
	_, err = d.AuthenticateForWrite(ctx, brief)
	mustReason(t, err, "token_expired")
}
