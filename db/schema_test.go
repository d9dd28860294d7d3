package db_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/presenced/presenced/db/dbtest"
)

var updateSchema = flag.Bool("update", false, "rewrite db/schema.sql from a freshly migrated database")

// schemaMajor is the PostgreSQL major version whose pg_dump wrote
// schema.sql: another version's dump differs in form, not in schema.
const schemaMajor = 15

// schemaHeader opens db/schema.sql.
const schemaHeader = `-- The schema that migrations/ build, for reading: do not edit (a change of
-- schema is a new migration). Written by "make schema" with the pg_dump of
-- PostgreSQL %d (--schema-only --no-owner) from a freshly migrated database;
-- "make verify" fails when it is stale (TestSchemaFile in db/schema_test.go).
-- Left out: the monthly partitions of spells (spells_pYYYYMM), which the
-- migrations make for the months around the day they run.
`

// TestSchemaFile fails when db/schema.sql is not what the migrations build
// today; "make schema" (go test -run '^TestSchemaFile$' ./db/ -update)
// rewrites it.
func TestSchemaFile(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, url)
	ok(t, err)
	var serverVersion int
	var role string
	err = conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int, quote_ident(current_user)").Scan(&serverVersion, &role)
	conn.Close(ctx)
	ok(t, err)
	if major := serverVersion / 10000; major != schemaMajor {
		t.Skipf("db/schema.sql is PostgreSQL %d's dump; this server is %d", schemaMajor, major)
	}
	dump := pgDump(t, url, "--schema-only", "--exclude-table=public.spells_p[0-9]*")
	// The default privileges name the role that migrated: postgres on the
	// private cluster, perhaps another on PRESENCED_TEST_DATABASE_URL.
	dump = bytes.ReplaceAll(dump, []byte("DEFAULT PRIVILEGES FOR ROLE "+role+" "), []byte("DEFAULT PRIVILEGES FOR ROLE postgres "))
	got := normalizeSchema(dump)
	if *updateSchema {
		ok(t, os.WriteFile("schema.sql", got, 0o644))
		return
	}
	want, err := os.ReadFile("schema.sql")
	ok(t, err)
	if !bytes.Equal(got, want) {
		t.Fatalf("db/schema.sql is stale: run make schema and commit it.\n%s", firstDifference(want, got))
	}
}

// normalizeSchema turns a pg_dump into the text of schema.sql. Out goes
// what changes between pg_dump versions and runs but says nothing about the
// schema: the preamble (banner, \restrict key, random on every run since
// 15.14, version lines, the restoring session's settings), the two settings
// pg_dump repeats before tables, and the trailer. Function bodies are
// verbatim, so a line is only ever removed whole and by exact form.
func normalizeSchema(dump []byte) []byte {
	s := string(dump)
	if i := strings.Index(s, "\n--\n-- Name: "); i >= 0 {
		s = s[i:]
	}
	if i := strings.Index(s, "\n--\n-- PostgreSQL database dump complete"); i >= 0 {
		s = s[:i]
	}
	s = pgDumpSettings.ReplaceAllString(s, "")
	return []byte(fmt.Sprintf(schemaHeader, schemaMajor) + "\n" + strings.TrimSpace(s) + "\n")
}

var pgDumpSettings = regexp.MustCompile(`(?m)^SET default_(tablespace = ''|table_access_method = heap);\n\n?`)

// firstDifference shows the first line where got differs from want.
func firstDifference(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  committed: %q\n  migrated:  %q", i+1, wl, gl)
		}
	}
	return "(no difference)"
}
