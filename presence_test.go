package presence_test

import (
	"strings"
	"testing"

	presence "github.com/presenced/presenced"
)

// A status that is not an id at all is invalid_id, like every other
// malformed id; unknown_status is for a well-formed id that names no
// status, which only the service can tell.
func TestPresenceChangeValidate(t *testing.T) {
	t.Parallel()
	ptr := func(s string) *string { return &s }
	for _, c := range []presence.PresenceChange{
		{Status: "available"},
		{Status: "lunch"}, // well formed: whether it exists is the service's to say
		{Status: "busy", Message: ptr(""), ReasonCode: ptr("crm.call")},
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	for _, c := range []struct {
		in     presence.PresenceChange
		reason string
	}{
		{presence.PresenceChange{}, presence.EINVALID},
		{presence.PresenceChange{Status: "has space"}, "invalid_id"},
		{presence.PresenceChange{Status: "a/b"}, "invalid_id"},
		{presence.PresenceChange{Status: strings.Repeat("x", 129)}, "invalid_id"},
		{presence.PresenceChange{Status: "busy", Message: ptr(strings.Repeat("m", presence.MaxMessageLength+1))}, presence.EINVALID},
		{presence.PresenceChange{Status: "busy", ReasonCode: ptr("")}, presence.EINVALID},
	} {
		err := c.in.Validate()
		if presence.ErrorCode(err) != presence.EINVALID || presence.ErrorReason(err) != c.reason {
			t.Errorf("%+v: %v; want %s with reason %s", c.in, err, presence.EINVALID, c.reason)
		}
	}
}
