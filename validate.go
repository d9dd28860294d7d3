package presence

import (
	"fmt"
	"unicode/utf8"
)

// Validate checks the values of an agent create or update; it does not know
// whether the default status exists (the service checks that).
func (in AgentInput) Validate() error {
	if !ValidID(in.ID) {
		return ReasonErrorf(EINVALID, "invalid_id", "Agent id %q must be 1 to 128 letters, digits or ._@+-", truncate(in.ID, 140))
	}
	if in.Name != nil {
		if err := checkText("name", *in.Name, 1, MaxNameLength); err != nil {
			return err
		}
	}
	if in.DefaultStatus != nil && !ValidID(*in.DefaultStatus) {
		return Errorf(EINVALID, "default_status %q is not a status id.", truncate(*in.DefaultStatus, 140))
	}
	if err := checkRange("capacity", in.Capacity, 0, MaxCapacity); err != nil {
		return err
	}
	return checkRange("interrupt_capacity", in.InterruptCapacity, 0, MaxCapacity)
}

// Validate checks a presence change's text fields.
func (c PresenceChange) Validate() error {
	if c.Status == "" {
		return Errorf(EINVALID, "status is required.")
	}
	if !ValidID(c.Status) {
		return ReasonErrorf(EINVALID, "unknown_status", "Status %q does not exist.", truncate(c.Status, 140))
	}
	if c.Message != nil {
		if err := checkText("message", *c.Message, 0, MaxMessageLength); err != nil {
			return err
		}
	}
	if c.ReasonCode != nil {
		if err := checkText("reason_code", *c.ReasonCode, 1, MaxReasonCodeLength); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks a custom status create (create=true) or update.
func (in StatusInput) Validate(create bool) error {
	if !ValidID(in.ID) {
		return ReasonErrorf(EINVALID, "invalid_id", "Status id %q must be 1 to 128 letters, digits or ._@+-", truncate(in.ID, 140))
	}
	if create && in.Label == nil {
		return Errorf(EINVALID, "label is required.")
	}
	if in.Label != nil {
		if err := checkText("label", *in.Label, 1, MaxNameLength); err != nil {
			return err
		}
	}
	if create {
		if in.SystemPresence == nil || !IsSystemPresence(*in.SystemPresence) {
			return Errorf(EINVALID, "system_presence must be one of %v.", SystemPresences)
		}
	} else if in.SystemPresence != nil {
		return ReasonErrorf(EINVALID, "system_presence_fixed", "system_presence cannot be changed; create another status.")
	}
	return nil
}

func checkText(field, s string, min, max int) error {
	n := utf8.RuneCountInString(s)
	if !utf8.ValidString(s) {
		return Errorf(EINVALID, "%s is not valid UTF-8.", field)
	}
	if n < min || n > max {
		return Errorf(EINVALID, "%s must be %d to %d characters.", field, min, max)
	}
	for _, r := range s {
		if r == 0 {
			return Errorf(EINVALID, "%s must not contain NUL characters.", field)
		}
	}
	return nil
}

func checkRange(field string, v *int, min, max int) error {
	if v != nil && (*v < min || *v > max) {
		return Errorf(EINVALID, "%s must be between %d and %d.", field, min, max)
	}
	return nil
}

// IndexedError prefixes a batch item's error with its index, keeping the
// class, so the client knows which item to fix.
func IndexedError(i int, err error) error {
	return &Error{Code: ErrorCode(err), Reason: ErrorReason(err), Message: fmt.Sprintf("items[%d]: %s", i, ErrorMessage(err))}
}
