// Package httperror is the HTTP form of presence errors: the one table
// from error class to HTTP status, and the JSON body of every error
// answer, {"error": {"code": "...", "message": "..."}} (the Error schema
// of http/openapi.json). The server's http and sse packages write errors
// with it and the client reads them with it, so that a class means one
// status everywhere. It imports only the domain, so the client does not
// pull in the server.
package httperror

import (
	"encoding/json"
	"io"
	"net/http"

	presence "github.com/presenced/presenced"
)

// statuses maps each error class to its HTTP status. Where two classes
// share a status the first is the one Code returns for it. A class not
// listed is a bug and answers 500.
var statuses = []struct {
	code   string
	status int
}{
	{presence.EBADREQUEST, http.StatusBadRequest},
	{presence.EUNAUTHORIZED, http.StatusUnauthorized},
	{presence.EFORBIDDEN, http.StatusForbidden},
	{presence.ENOTFOUND, http.StatusNotFound},
	{presence.EMETHOD, http.StatusMethodNotAllowed},
	{presence.ETIMEOUT, http.StatusRequestTimeout},
	{presence.ECONFLICT, http.StatusConflict},
	{presence.ETOOLARGE, http.StatusRequestEntityTooLarge},
	{presence.EINVALID, http.StatusUnprocessableEntity},
	{presence.ERATELIMIT, http.StatusTooManyRequests},
	{presence.EINTERNAL, http.StatusInternalServerError},
	{presence.EUNAVAILABLE, http.StatusServiceUnavailable},
	// A stream turns ERESET into a reset event (package sse); should one
	// reach an answer all the same, a retry gets that event.
	{presence.ERESET, http.StatusServiceUnavailable},
}

// Status returns the HTTP status of an error class; 500 for one not in
// the table.
func Status(code string) int {
	for _, s := range statuses {
		if s.code == code {
			return s.status
		}
	}
	return http.StatusInternalServerError
}

// Code returns the error class of an HTTP status: the first class the
// table maps to it, or EUNAVAILABLE for a status it does not hold (a
// gateway's 502 or 504: try again later).
func Code(status int) string {
	for _, s := range statuses {
		if s.status == status {
			return s.code
		}
	}
	return presence.EUNAVAILABLE
}

// Body is the JSON of every error answer.
type Body struct {
	Error Detail `json:"error"`
}

// Detail is the error of a Body. Code is the most precise machine code:
// the error's reason (e.g. "agent_not_found", "token_expired") when it has
// one, else its class; Message is a sentence for people.
type Detail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Write answers err: the status of its class, and its reason (or class)
// and message in a Body. The message of an internal error is a generic
// sentence (presence.ErrorMessage). Logging is the caller's.
func Write(w http.ResponseWriter, err error) {
	WriteCode(w, Status(presence.ErrorCode(err)), presence.ErrorReason(err), presence.ErrorMessage(err))
}

// WriteCode answers status with Body{code, message}. A 503 gets
// Retry-After: 1 unless the caller set one: the database is unreachable
// or failing over (docs/ha.md), and a retry in a second is likely to find
// the new primary.
func WriteCode(w http.ResponseWriter, status int, code, message string) {
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Body{Error: Detail{Code: code, Message: message}})
}

// maxBody bounds the error body Read reads: ours are a few hundred bytes,
// and a proxy's error page is not worth more.
const maxBody = 64 << 10

// Read returns the error an answer that is not a success carries: a
// *presence.Error with the class of its status as Code, and the body's
// code as Reason when that is more precise. An answer without a JSON
// error body (a proxy's) gets a message naming its status.
func Read(resp *http.Response) *presence.Error {
	code := Code(resp.StatusCode)
	var body Body
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if json.Unmarshal(raw, &body) != nil || body.Error.Code == "" {
		return presence.Errorf(code, "The server answered %s.", resp.Status)
	}
	e := &presence.Error{Code: code, Message: body.Error.Message}
	if body.Error.Code != code {
		e.Reason = body.Error.Code
	}
	return e
}
