package presence

import (
	"fmt"
	"unicode/utf8"
)

// The rules shared by the Validate methods, which live beside their types.
// A Validate method checks values only: whether a named agent or status
// exists is its service's to check.

// checkText refuses text that is not valid UTF-8, holds a NUL character or
// has fewer than min or more than max characters.
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

// checkRange refuses a number, when given, outside min to max.
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

// truncate cuts s to n bytes for an error message that quotes it.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
