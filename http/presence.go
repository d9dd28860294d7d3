package http

import (
	"net/http"
	"strings"

	presence "github.com/presenced/presenced"
)

func (s *Server) handlePresencePut(w http.ResponseWriter, r *http.Request) {
	var ch presence.PresenceChange
	if err := decodeJSON(r, &ch); err != nil {
		s.Error(w, r, err)
		return
	}
	rec, err := s.PresenceService.SetPresence(r.Context(), r.PathValue("id"), ch)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (s *Server) handlePresenceGet(w http.ResponseWriter, r *http.Request) {
	rec, err := s.PresenceService.FindPresence(r.Context(), r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// handlePresenceList is the bulk read. Its ETag is the newest event position
// this node has read from the log, taken before the read: every committed
// change writes an event, so while the position stands still the answer
// cannot have changed; a poll that sends If-None-Match costs no query at
// all, and one that does not is answered from bulkCache. The body may be
// newer than its ETag (never older), which at worst costs the client one
// more full read. After a write this node has answered, the read first
// waits for the listener to publish it (writeFence): read-your-writes.
func (s *Server) handlePresenceList(w http.ResponseWriter, r *http.Request) {
	limit, cursor, err := listParamsMax(r, presence.MaxBulkPresence)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	q := r.URL.Query()
	f := presence.PresenceFilter{Status: q.Get("status"), State: q.Get("state"), Cursor: cursor, Limit: limit}
	switch f.State {
	case "", presence.StateActive, presence.StateAway, presence.StateDisconnected, presence.StateOffline:
	default: // an unknown state would match nothing, silently
		s.Error(w, r, presence.Errorf(presence.EBADREQUEST, "state must be one of ACTIVE, AWAY, DISCONNECTED, OFFLINE."))
		return
	}
	for _, v := range q["agent"] {
		for _, id := range strings.Split(v, ",") {
			if id != "" {
				f.AgentIDs = append(f.AgentIDs, id)
			}
		}
	}
	if len(f.AgentIDs) > presence.MaxPageSize {
		s.Error(w, r, presence.Errorf(presence.ETOOLARGE, "At most %d agent ids per request.", presence.MaxPageSize))
		return
	}
	var pos presence.Position
	etag, synced := "", false
	if s.EventPosition != nil {
		// The position must cover this node's answered writes: else a
		// client would read the record it has just changed as it was.
		synced = s.fence.wait(r.Context(), s.EventSync)
		pos = s.EventPosition()
		etag = `W/"` + pos.String() + `"`
	}
	if synced {
		if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, etag) {
			w.Header().Set("ETag", etag)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if body, ok := s.bulk.get(r.URL.RawQuery, pos); ok {
			writeBulk(w, etag, body)
			return
		}
	}
	// Each record is encoded as it is read, so the read leaves no records
	// behind for the garbage collector, only the body (about 300 bytes a
	// record). Nothing is written to w before the read has succeeded.
	body := append(make([]byte, 0, 64<<10), `{"items":[`...)
	n := 0
	next, err := s.PresenceService.EachPresence(r.Context(), f, func(rec *presence.Record) error {
		var err error
		body, err = appendListItem(reserve(body, 1024), n, rec)
		n++
		return err
	})
	if err != nil {
		s.Error(w, r, err)
		return
	}
	body = appendListEnd(append(body, ']'), next)
	if synced {
		s.bulk.put(r.URL.RawQuery, pos, body)
	}
	writeBulk(w, etag, body)
}

func writeBulk(w http.ResponseWriter, etag string, body []byte) {
	if etag != "" {
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// etagMatches implements If-None-Match's weak comparison over a list.
func etagMatches(header, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == want {
			return true
		}
	}
	return false
}
