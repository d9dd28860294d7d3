package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	presencehttp "github.com/presenced/presenced/http"
)

// authConfig is how a node authenticates and protects itself.
type authConfig struct {
	AdminToken         string
	RateLimit          float64
	CORSOrigins        []string
	PublicMetrics      bool
	MaxStreamsPerToken int
	MaxStreamTopics    int
}

// adminTokenFile is where the first start writes the admin token it makes.
const adminTokenFile = "admin.token"

// authFlags registers the flags of authConfig.
func authFlags(ef envFlags, c *authConfig) {
	ef.String(&c.AdminToken, "admin-token", "PRESENCED_ADMIN_TOKEN", "",
		"a bootstrap admin token of your choice (32+ characters, e.g. openssl rand -hex 32); without one, the first start makes one and writes it to <data-dir>/"+adminTokenFile)
	ef.Float(&c.RateLimit, "rate-limit", "PRESENCED_RATE_LIMIT", 100,
		"requests per second per token (burst twice that; heartbeats counted apart); 0 for no limit")
	ef.List(&c.CORSOrigins, "cors-origin", "PRESENCED_CORS_ORIGINS",
		"a browser origin allowed to call the API, e.g. https://wallboard.example.com (repeatable or comma-separated; * for any)")
	ef.Bool(&c.PublicMetrics, "public-metrics", "PRESENCED_PUBLIC_METRICS", false,
		"serve /metrics without a token (otherwise it needs presence:read)")
	ef.Int(&c.MaxStreamsPerToken, "max-streams-per-token", "PRESENCED_MAX_STREAMS_PER_TOKEN", presencehttp.DefaultMaxStreamsPerToken,
		"SSE streams one token may hold open on one node")
	ef.Int(&c.MaxStreamTopics, "max-stream-topics", "PRESENCED_MAX_STREAM_TOPICS", presence.MaxTopics,
		"topics one SSE stream or channel may subscribe to")
}

func (c authConfig) security() presencehttp.Security {
	return presencehttp.Security{RateLimit: c.RateLimit, CORSOrigins: c.CORSOrigins,
		PublicMetrics: c.PublicMetrics, MaxStreamsPerToken: c.MaxStreamsPerToken}
}

// firstStart keeps a fresh install closed without making it harder to
// start: with no admin token configured and none in the database, it makes
// one, prints it once and writes it to <data-dir>/admin.token, readable by
// its owner only.
func firstStart(ctx context.Context, cfg Config, d *db.DB, url string, stdout io.Writer, log *slog.Logger) error {
	if cfg.Auth.AdminToken != "" {
		return nil
	}
	t, secret, err := d.CreateFirstAdminToken(ctx, "first start")
	if err != nil || t == nil {
		return err
	}
	path := filepath.Join(cfg.DataDir, adminTokenFile)
	if err := writeSecretFile(path, secret+"\n"); err != nil {
		return fmt.Errorf("write the first admin token: %w", err)
	}
	log.Info("no admin token was configured or stored: made one", "token_id", t.ID, "file", path)
	fmt.Fprintf(stdout, `
presenced: auth is on. This is the admin token; it is shown this once and kept in
%s (readable only by you):

    %s

Try it:  curl -H "Authorization: Bearer $(cat %s)" %s/v1/agents
Make narrower tokens with POST /v1/tokens or: presenced token create --scope presence:read

`, path, secret, path, url)
	return nil
}

// writeSecretFile writes a file only its owner can read, atomically.
func writeSecretFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600) // a left-over temp file may have had other bits
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

func (e envFlags) Bool(p *bool, name, env string, def bool, help string) {
	if v, ok := os.LookupEnv(env); ok {
		if b, err := strconv.ParseBool(v); err == nil {
			def = b
		}
	}
	e.fs.BoolVar(p, name, def, help+" ($"+env+")")
}

func (e envFlags) Float(p *float64, name, env string, def float64, help string) {
	if v, ok := os.LookupEnv(env); ok {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			def = f
		}
	}
	e.fs.Float64Var(p, name, def, help+" ($"+env+")")
}

// List registers a repeatable flag that also takes comma-separated values;
// the environment variable gives the list used when the flag is absent.
func (e envFlags) List(p *[]string, name, env, help string) {
	if v, ok := os.LookupEnv(env); ok {
		*p = splitList(v)
	}
	e.fs.Var(&listFlag{p: p}, name, help+" ($"+env+")")
}

type listFlag struct {
	p   *[]string
	set bool
}

func (l *listFlag) String() string {
	if l == nil || l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l *listFlag) Set(v string) error {
	if !l.set { // the first flag replaces the environment's list
		*l.p, l.set = nil, true
	}
	*l.p = append(*l.p, splitList(v)...)
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
