package presence

import (
	"errors"
	"fmt"
)

// Error codes name the class of a failure. The HTTP layer owns the one table
// that maps each class to a status code (http/httperror, shared by the
// http and sse packages and the client); everything below it speaks codes.
const (
	EINVALID      = "invalid"      // valid request, values that break a rule (422)
	EBADREQUEST   = "bad_request"  // malformed request: JSON, parameters (400)
	ENOTFOUND     = "not_found"    // unknown or deleted resource (404)
	EMETHOD       = "method"       // the resource exists; the method is not served on it (405)
	ECONFLICT     = "conflict"     // conflicts with the current state (409)
	ETOOLARGE     = "too_large"    // body or list over a limit (413)
	ETIMEOUT      = "timeout"      // the request did not arrive within the read timeout (408)
	EUNAUTHORIZED = "unauthorized" // no or bad credentials (401)
	EFORBIDDEN    = "forbidden"    // credentials lack the scope (403)
	ERATELIMIT    = "rate_limited" // too many requests (429)
	EUNAVAILABLE  = "unavailable"  // a dependency is down; retry later (503)
	EINTERNAL     = "internal"     // a bug or an unexpected failure (500)
	ERESET        = "reset"        // an event position older than the retention window (503; streams send KindReset instead)
)

// Error is the one error type the domain returns. Code is the class (one of
// the E* constants); Reason, when set, is a more precise machine-readable code
// that clients may switch on (e.g. "not_in_queue", "over_capacity"). Message
// is a sentence for a human and never carries SQL or stack traces.
type Error struct {
	Code    string
	Reason  string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("presence error: code=%s reason=%s message=%s", e.Code, e.Reason, e.Message)
	}
	return fmt.Sprintf("presence error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error of the given class with a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ReasonErrorf returns an *Error with a class, a precise reason and a message.
func ReasonErrorf(code, reason string, format string, args ...any) *Error {
	return &Error{Code: code, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the class of err: its Code for an *Error, EINTERNAL for
// any other non-nil error, "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorReason returns the precise machine code of err: its Reason if set,
// otherwise its class.
func ErrorReason(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Reason != "" {
		return e.Reason
	}
	return ErrorCode(err)
}

// ErrorMessage returns the human message of err. Internal errors get a
// generic sentence so that no detail of the failure leaks to clients.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
