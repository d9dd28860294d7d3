package http

import (
	"net/http"

	presence "github.com/presenced/presenced"
)

func (s *Server) handleStatusList(w http.ResponseWriter, r *http.Request) {
	items, err := s.StatusService.FindStatuses(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listBody[*presence.Status]{Items: items})
}

func (s *Server) handleStatusCreate(w http.ResponseWriter, r *http.Request) {
	var in presence.StatusInput
	if err := decodeJSON(r, &in); err != nil {
		s.Error(w, r, err)
		return
	}
	st, err := s.StatusService.CreateStatus(r.Context(), in)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, st)
}

func (s *Server) handleStatusPatch(w http.ResponseWriter, r *http.Request) {
	var in presence.StatusInput
	if err := decodeJSON(r, &in); err != nil {
		s.Error(w, r, err)
		return
	}
	if in.ID != "" && in.ID != r.PathValue("id") {
		s.Error(w, r, presence.Errorf(presence.EINVALID, "id cannot be changed."))
		return
	}
	in.ID = r.PathValue("id")
	st, err := s.StatusService.UpdateStatus(r.Context(), in)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleStatusDelete(w http.ResponseWriter, r *http.Request) {
	if err := s.StatusService.DeleteStatus(r.Context(), r.PathValue("id")); err != nil {
		s.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
