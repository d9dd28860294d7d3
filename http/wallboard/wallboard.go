// Package wallboard is the browser page GET / serves: a live grid of the
// floor that loads presence through the API and follows it over SSE
// (EventSource). It is plain HTML, CSS and JavaScript modules, embedded in
// the binary: nothing to build, nothing to fetch from elsewhere.
//
// The page's DOM contract (README.md, "Wallboard"): every agent tile
// carries data-agent-id and data-status and shows the status label as
// text. Browser tests rely on it.
package wallboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

//go:embed static
var static embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	name  string
	body  []byte
	etag  string
	ctype string
}

// assets holds the files under static/ by name; index.html is the page.
var assets = func() map[string]asset {
	m := make(map[string]asset)
	entries, err := fs.ReadDir(static, "static")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		body, err := fs.ReadFile(static, "static/"+e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(body)
		ctype := mime.TypeByExtension(path.Ext(e.Name()))
		m[e.Name()] = asset{name: e.Name(), body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ctype}
	}
	return m
}()

// contentSecurityPolicy lets the page load only its own script and style
// sheet and talk only to its own origin: a token in its address cannot be
// sent anywhere else by injected content.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Page serves the wallboard page (GET /).
func Page() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serve(w, r, assets["index.html"]) })
}

// Assets serves the page's script and style sheet (GET /wallboard/{file}).
func Assets() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[r.PathValue("file")]
		if !ok || a.name == "index.html" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"No such wallboard file."}}` + "\n"))
			return
		}
		serve(w, r, a)
	})
}

// serve answers with a, revalidated by ETag on every load (no-cache), so a
// new binary's page is picked up at once and an unchanged one costs a 304.
func serve(w http.ResponseWriter, r *http.Request, a asset) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	// The page's address may hold a token: never send it as a Referer.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}
