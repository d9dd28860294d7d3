package http

import (
	"net/http"

	presence "github.com/presenced/presenced"
)

// tokenCreated is the answer to POST /v1/tokens: the only time the secret
// is shown.
type tokenCreated struct {
	*presence.Token
	Secret string `json:"token"`
}

func (s *Server) handleTokenCreate(w http.ResponseWriter, r *http.Request) {
	var in presence.TokenInput
	if err := decodeJSON(r, &in); err != nil {
		s.Error(w, r, err)
		return
	}
	t, secret, err := s.TokenService.CreateToken(r.Context(), in)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, tokenCreated{Token: t, Secret: secret})
}

func (s *Server) handleTokenList(w http.ResponseWriter, r *http.Request) {
	limit, cursor, err := listParams(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	items, next, err := s.TokenService.FindTokens(r.Context(), presence.TokenFilter{Cursor: cursor, Limit: limit})
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listBody[*presence.Token]{Items: items, NextCursor: next})
}

func (s *Server) handleTokenRevoke(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.TokenService.RevokeToken(r.Context(), id); err != nil {
		s.Error(w, r, err)
		return
	}
	// Other nodes end the token's streams when they read the revocation
	// from the event log; this one need not wait for it.
	s.streams.end(id)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleAuditList(w http.ResponseWriter, r *http.Request) {
	limit, cursor, err := listParams(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	q := r.URL.Query()
	items, next, err := s.AuditLog.FindAudit(r.Context(), presence.AuditFilter{
		Action: q.Get("action"), TargetType: q.Get("target_type"), ActorTokenID: q.Get("actor"),
		Cursor: cursor, Limit: limit})
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listBody[*presence.AuditEntry]{Items: items, NextCursor: next})
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
