package http

import (
	"net/http"

	presence "github.com/presenced/presenced"
)

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	if s.Events == nil {
		s.Error(w, r, presence.Errorf(presence.EUNAVAILABLE, "Event streaming is not enabled on this node."))
		return
	}
	s.Events.ServeEvents(w, r)
}

func (s *Server) handleChannelEvents(w http.ResponseWriter, r *http.Request) {
	if s.Events == nil {
		s.Error(w, r, presence.Errorf(presence.EUNAVAILABLE, "Event streaming is not enabled on this node."))
		return
	}
	if _, err := s.ownChannel(r); err != nil {
		s.Error(w, r, err)
		return
	}
	s.Events.ServeChannel(w, r, r.PathValue("id"))
}

// ownChannel returns the channel of the path, when the request's token may
// manage it (presence.Channel.MayManage); to any other token it does not
// exist: 404, as for an unknown id. The owner never changes, so the answer
// holds for the rest of the request.
func (s *Server) ownChannel(r *http.Request) (*presence.Channel, error) {
	if s.ChannelService == nil {
		return nil, presence.ChannelNotFound(r.PathValue("id"))
	}
	c, err := s.ChannelService.FindChannelByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if !c.MayManage(presence.TokenFromContext(r.Context())) {
		return nil, presence.ChannelNotFound(r.PathValue("id"))
	}
	return c, nil
}

// channelBody is a channel as clients see it: with the URI to stream from.
type channelBody struct {
	*presence.Channel
	ConnectURI string `json:"connect_uri"`
}

func withConnectURI(c *presence.Channel) channelBody {
	return channelBody{Channel: c, ConnectURI: "/v1/channels/" + c.ID + "/events"}
}

func (s *Server) handleChannelCreate(w http.ResponseWriter, r *http.Request) {
	topics, err := readTopics(w, r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	c, err := s.ChannelService.CreateChannel(r.Context(), topics)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, withConnectURI(c))
}

func (s *Server) handleChannelGet(w http.ResponseWriter, r *http.Request) {
	c, err := s.ownChannel(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, withConnectURI(c))
}

func (s *Server) handleChannelSubscriptions(w http.ResponseWriter, r *http.Request) {
	if _, err := s.ownChannel(r); err != nil {
		s.Error(w, r, err)
		return
	}
	topics, err := readTopics(w, r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	c, err := s.ChannelService.SetChannelTopics(r.Context(), r.PathValue("id"), topics)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, withConnectURI(c))
}

// readTopics reads a channel's {"topics": [...]} body and checks that the
// request's token may read every topic in it.
func readTopics(w http.ResponseWriter, r *http.Request) ([]string, error) {
	var body struct {
		Topics []string `json:"topics"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return nil, err
	}
	if err := authorizeTopics(r, body.Topics); err != nil {
		return nil, err
	}
	return body.Topics, nil
}
