package db_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
)

// TestSecurityDefinerFunctionsPinSearchPath fails when any SECURITY
// DEFINER function in the database (every migration's, present and
// future) runs without a fixed search_path that ends with pg_temp: without
// one, a caller's temporary objects can shadow the tables it reads and run
// code as its owner (issue 11).
func TestSecurityDefinerFunctionsPinSearchPath(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	// One made after the migrations, as a later migration would.
	_, err := d.Pool().Exec(ctx, `CREATE FUNCTION public.made_later() RETURNS int LANGUAGE sql AS 'SELECT 1'`)
	ok(t, err)
	rows, err := d.Pool().Query(ctx, `
		SELECT p.oid::regprocedure::text, coalesce(p.proconfig, '{}')
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')`)
	ok(t, err)
	type fn struct {
		Name   string
		Config []string
	}
	fns, err := pgx.CollectRows(rows, pgx.RowToStructByPos[fn])
	ok(t, err)
	if len(fns) == 0 {
		t.Fatal("no SECURITY DEFINER function found; the report functions are (is the query wrong?)")
	}
	for _, f := range fns {
		if !searchPathEndsWithPgTemp(f.Config) {
			t.Errorf("SECURITY DEFINER function %s has proconfig %q: it needs SET search_path = pg_catalog, pg_temp (pg_temp last) and schema-qualified names", f.Name, f.Config)
		}
	}
}

func searchPathEndsWithPgTemp(config []string) bool {
	for _, c := range config {
		v, found := strings.CutPrefix(c, "search_path=")
		if !found {
			continue
		}
		parts := strings.Split(v, ",")
		last := strings.Trim(strings.TrimSpace(parts[len(parts)-1]), `"`)
		return last == "pg_temp"
	}
	return false
}

var reporterSeq atomic.Int64

// reportingLogin makes a LOGIN role that is a member of presence_reporting
// and returns a connection as it to d's database. The role is dropped when
// t ends.
func reportingLogin(t *testing.T, d *db.DB) *pgx.Conn {
	t.Helper()
	role := fmt.Sprintf("reporter_%d_%d", os.Getpid(), reporterSeq.Add(1))
	password := "pw-" + role
	_, err := d.Pool().Exec(ctx, fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s' IN ROLE presence_reporting`, role, password))
	ok(t, err)
	t.Cleanup(func() {
		if _, err := d.Pool().Exec(ctx, "DROP ROLE IF EXISTS "+role); err != nil {
			t.Errorf("drop the test role: %v", err)
		}
	})
	cfg := d.Pool().Config().ConnConfig.Copy()
	cfg.User, cfg.Password = role, password
	conn, err := pgx.ConnectConfig(ctx, cfg)
	ok(t, err)
	t.Cleanup(func() {
		_, _ = conn.Exec(ctx, "DISCARD TEMP") // the role owns nothing once gone: DROP ROLE works
		_ = conn.Close(ctx)
	})
	var who string
	ok(t, conn.QueryRow(ctx, `SELECT current_user`).Scan(&who))
	if who != role {
		t.Fatalf("connected as %q, want %q", who, role)
	}
	return conn
}

// TestReportRoleCannotEscalate logs in as a member of presence_reporting
// and tries what issue 11 found: temporary views named after every table
// the report functions read, whose rows come from a temporary function
// that writes to the audit log. They must change nothing the functions
// answer and run nothing as the functions' owner.
func TestReportRoleCannotEscalate(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	_, err := d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "available"})
	ok(t, err)
	_, err = d.Pool().Exec(ctx, `INSERT INTO work_items (agent_id, channel, units, assigned_at) VALUES ('a1', 'voice', 1, now() - interval '1 minute')`)
	ok(t, err)
	conn := reportingLogin(t, d)

	from, to := time.Now().Add(-24*time.Hour), time.Now().Add(time.Hour)
	read := func() string {
		t.Helper()
		var out []string
		for _, q := range []string{
			`SELECT agent_id, status_id, seconds > 0 FROM report.status_time($1, $2, 'UTC') ORDER BY 1, 2`,
			`SELECT id, agent_id, status_id, idle_ms IS NOT NULL, average_capacity FROM report.spells WHERE $1::timestamptz < $2 ORDER BY id`,
			`SELECT at_capacity_ms >= 0, average_capacity > 0 FROM report.capacity_figures('a1', $1, $2, 1)`,
			`SELECT agent_id, status_id FROM report.current_presence WHERE $1::timestamptz < $2`,
		} {
			rows, err := conn.Query(ctx, q, from, to)
			ok(t, err)
			vals, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
				v, err := r.Values()
				return fmt.Sprint(v), err
			})
			ok(t, err)
			out = append(out, strings.Join(vals, ";"))
		}
		return strings.Join(out, "\n")
	}
	want := read()
	if !strings.Contains(want, "a1") {
		t.Fatalf("the report functions see nothing of a1:\n%s", want)
	}

	// The bait: a temporary function that writes as whoever runs it, and
	// temporary views named after the tables, each calling it.
	_, err = conn.Exec(ctx, `
		CREATE FUNCTION pg_temp.bait() RETURNS boolean LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO public.audit (action, target_type, target_id) VALUES ('pwned', 'token', 'x');
			RETURN true;
		END $$;
		CREATE TEMP VIEW spells AS
			SELECT 1::bigint AS id, 'evil'::text AS agent_id, 'available'::text AS status_id,
			       now() - interval '1 hour' AS started_at, NULL::timestamptz AS ended_at,
			       NULL::timestamptz AS deleted_at, 1 AS configured_capacity
			WHERE pg_temp.bait();
		CREATE TEMP VIEW statuses AS
			SELECT 'available'::text AS id, 'EVIL'::text AS label, 'AVAILABLE'::text AS system_presence, false AS is_away
			WHERE pg_temp.bait();
		CREATE TEMP VIEW work_items AS
			SELECT 'w'::text AS id, 'a1'::text AS agent_id, 'voice'::text AS channel, 1000 AS units,
			       false AS interruptible, now() - interval '2 hour' AS assigned_at, NULL::timestamptz AS closed_at
			WHERE pg_temp.bait();
		CREATE TEMP VIEW agents AS
			SELECT 'evil'::text AS id, 'evil'::text AS name, NULL::timestamptz AS deleted_at, 1 AS capacity
			WHERE pg_temp.bait();
		CREATE TEMP VIEW agent_states AS
			SELECT 'evil'::text AS agent_id WHERE pg_temp.bait();
		CREATE TEMP VIEW spell_rollup_days AS
			SELECT current_date - 1 AS day, now() AS rolled_at WHERE pg_temp.bait();
		CREATE TEMP VIEW spell_rollup_dirty AS
			SELECT current_date AS day WHERE pg_temp.bait();
		CREATE TEMP VIEW spell_rollups AS
			SELECT current_date - 1 AS day, 'evil'::text AS agent_id, 'available'::text AS status_id, 1::numeric AS seconds
			WHERE pg_temp.bait();
		CREATE FUNCTION pg_temp.spell_capacity_figures(text, timestamptz, timestamptz, integer,
				OUT at_capacity_ms bigint, OUT idle_ms bigint, OUT average_capacity double precision)
			LANGUAGE sql AS $$ SELECT 0::bigint, 0::bigint, 99::double precision WHERE pg_temp.bait() $$;`)
	ok(t, err)
	if got := read(); got != want {
		t.Errorf("temporary objects changed what the report functions read:\n%s\nwant:\n%s", got, want)
	}
	var n int
	ok(t, d.Pool().QueryRow(ctx, `SELECT count(*) FROM audit WHERE action = 'pwned'`).Scan(&n))
	if n != 0 {
		t.Errorf("a temporary function ran as the report functions' owner: %d audit rows written", n)
	}
}

