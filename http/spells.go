package http

import (
	"net/http"

	presence "github.com/presenced/presenced"
)

func (s *Server) handleSpellList(w http.ResponseWriter, r *http.Request) {
	limit, cursor, err := listParams(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	q := r.URL.Query()
	f := presence.SpellFilter{AgentID: q.Get("agent"), StatusID: q.Get("status"), Cursor: cursor, Limit: limit}
	if f.From, err = timeParam(r, "from"); err == nil {
		if f.To, err = timeParam(r, "to"); err == nil {
			f.CurrentOnly, err = boolParam(r, "current")
		}
	}
	if err != nil {
		s.Error(w, r, err)
		return
	}
	items, next, err := s.SpellService.FindSpells(r.Context(), f)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listBody[*presence.Spell]{Items: items, NextCursor: next})
}

func (s *Server) handleSpellGet(w http.ResponseWriter, r *http.Request) {
	id, err := spellIDParam(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	sp, err := s.SpellService.FindSpellByID(r.Context(), id)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sp)
}

func (s *Server) handleSpellDelete(w http.ResponseWriter, r *http.Request) {
	id, err := spellIDParam(r)
	if err == nil {
		err = s.SpellService.DeleteSpell(r.Context(), id)
	}
	if err != nil {
		s.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleSpellRestore(w http.ResponseWriter, r *http.Request) {
	id, err := spellIDParam(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	sp, err := s.SpellService.RestoreSpell(r.Context(), id)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sp)
}

func (s *Server) handleSpellsUpdated(w http.ResponseWriter, r *http.Request) {
	s.serveWindow(w, r, "updated_at", s.SpellService.SpellsUpdated)
}

func (s *Server) handleSpellsDeleted(w http.ResponseWriter, r *http.Request) {
	s.serveWindow(w, r, "deleted_at", s.SpellService.SpellsDeleted)
}
