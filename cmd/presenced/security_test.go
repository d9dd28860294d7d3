package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
	"github.com/presenced/presenced/internal/presencetest"
)

// serveUntil runs presenced serve with args until check returns, then
// stops it, and returns what it printed.
func serveUntil(t *testing.T, check func(base string), args ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errOut presencetest.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", addr, "--log-level", "warn"}, args...), &out, &errOut)
	}()
	base := "http://" + addr
	for deadline := time.Now().Add(20 * time.Second); ; {
		if res, err := http.Get(base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %s", errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	check(base)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v: %s", err, errOut.String())
	}
	return out.String()
}

func get(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestFirstStartMakesAnAdminTokenOnce(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	dir := filepath.Join(t.TempDir(), "data") // does not exist yet
	file := filepath.Join(dir, adminTokenFile)
	var token string
	out := serveUntil(t, func(base string) {
		if code := get(t, base+"/v1/agents", ""); code != 401 {
			t.Errorf("open to the world: %d", code)
		}
		for deadline := time.Now().Add(10 * time.Second); token == ""; time.Sleep(20 * time.Millisecond) {
			if b, err := os.ReadFile(file); err == nil {
				token = strings.TrimSpace(string(b))
			} else if time.Now().After(deadline) {
				t.Fatalf("no %s: %v", file, err)
			}
		}
		if code := get(t, base+"/v1/agents", token); code != 200 {
			t.Errorf("the first admin token does not work: %d", code)
		}
	}, "--database-url", url, "--data-dir", dir)
	if !strings.Contains(out, token) || !strings.HasPrefix(token, "pdk_") {
		t.Fatalf("token %q not printed: %s", token, out)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v, want mode 0600", file, fi.Mode(), err)
	}

	// The next start finds it and prints nothing.
	out = serveUntil(t, func(base string) {
		if code := get(t, base+"/v1/agents", token); code != 200 {
			t.Errorf("after restart: %d", code)
		}
	}, "--database-url", url, "--data-dir", dir)
	if strings.Contains(out, "pdk_") {
		t.Fatalf("a second token printed: %s", out)
	}
	if b, _ := os.ReadFile(file); strings.TrimSpace(string(b)) != token {
		t.Fatal("the token file changed")
	}
}

func TestConfiguredAdminTokenMakesNoOther(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	dir := t.TempDir()
	admin := "configured-admin-token-0123456789abcdef"
	out := serveUntil(t, func(base string) {
		if code := get(t, base+"/v1/tokens", admin); code != 200 {
			t.Errorf("configured admin token: %d", code)
		}
		if code := get(t, base+"/healthz", ""); code != 200 {
			t.Errorf("healthz: %d", code)
		}
	}, "--database-url", url, "--data-dir", dir, "--admin-token", admin, "--rate-limit", "5", "--cors-origin", "https://a.example,https://b.example")
	if _, err := os.Stat(filepath.Join(dir, adminTokenFile)); !os.IsNotExist(err) || strings.Contains(out, "pdk_") {
		t.Fatalf("a token was made although one is configured: %v %s", err, out)
	}
	_, _, err := runCmd(t, t.Context(), "serve", "--database-url", url, "--admin-token", "short", "--addr", "127.0.0.1:0", "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "32") {
		t.Fatalf("a short admin token: %v", err)
	}
}

func TestTokenCommand(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	d := db.NewDB(url)
	if err := d.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateAgent(t.Context(), presence.AgentInput{ID: "a1"}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	out, errOut, err := runCmd(t, t.Context(), "token", "create", "--scope", "presence:read,presence:write", "--agent", "a1",
		"--name", "softphone", "--expires-at", "2099-01-31T18:00:00Z", "--database-url", url)
	secret := strings.TrimSpace(out)
	if err != nil || !strings.HasPrefix(secret, "pdk_") || strings.Count(out, "\n") != 1 || !strings.Contains(errOut, "shown this once") {
		t.Fatalf("create: %q %q %v", out, errOut, err)
	}
	out, _, err = runCmd(t, t.Context(), "token", "list", "--database-url", url)
	if err != nil || !strings.Contains(out, "softphone") || !strings.Contains(out, "a1") || strings.Contains(out, secret) ||
		!strings.Contains(out, "2099-01-31 18:00:00Z") {
		t.Fatalf("list: %q %v", out, err)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if out, _, err = runCmd(t, t.Context(), "token", "revoke", id, "--database-url", url); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %q %v", out, err)
	}
	for _, args := range [][]string{
		{"token", "create", "--database-url", url},
		{"token", "create", "--scope", "root", "--database-url", url},
		{"token", "create", "--scope", "admin", "--agent", "a1", "--database-url", url},
		{"token", "create", "--scope", "presence:read", "--agent", "nobody", "--database-url", url},
		{"token", "create", "--scope", "presence:read", "--expires-at", "2020-01-01T00:00:00Z", "--database-url", url},
		{"token", "create", "--scope", "presence:read", "--expires-at", "soon", "--database-url", url},
		{"token", "revoke", "nope", "--database-url", url},
		{"token", "frobnicate", "--database-url", url},
	} {
		if _, _, err := runCmd(t, t.Context(), args...); exitCode(err) != 2 {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	_, errOut, _ = runCmd(t, t.Context(), "serve", "--help") // flag.ErrHelp
	for _, f := range []string{"$PRESENCED_ADMIN_TOKEN", "--rate-limit", "--cors-origin", "--public-metrics", "--max-streams-per-token"} {
		if !strings.Contains(errOut, strings.TrimPrefix(f, "--")) {
			t.Errorf("serve --help lacks %s", f)
		}
	}
}
