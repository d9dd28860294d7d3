package http

import (
	"context"
	"net/http"
	"time"

	presence "github.com/presenced/presenced"
)

func (s *Server) handleAgentCreate(w http.ResponseWriter, r *http.Request) {
	var in presence.AgentInput
	if err := decodeJSON(r, &in); err != nil {
		s.Error(w, r, err)
		return
	}
	a, err := s.AgentService.CreateAgent(r.Context(), in)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/agents/"+a.ID)
	writeJSON(w, http.StatusCreated, a)
}

func (s *Server) handleAgentList(w http.ResponseWriter, r *http.Request) {
	limit, cursor, err := listParams(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	deleted, err := boolParam(r, "deleted")
	if err != nil {
		s.Error(w, r, err)
		return
	}
	items, next, err := s.AgentService.FindAgents(r.Context(), presence.AgentFilter{Deleted: deleted, Cursor: cursor, Limit: limit})
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listBody[*presence.Agent]{Items: items, NextCursor: next})
}

func (s *Server) handleAgentGet(w http.ResponseWriter, r *http.Request) {
	a, err := s.AgentService.FindAgentByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) handleAgentPatch(w http.ResponseWriter, r *http.Request) {
	var in presence.AgentInput
	if err := decodeJSON(r, &in); err != nil {
		s.Error(w, r, err)
		return
	}
	if in.ID != "" && in.ID != r.PathValue("id") {
		s.Error(w, r, presence.Errorf(presence.EINVALID, "id cannot be changed."))
		return
	}
	in.ID = r.PathValue("id")
	a, err := s.AgentService.UpdateAgent(r.Context(), in)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) handleAgentBatch(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Items []presence.AgentInput `json:"items"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.Error(w, r, err)
		return
	}
	items, err := s.AgentService.UpsertAgents(r.Context(), body.Items)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listBody[*presence.Agent]{Items: items})
}

func (s *Server) handleAgentDelete(w http.ResponseWriter, r *http.Request) {
	if err := s.AgentService.DeleteAgent(r.Context(), r.PathValue("id")); err != nil {
		s.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleAgentRestore(w http.ResponseWriter, r *http.Request) {
	a, err := s.AgentService.RestoreAgent(r.Context(), r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) handleAgentsUpdated(w http.ResponseWriter, r *http.Request) {
	s.serveWindow(w, r, "updated_at", s.AgentService.AgentsUpdated)
}

func (s *Server) handleAgentsDeleted(w http.ResponseWriter, r *http.Request) {
	s.serveWindow(w, r, "deleted_at", s.AgentService.AgentsDeleted)
}

// serveWindow answers a getUpdated / getDeleted request: ?start=&end= (RFC
// 3339; end defaults to now), paged. Each item is {id, agent_id?, <field>}.
func (s *Server) serveWindow(w http.ResponseWriter, r *http.Request, field string,
	find func(ctx context.Context, w presence.Window) ([]presence.Change, string, error)) {
	win, err := windowParams(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	changes, next, err := find(r.Context(), win)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	items := make([]map[string]any, len(changes))
	for i, c := range changes {
		m := map[string]any{"id": c.ID, field: c.At}
		if c.AgentID != "" {
			m["agent_id"] = c.AgentID
		}
		items[i] = m
	}
	writeJSON(w, http.StatusOK, listBody[map[string]any]{Items: items, NextCursor: next})
}

func windowParams(r *http.Request) (presence.Window, error) {
	limit, cursor, err := listParams(r)
	if err != nil {
		return presence.Window{}, err
	}
	start, err := timeParam(r, "start")
	if err != nil {
		return presence.Window{}, err
	}
	end, err := timeParam(r, "end")
	if err != nil {
		return presence.Window{}, err
	}
	if start == nil {
		return presence.Window{}, presence.Errorf(presence.EBADREQUEST, "start is required (RFC 3339, e.g. 2026-11-21T00:00:00Z).")
	}
	if end == nil {
		now := time.Now()
		end = &now
	}
	if !end.After(*start) {
		return presence.Window{}, presence.Errorf(presence.EINVALID, "end must be after start.")
	}
	return presence.Window{Start: *start, End: *end, Cursor: cursor, Limit: limit}, nil
}
