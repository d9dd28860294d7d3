package http

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	presence "github.com/presenced/presenced"
)

// timeParam reads an optional RFC 3339 time from the query string.
func timeParam(r *http.Request, name string) (*time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, presence.Errorf(presence.EBADREQUEST, "%s must be an RFC 3339 time with a zone, e.g. 2026-11-21T10:00:00Z.", name)
	}
	return &t, nil
}

// boolParam reads an optional true/false from the query string.
func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, presence.Errorf(presence.EBADREQUEST, "%s must be true or false.", name)
	}
	return b, nil
}

// spellIDParam reads a spell id from the path; one that is not a number
// cannot exist.
func spellIDParam(r *http.Request) (int64, error) {
	n, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || n < 1 {
		return 0, presence.ReasonErrorf(presence.ENOTFOUND, "spell_not_found", "Spell %q does not exist.", r.PathValue("id"))
	}
	return n, nil
}

// checkQuery refuses a query string that does not parse (a ";" separator,
// a bad %-escape, more than net/url's 10,000 parameters), that names a
// parameter not in params, or that repeats one not marked "name*".
// r.URL.Query() drops what it cannot parse without a word, and a dropped
// filter would widen the answer; hence 400, never a guess.
func checkQuery(raw string, params []string) error {
	if raw == "" {
		return nil
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return presence.ReasonErrorf(presence.EBADREQUEST, "invalid_query", "The query string does not parse: %v.", err)
	}
	for name, vs := range q {
		switch {
		case slices.Contains(params, name+"*"):
		case !slices.Contains(params, name):
			if len(params) == 0 {
				return presence.ReasonErrorf(presence.EBADREQUEST, "invalid_query", "This endpoint takes no query parameters; got %q.", truncate(name, 40))
			}
			return presence.ReasonErrorf(presence.EBADREQUEST, "invalid_query", "Unknown query parameter %q; this endpoint takes %s.",
				truncate(name, 40), strings.ReplaceAll(strings.Join(params, ", "), "*", ""))
		case len(vs) > 1:
			return presence.ReasonErrorf(presence.EBADREQUEST, "invalid_query", "The query parameter %q may be given once.", truncate(name, 40))
		}
	}
	return nil
}

// checkPathText refuses a path whose decoded form is not valid text
// (invalid UTF-8 such as %ff, or a NUL): 400 on every route, before any
// handler or the database sees its parameters.
func checkPathText(r *http.Request) error {
	if p := r.URL.Path; !utf8.ValidString(p) || strings.IndexByte(p, 0) >= 0 {
		return presence.Errorf(presence.EBADREQUEST, "The path is not valid text (invalid UTF-8 or a NUL character, e.g. %%ff or %%00).")
	}
	return nil
}
