// Package migrations holds the goose SQL migrations, embedded in the binary.
// File names are zero-padded so that sqlc, which reads this folder as the
// schema, sees them in order.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
