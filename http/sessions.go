package http

import (
	"net/http"

	presence "github.com/presenced/presenced"
)

func (s *Server) handleSessionOpen(w http.ResponseWriter, r *http.Request) {
	var in presence.SessionInput
	if err := decodeOptionalJSON(r, &in); err != nil {
		s.Error(w, r, err)
		return
	}
	sess, err := s.SessionService.OpenSession(r.Context(), r.PathValue("id"), in)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/sessions/"+sess.ID)
	writeJSON(w, http.StatusCreated, sess)
}

func (s *Server) handleSessionList(w http.ResponseWriter, r *http.Request) {
	items, err := s.SessionService.FindSessions(r.Context(), r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listBody[*presence.Session]{Items: items})
}

func (s *Server) handleSessionGet(w http.ResponseWriter, r *http.Request) {
	sess, err := s.SessionService.FindSession(r.Context(), r.PathValue("sid"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sess)
}

// heartbeatBody is the body of a heartbeat; it may be absent altogether.
type heartbeatBody struct {
	Idle *bool `json:"idle,omitempty"`
}

func (s *Server) handleSessionHeartbeat(w http.ResponseWriter, r *http.Request) {
	var in heartbeatBody
	if err := decodeOptionalJSON(r, &in); err != nil {
		s.Error(w, r, err)
		return
	}
	if err := s.SessionService.Heartbeat(r.Context(), r.PathValue("sid"), in.Idle); err != nil {
		s.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleSessionClose(w http.ResponseWriter, r *http.Request) {
	if err := s.SessionService.CloseSession(r.Context(), r.PathValue("sid")); err != nil {
		s.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
