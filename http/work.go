package http

import (
	"net/http"

	presence "github.com/presenced/presenced"
)

// handleWorkAssign is POST /v1/agents/{id}/work: 201 with the item and the
// agent's record after it; 409 over_capacity when it does not fit.
func (s *Server) handleWorkAssign(w http.ResponseWriter, r *http.Request) {
	var in presence.WorkInput
	if err := decodeJSON(r, &in); err != nil {
		s.Error(w, r, err)
		return
	}
	work, err := s.WorkService.AssignWork(r.Context(), r.PathValue("id"), in)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/work/"+work.ID)
	writeJSON(w, http.StatusCreated, work)
}

// handleWorkListOpen is GET /v1/agents/{id}/work: the agent's open items.
func (s *Server) handleWorkListOpen(w http.ResponseWriter, r *http.Request) {
	items, err := s.WorkService.FindOpenWork(r.Context(), r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listBody[*presence.Work]{Items: items})
}

func (s *Server) handleWorkGet(w http.ResponseWriter, r *http.Request) {
	work, err := s.WorkService.FindWorkByID(r.Context(), r.PathValue("wid"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, work)
}

// handleWorkClose is DELETE /v1/work/{wid}: 200 with the closed item and
// the agent's record (its capacity, and the status it went back to);
// 404 work_not_found, 409 work_closed.
func (s *Server) handleWorkClose(w http.ResponseWriter, r *http.Request) {
	work, err := s.WorkService.CloseWork(r.Context(), r.PathValue("wid"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, work)
}

// handleWorkRelease is POST /v1/work/{wid}/release {reason_code?}: an
// admin force-closes stuck work; the audit log names the token.
func (s *Server) handleWorkRelease(w http.ResponseWriter, r *http.Request) {
	var in presence.WorkRelease
	if err := decodeOptionalJSON(r, &in); err != nil {
		s.Error(w, r, err)
		return
	}
	work, err := s.WorkService.ReleaseWork(r.Context(), r.PathValue("wid"), in)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, work)
}
