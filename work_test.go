package presence_test

import (
	"strings"
	"testing"

	presence "github.com/presenced/presenced"
)

func TestWorkInputValidate(t *testing.T) {
	t.Parallel()
	ptr := func(s string) *string { return &s }
	for _, in := range []presence.WorkInput{
		{Channel: "chat", Units: 1},
		{Channel: "voice", Units: presence.MaxCapacity, Interruptible: true},
		{ID: ptr("case-42@crm.example"), Channel: "e-mail.eu", Units: 3},
	} {
		if err := in.Validate(); err != nil {
			t.Errorf("%+v: %v", in, err)
		}
	}
	for _, c := range []struct {
		in     presence.WorkInput
		reason string
	}{
		{presence.WorkInput{Channel: "chat"}, "invalid_units"},
		{presence.WorkInput{Channel: "chat", Units: -1}, "invalid_units"},
		{presence.WorkInput{Channel: "chat", Units: presence.MaxCapacity + 1}, "invalid_units"},
		{presence.WorkInput{Units: 1}, presence.EINVALID},
		{presence.WorkInput{Channel: "chat room", Units: 1}, presence.EINVALID},
		{presence.WorkInput{Channel: strings.Repeat("c", 129), Units: 1}, presence.EINVALID},
		{presence.WorkInput{ID: ptr(""), Channel: "chat", Units: 1}, "invalid_id"},
		{presence.WorkInput{ID: ptr("a b"), Channel: "chat", Units: 1}, "invalid_id"},
	} {
		err := c.in.Validate()
		if presence.ErrorCode(err) != presence.EINVALID || presence.ErrorReason(err) != c.reason {
			t.Errorf("%+v: %v, want reason %s", c.in, err, c.reason)
		}
	}
	if err := (presence.WorkRelease{ReasonCode: ptr(strings.Repeat("r", 65))}).Validate(); presence.ErrorCode(err) != presence.EINVALID {
		t.Errorf("long reason code: %v", err)
	}
	if err := (presence.WorkRelease{}).Validate(); err != nil {
		t.Errorf("empty release: %v", err)
	}
}
