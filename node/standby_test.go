package node_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/presenced/presenced/node/nodetest"
)

// reportQueries returns the queries of docs/reporting.md: every ```sql
// block that reads (SELECT or WITH), not the setup statements.
func reportQueries(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile("../docs/reporting.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		q := strings.TrimSpace(m[1])
		if u := strings.ToUpper(q); strings.HasPrefix(u, "SELECT") || strings.HasPrefix(u, "WITH") {
			out = append(out, q)
		}
	}
	if len(out) < 5 {
		t.Fatalf("found %d queries in docs/reporting.md", len(out))
	}
	return out
}

// Reporting from a hot standby: analysts log in to the standby with a role
// granted presence_reporting, and every documented report query, every
// view of the report schema and every report function run there —
// read-only, so none may need a write (a temporary table, a sequence, a
// cache table).
func TestReportingOnStandby(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL servers")
	}
	p := startHAPair(t, false)
	n := nodetest.MustOpen(t, p.url)
	base := n.URL()
	for _, a := range []string{"a1", "a2"} {
		callURL(t, "POST", base+"/v1/agents", `{"id": "`+a+`"}`, 201)
		put(t, base, "/v1/agents/"+a+"/presence", `{"status": "break"}`)
		put(t, base, "/v1/agents/"+a+"/presence", `{"status": "available", "reason_code": "back"}`)
	}
	callURL(t, "POST", base+"/v1/agents/a1/sessions", "", 201)
	callURL(t, "PUT", base+"/v1/queues/sales", "", 201)
	callURL(t, "POST", base+"/v1/agents/a1/queues/sales/login", "", 200)
	// The documented access: a login role granted presence_reporting.
	mustExec(t, p.primary.DatabaseURL("presenced"), "CREATE ROLE analyst LOGIN PASSWORD 'analyst-password'")
	mustExec(t, p.primary.DatabaseURL("presenced"), "GRANT presence_reporting TO analyst")
	lsn := queryStrings(t, p.primary.URL(), `SELECT pg_current_wal_lsn()::text`)[0]
	waitRow(t, p.standby.URL(), `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn`, lsn)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := pgx.ParseConfig(p.standby.DatabaseURL("presenced"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Password = "analyst", "analyst-password"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var standby bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&standby); err != nil || !standby {
		t.Fatalf("not on the standby: %v %v", standby, err)
	}
	run := func(what, sql string) {
		t.Helper()
		rows, err := conn.Query(ctx, sql)
		if err == nil {
			for rows.Next() {
			}
			rows.Close()
			err = rows.Err()
		}
		if err != nil {
			t.Errorf("%s on the standby: %v\n%s", what, err, sql)
		}
	}
	queries := reportQueries(t)
	for i, q := range queries {
		run(fmt.Sprintf("documented query %d", i+1), q)
	}
	// Whatever the report schema holds, documented or not yet.
	var views []string
	rows, _ := conn.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'report' AND c.relkind IN ('v', 'm', 'r') ORDER BY 1`)
	views, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(views) < 5 {
		t.Fatalf("report relations: %v %v", views, err)
	}
	for _, v := range views {
		run("report."+v, "SELECT * FROM report."+pgx.Identifier{v}.Sanitize()+" LIMIT 100")
	}
	type fn struct{ Name, Args string }
	rows, _ = conn.Query(ctx, `SELECT p.proname, coalesce(array_to_string(p.proargtypes::regtype[], ','), '')
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = 'report' AND has_function_privilege(p.oid, 'EXECUTE') ORDER BY 1`)
	fns, err := pgx.CollectRows(rows, pgx.RowToStructByPos[fn])
	if err != nil || len(fns) < 2 {
		t.Fatalf("report functions: %v %v", fns, err)
	}
	// An argument of each type: text ones get 'UTC', a valid time zone
	// and a harmless agent or queue id.
	values := map[string]string{"text": "'UTC'", "timestamp with time zone": "now() - interval '7 days'",
		"integer": "1", "bigint": "1", "date": "current_date - 7", "interval": "interval '1 hour'", "boolean": "true"}
	for _, f := range fns {
		var args []string
		known := true
		for i, a := range strings.Split(f.Args, ",") {
			v, ok := values[a]
			if a == "timestamp with time zone" && i > 0 && strings.Contains(strings.Join(args, ","), "now()") {
				v = "now()" // the window's end
			}
			if a == "" {
				continue
			}
			known = known && ok
			args = append(args, v)
		}
		if !known {
			t.Logf("report.%s(%s): no sample arguments for its types; not run", f.Name, f.Args)
			continue
		}
		run("report."+f.Name, "SELECT * FROM report."+pgx.Identifier{f.Name}.Sanitize()+"("+strings.Join(args, ", ")+")")
	}
	t.Logf("on the standby: %d documented queries, %d relations, %d functions of the report schema", len(queries), len(views), len(fns))
}