// TestReportRoleIsReadOnly: a member of presence_reporting cannot read the
// tokens, write any table or view, create anything outside its temporary
// schema, or call a function of the service.
func TestReportRoleIsReadOnly(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	conn := reportingLogin(t, d)
	denied := func(sql string, args ...any) {
		t.Helper()
		_, err := conn.Exec(ctx, sql, args...)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" { // insufficient_privilege
			t.Errorf("%s: err = %v, want permission denied", sql, err)
		}
	}
	denied(`SELECT * FROM public.tokens`)
	denied(`SELECT secret_hash FROM public.tokens`)
	denied(`SELECT * FROM public.audit`)
	denied(`INSERT INTO public.audit (action, target_type, target_id) VALUES ('x', 'x', 'x')`)
	denied(`UPDATE public.agents SET name = 'x'`)
	denied(`DELETE FROM public.spells`)
	denied(`INSERT INTO report.work_items (id) VALUES ('x')`)
	denied(`DELETE FROM report.work_items`)
	denied(`CREATE TABLE public.x (i int)`)
	denied(`CREATE TABLE report.x (i int)`)
	denied(`SELECT public.presence_change('a1', 'available', 'manual', NULL, NULL, NULL)`)
	denied(`SELECT public.event_append('admin', 'admin', '{}')`)
	denied(`SELECT public.admin_event('delete', 'agent', 'a1', 'a1')`)

	// Every table and view, every schema: no right beyond SELECT.
	rows, err := d.Pool().Query(ctx, `
		SELECT c.oid::regclass::text, p
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
		     unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p
		WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
		  AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast%'
		  AND has_table_privilege('presence_reporting', c.oid, p)`)
	ok(t, err)
	bad, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Rel, Priv string }])
	ok(t, err)
	for _, b := range bad {
		t.Errorf("presence_reporting has %s on %s", b.Priv, b.Rel)
	}
}

// TestReportRoleCannotCallPublicFunctions: no function of the service's
// schema is executable by the reporting role, including one made after the
// migrations; reports go through the report schema.
func TestReportRoleCannotCallPublicFunctions(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	// One made after the migrations, as a later migration would.
	_, err := d.Pool().Exec(ctx, `CREATE FUNCTION public.made_later() RETURNS int LANGUAGE sql AS 'SELECT 1'`)
	ok(t, err)
	rows, err := d.Pool().Query(ctx, `
		SELECT p.oid::regprocedure::text
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		LEFT JOIN pg_depend dep ON dep.objid = p.oid AND dep.deptype = 'e'
		WHERE n.nspname = 'public' AND dep.objid IS NULL
		  AND has_function_privilege('presence_reporting', p.oid, 'EXECUTE')`)
	ok(t, err)
	bad, err := pgx.CollectRows(rows, pgx.RowTo[string])
	ok(t, err)
	for _, f := range bad {
		t.Errorf("presence_reporting may execute %s; REVOKE EXECUTE ON FUNCTION ... FROM PUBLIC in its migration", f)
	}
}
