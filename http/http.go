// Package http is the HTTP transport of presenced: routing, JSON in and
// out, and error answers (the table that maps presence error codes to HTTP
// statuses is in http/httperror, which the sse package and the client
// share). Callers import it as presencehttp.
package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/http/httperror"
)

// MaxBodyBytes bounds a request body; larger ones get 413.
const MaxBodyBytes = 4 << 20

// Error writes err as a JSON error (httperror.Write). Internal errors are
// logged with the request and answered with a generic message: no SQL, no
// stack.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	var bodyErr bodyError
	if r.Context().Err() != nil && !errors.As(err, &bodyErr) {
		return // the client is gone: nobody reads the answer, nothing went wrong here
	}
	switch presence.ErrorCode(err) {
	case presence.EINTERNAL:
		s.Logger.Error("internal error", "request_id", RequestID(r.Context()), "method", r.Method, "path", r.URL.Path, "err", err)
	case presence.EUNAUTHORIZED: // from the guard, or from a write that found its token revoked
		w.Header().Set("WWW-Authenticate", `Bearer realm="presenced"`)
	}
	httperror.Write(w, err)
}

// writeError answers a fixed error where no presence error is at hand.
func writeError(w http.ResponseWriter, status int, code, message string) {
	httperror.WriteCode(w, status, code, message)
}

// writeJSON writes v with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decodeJSON reads the body and decodes the one JSON value it must hold
// into v. It is the one place request bodies are read and decoded:
//
//   - a body that ends before its Content-Length or last chunk is 400
//     body_incomplete, one that trickles in slower than the read timeout
//     408, one over MaxBodyBytes 413 (observe bounds every body);
//   - malformed JSON, trailing data, unknown or duplicate member names are
//     400; names match exactly (encoding/json would also take "NAME" for
//     "name", a second way to repeat a member);
//   - invalid UTF-8 and lone surrogate escapes ("\ud800") are 422:
//     encoding/json would store them as U+FFFD, out of reach of any later
//     check;
//   - a value of the wrong type is 422 naming the field.
//
// The decoder is github.com/go-json-experiment/json (encoding/json/v2),
// whose defaults are RFC 7493 I-JSON: valid UTF-8, unique names.
func decodeJSON(r *http.Request, v any) error {
	data, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return presence.Errorf(presence.EBADREQUEST, "The body is empty; a JSON object is expected.")
	}
	return unmarshalStrict(data, v)
}

// decodeOptionalJSON is decodeJSON for bodies whose every field is
// optional: an empty body (or one of white space) leaves v as it is, so a
// client may beat or log in with no body at all.
func decodeOptionalJSON(r *http.Request, v any) error {
	data, err := readBody(r)
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		return err
	}
	return unmarshalStrict(data, v)
}

// readBody reads the whole body. observe has bounded it already; a read
// that fails is a bodyError, answered even though net/http has cancelled
// the request's context by then.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	data, err := io.ReadAll(r.Body)
	if err == nil {
		return data, nil
	}
	var maxErr *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &maxErr):
		return nil, presence.Errorf(presence.ETOOLARGE, "The body is larger than %d bytes.", maxErr.Limit)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return nil, bodyError{presence.ReasonErrorf(presence.ETIMEOUT, "body_timeout",
			"The body did not arrive within the read timeout.")}
	default: // io.ErrUnexpectedEOF, a broken chunk, a reset connection
		return nil, bodyError{presence.ReasonErrorf(presence.EBADREQUEST, "body_incomplete",
			"The body ended before its Content-Length or its last chunk.")}
	}
}

// bodyError is a request body that could not be read. net/http cancels a
// request's context when a read on its connection fails, which Error
// takes for a client that has gone; but a client whose body was cut short
// or timed out may well be waiting, and the access log must show the
// refusal, not the 200 of an empty answer. So Error answers these anyway.
type bodyError struct{ err *presence.Error }

func (e bodyError) Error() string { return e.err.Error() }
func (e bodyError) Unwrap() error { return e.err }

