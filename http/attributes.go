package http

import (
	"bytes"
	"encoding/json"
	"net/http"

	presence "github.com/presenced/presenced"
)

// attributesRequest is the body of PUT /v1/agents/{id}/attributes. The
// geolocation stays raw until the handler knows whether it was absent
// (keep), null (remove) or an object (set).
type attributesRequest struct {
	Message     *string                       `json:"message"`
	Geolocation json.RawMessage               `json:"geolocation"`
	Custom      map[string]map[string]*string `json:"custom"`
}

func (s *Server) handleAttributesPut(w http.ResponseWriter, r *http.Request) {
	var req attributesRequest
	if err := decodeJSON(r, &req); err != nil {
		s.Error(w, r, err)
		return
	}
	ch := presence.AttributeChange{Message: req.Message, Custom: req.Custom}
	switch g := bytes.TrimSpace(req.Geolocation); {
	case len(g) == 0:
	case string(g) == "null":
		ch.RemoveGeolocation = true
	default:
		geo, err := decodeGeolocation(g)
		if err != nil {
			s.Error(w, r, err)
			return
		}
		ch.Geolocation = geo
	}
	set, err := s.AttributeService.SetAttributes(r.Context(), r.PathValue("id"), ch)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, set)
}

// decodeGeolocation reads {"lat": .., "lon": ..}; both are required, since
// a missing one would silently mean 0°.
func decodeGeolocation(raw []byte) (*presence.Geolocation, error) {
	var in struct {
		Lat *float64 `json:"lat"`
		Lon *float64 `json:"lon"`
	}
	if err := unmarshalStrict(raw, &in); err != nil {
		if presence.ErrorCode(err) == presence.EINVALID {
			return nil, presence.ReasonErrorf(presence.EINVALID, "invalid_geolocation",
				"geolocation must be an object {\"lat\": number, \"lon\": number} or null.")
		}
		return nil, err
	}
	if in.Lat == nil || in.Lon == nil {
		return nil, presence.ReasonErrorf(presence.EINVALID, "invalid_geolocation", "geolocation needs both lat and lon.")
	}
	return &presence.Geolocation{Lat: *in.Lat, Lon: *in.Lon}, nil
}

func (s *Server) handleAttributesGet(w http.ResponseWriter, r *http.Request) {
	set, err := s.AttributeService.FindAttributes(r.Context(), r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, set)
}

// handleAttributeDelete: the name is the rest of the path, so names with a
// slash ("phone/status") work as written; a category with a slash must be
// sent percent-encoded (%2F).
func (s *Server) handleAttributeDelete(w http.ResponseWriter, r *http.Request) {
	err := s.AttributeService.DeleteAttribute(r.Context(), r.PathValue("id"), r.PathValue("category"), r.PathValue("name"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handlePresenceQuery is the clause query; ?limit= and ?cursor= page it
// like every list.
func (s *Server) handlePresenceQuery(w http.ResponseWriter, r *http.Request) {
	limit, cursor, err := listParams(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	var q presence.PresenceQuery
	if err := decodeJSON(r, &q); err != nil {
		s.Error(w, r, err)
		return
	}
	q.Cursor, q.Limit = cursor, limit
	items, next, err := s.QueryService.QueryPresence(r.Context(), q)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listBody[*presence.Record]{Items: items, NextCursor: next})
}
