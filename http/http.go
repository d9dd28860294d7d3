// Package http is the HTTP transport of presenced: routing, JSON in and out,
// and the one table that maps presence error codes to HTTP statuses.
// Callers import it as presencehttp.
package http

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	presence "github.com/presenced/presenced"
)

// MaxBodyBytes bounds a request body; larger ones get 413.
const MaxBodyBytes = 4 << 20

// codes maps each error class to its HTTP status. Anything not listed is a
// bug and answers 500.
var codes = map[string]int{
	presence.EBADREQUEST:   http.StatusBadRequest,
	presence.EUNAUTHORIZED: http.StatusUnauthorized,
	presence.EFORBIDDEN:    http.StatusForbidden,
	presence.ENOTFOUND:     http.StatusNotFound,
	presence.ECONFLICT:     http.StatusConflict,
	presence.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	presence.EINVALID:      http.StatusUnprocessableEntity,
	presence.ERATELIMIT:    http.StatusTooManyRequests,
	presence.EUNAVAILABLE:  http.StatusServiceUnavailable,
	presence.EINTERNAL:     http.StatusInternalServerError,
}

// ErrorStatusCode returns the HTTP status of a presence error code.
func ErrorStatusCode(code string) int {
	if v, ok := codes[code]; ok {
		return v
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON error of API.md.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Error writes err as a JSON error. Internal errors are logged with the
// request and answered with a generic message: no SQL, no stack.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client is gone: nobody reads the answer, nothing went wrong here
	}
	code := presence.ErrorCode(err)
	if code == presence.EINTERNAL {
		s.Logger.Error("internal error", "request_id", RequestID(r.Context()), "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, ErrorStatusCode(code), presence.ErrorReason(err), presence.ErrorMessage(err))
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	var body errorBody
	body.Error.Code, body.Error.Message = code, message
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		// The database is unreachable or failing over (docs/ha.md): a
		// retry in a second is likely to find the new primary.
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// writeJSON writes v with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decodeJSON reads one JSON value from the body into v: unknown fields,
// trailing data and malformed JSON are 400, an over-long body 413, wrong
// types 422 naming the field.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return presence.Errorf(presence.EBADREQUEST, "The body must hold exactly one JSON value.")
	}
	return nil
}

func jsonError(err error) error {
	var maxErr *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &maxErr):
		return presence.Errorf(presence.ETOOLARGE, "The body is larger than %d bytes.", maxErr.Limit)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "the body"
		}
		return presence.Errorf(presence.EINVALID, "%s must be a JSON %s, not %s.", field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return presence.Errorf(presence.EBADREQUEST, "Malformed JSON at byte %d: %v.", syntaxErr.Offset, err)
	case errors.Is(err, io.EOF):
		return presence.Errorf(presence.EBADREQUEST, "The body is empty; a JSON object is expected.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return presence.Errorf(presence.EBADREQUEST, "Malformed JSON: the body ends early.")
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return presence.Errorf(presence.EBADREQUEST, "Unknown field %s.", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return presence.Errorf(presence.EBADREQUEST, "Malformed JSON: %v.", err)
	}
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

// listBody is the list form of API.md.
type listBody[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}