// unmarshalStrict decodes data into v with the rules of decodeJSON. The
// text is checked whole first, so that a malformed body is 400 even when a
// wrong type comes before the fault.
func unmarshalStrict(data []byte, v any) error {
	if err := jsonv2.Unmarshal(data, new(jsontext.Value)); err != nil {
		return syntaxError(data, err)
	}
	err := jsonv2.Unmarshal(data, v, jsonv2.RejectUnknownMembers(true))
	var semErr *jsonv2.SemanticError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jsonv2.ErrUnknownName) && errors.As(err, &semErr):
		return presence.Errorf(presence.EBADREQUEST, "Unknown field %q.", truncate(semErr.JSONPointer.LastToken(), 80))
	case errors.As(err, &semErr):
		return presence.Errorf(presence.EINVALID, "%s", typeMessage(semErr))
	default:
		return syntaxError(data, err)
	}
}

// syntaxError explains why data is not one I-JSON value.
func syntaxError(data []byte, err error) error {
	var synErr *jsontext.SyntacticError
	switch {
	case errors.Is(err, jsontext.ErrDuplicateName):
		ptr := ""
		if errors.As(err, &synErr) {
			ptr = synErr.JSONPointer.LastToken()
		}
		return presence.ReasonErrorf(presence.EBADREQUEST, "duplicate_name", "The name %q appears twice in one object.", truncate(ptr, 80))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return presence.Errorf(presence.EBADREQUEST, "Malformed JSON: the body ends early.")
	case errors.As(err, &synErr):
		// The same bytes, read with UTF-8 unchecked: if they parse, the
		// only fault is in the text of a string.
		if jsontext.Value(data).IsValid(jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true)) {
			return presence.ReasonErrorf(presence.EINVALID, "invalid_utf8",
				"A string at byte %d is not valid UTF-8 (or holds a lone surrogate escape).", synErr.ByteOffset)
		}
		return presence.Errorf(presence.EBADREQUEST, "Malformed JSON at byte %d: %v.", synErr.ByteOffset, synErr.Err)
	default:
		return presence.Errorf(presence.EBADREQUEST, "Malformed JSON: %v.", err)
	}
}

// typeMessage names the field of a value that does not fit its Go type.
func typeMessage(e *jsonv2.SemanticError) string {
	field := strings.Join(slices.Collect(e.JSONPointer.Tokens()), ".")
	if field == "" {
		field = "the body"
	}
	field = truncate(field, 120)
	want := "value"
	if e.GoType != nil {
		want = jsonKind(e.GoType.Kind().String())
	}
	got := map[jsontext.Kind]string{'n': "null", 'f': "boolean", 't': "boolean", '"': "string", '0': "number", '{': "object", '[': "array"}[e.JSONKind]
	if e.JSONKind == '0' && want == "number" {
		return fmt.Sprintf("%s must be a number in range (a whole one where a count is meant); got %s.", field, truncate(string(e.JSONValue), 40))
	}
	if got == "" {
		return fmt.Sprintf("%s must be a JSON %s.", field, want)
	}
	return fmt.Sprintf("%s must be a JSON %s, not %s.", field, want, got)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int32", "int64", "float64", "uint64":
		return "number"
	case "slice":
		return "array"
	default:
		return "object"
	}
}

// listParams reads ?limit= (1 to MaxPageSize) and ?cursor=.
func listParams(r *http.Request) (limit int, cursor string, err error) {
	return listParamsMax(r, presence.MaxPageSize)
}

// listParamsMax reads ?limit= (1 to max) and ?cursor=.
func listParamsMax(r *http.Request, max int) (limit int, cursor string, err error) {
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, convErr := strconv.Atoi(v)
		if convErr != nil || n < 1 || n > max {
			return 0, "", presence.Errorf(presence.EBADREQUEST, "limit must be a whole number from 1 to %d.", max)
		}
		limit = n
	}
	return limit, q.Get("cursor"), nil
}

// listBody is the list form of openapi.json ({"items", "next_cursor"}).
type listBody[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}
