package http

import (
	"net/http"

	presence "github.com/presenced/presenced"
)

func (s *Server) handleQueuePut(w http.ResponseWriter, r *http.Request) {
	var in presence.QueueInput
	if err := decodeOptionalJSON(r, &in); err != nil {
		s.Error(w, r, err)
		return
	}
	in.ID = r.PathValue("q")
	q, created, err := s.QueueService.PutQueue(r.Context(), in)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/queues/"+q.ID)
	}
	writeJSON(w, status, q)
}

func (s *Server) handleQueueGet(w http.ResponseWriter, r *http.Request) {
	q, err := s.QueueService.FindQueueByID(r.Context(), r.PathValue("q"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, q)
}

func (s *Server) handleQueueList(w http.ResponseWriter, r *http.Request) {
	limit, cursor, err := listParams(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	items, next, err := s.QueueService.FindQueues(r.Context(), presence.QueueFilter{Cursor: cursor, Limit: limit})
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listBody[*presence.Queue]{Items: items, NextCursor: next})
}

func (s *Server) handleQueueLogin(w http.ResponseWriter, r *http.Request) {
	rec, err := s.QueueService.LoginQueue(r.Context(), r.PathValue("id"), r.PathValue("q"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (s *Server) handleQueueLogout(w http.ResponseWriter, r *http.Request) {
	var in presence.QueueLogout
	if err := decodeOptionalJSON(r, &in); err != nil {
		s.Error(w, r, err)
		return
	}
	rec, err := s.QueueService.LogoutQueues(r.Context(), r.PathValue("id"), in)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}
