package db

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	presence "github.com/presenced/presenced"
)

// A cursor is the key of the last row of a page, as opaque base64 JSON, so
// paging is by keyset (stable under inserts) and clients cannot depend on
// its form.
type cursor struct {
	ID string    `json:"i,omitempty"`
	N  int64     `json:"n,omitempty"`
	At time.Time `json:"t,omitzero"`
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	if s == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	// A cursor's id goes back to PostgreSQL as text: one that could not be
	// stored there (NUL, invalid UTF-8) is forged, and a 400, not a 500.
	if err != nil || json.Unmarshal(b, &c) != nil || strings.ContainsRune(c.ID, 0) || !utf8.ValidString(c.ID) {
		return c, presence.Errorf(presence.EBADREQUEST, "The cursor is not valid; use next_cursor from a previous page.")
	}
	return c, nil
}

// pageLimit applies the default and the cap of list sizes.
func pageLimit(n int) int {
	switch {
	case n <= 0:
		return presence.DefaultPageSize
	case n > presence.MaxPageSize:
		return presence.MaxPageSize
	}
	return n
}

// nextCursor returns the cursor after the last row of a full page of n rows,
// or "" when the page is short (the last one). last is called only then.
func nextCursor(n, limit int, last func() cursor) string {
	if n == 0 || n < limit {
		return ""
	}
	return encodeCursor(last())
}

// lastChangeCursor keys a getUpdated / getDeleted page by (time, id).
func lastChangeCursor(items []presence.Change) cursor {
	last := items[len(items)-1]
	switch id := last.ID.(type) {
	case int64:
		return cursor{N: id, At: last.At}
	default:
		return cursor{ID: id.(string), At: last.At}
	}
}
