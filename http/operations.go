package http

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"

	presence "github.com/presenced/presenced"
)

// openAPI is the OpenAPI 3 description of the whole API, written by hand.
// TestOpenAPIDescribesEveryRoute keeps it true: every registered route is
// described and every described route is registered.
//
//go:embed openapi.json
var openAPI []byte

var openAPIETag = func() string {
	sum := sha256.Sum256(openAPI)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}()

// OpenAPI returns the OpenAPI document served at GET /openapi.json.
func OpenAPI() []byte { return bytes.Clone(openAPI) }

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", openAPIETag)
	http.ServeContent(w, r, "openapi.json", time.Time{}, bytes.NewReader(openAPI))
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if s.Metrics == nil {
		writeError(w, http.StatusNotFound, presence.ENOTFOUND, "Metrics are not enabled on this node.")
		return
	}
	s.Metrics.ServeHTTP(w, r)
}
