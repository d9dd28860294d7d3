package db_test

import (
	"encoding/json"
	"errors"
	"testing"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/dbtest"
)

// The bulk read is one statement for every filter; a generic plan of it
// cannot know which filters are set, and for the whole floor it took
// 2.5 times as long as the custom plan. It must be planned for its
// parameters on every run, however often a connection runs it.
func TestFindPresencesNeverGenericPlan(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	if _, err := d.Pool().Exec(ctx, `
		INSERT INTO agents (id, name) SELECT 'a' || lpad(i::text, 4, '0'), 'x' FROM generate_series(0, 499) i;
		INSERT INTO spells (agent_id, status_id, source, started_at) SELECT id, 'available', 'manual', now() FROM agents;
		ANALYZE`); err != nil {
		t.Fatal(err)
	}
	// More runs than the pool has connections times the five custom plans
	// after which PostgreSQL may switch a prepared statement to generic.
	for range 40 {
		items, _, err := d.FindPresences(ctx, presence.PresenceFilter{Limit: presence.MaxBulkPresence})
		ok(t, err)
		if len(items) != 500 {
			t.Fatalf("items: %d", len(items))
		}
	}
	conns := d.Pool().AcquireAllIdle(ctx)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	if len(conns) == 0 {
		t.Fatal("no idle connection to inspect")
	}
	for _, c := range conns {
		var generic int64
		ok(t, c.QueryRow(ctx, `SELECT coalesce(sum(generic_plans), 0) FROM pg_prepared_statements
			WHERE statement LIKE '-- name: PresenceList %'`).Scan(&generic))
		if generic != 0 {
			t.Fatalf("the bulk read ran %d times with a generic plan", generic)
		}
	}
}

// Every record of the bulk read, whole or paged or filtered, is the one
// the single read returns for that agent (PresenceGetByAgent), in every
// kind of situation an agent can be in, across the chunks that kept
// records are allocated in and past the strings a read shares.
func TestFindPresencesMatchesFindPresence(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	// More distinct statuses than the bulk read shares strings for, and
	// more agents than one chunk of records.
	if _, err := d.Pool().Exec(ctx, `
		INSERT INTO statuses (id, label, system_presence, is_away)
		SELECT 'custom' || i, 'Custom <' || i || '> & "co"', 'BREAK', i % 2 = 0 FROM generate_series(0, 299) i;
		INSERT INTO agents (id, name, capacity) SELECT 'b' || lpad(i::text, 4, '0'), 'x', i % 3 FROM generate_series(0, 2499) i;
		INSERT INTO spells (agent_id, status_id, source, reason_code, message, started_at)
		SELECT id, CASE WHEN n % 4 = 0 THEN 'custom' || (n % 300) WHEN n % 4 = 1 THEN 'available' ELSE 'busy' END,
		       (ARRAY['manual', 'automatic', 'system'])[n % 3 + 1],
		       CASE WHEN n % 5 = 0 THEN 'r' || (n % 7) END,
		       CASE WHEN n % 6 = 0 THEN 'msg ' || n || E' é \u2028 \n "q"' END,
		       now() - n * interval '1.234567 s'
		FROM (SELECT id, substr(id, 2)::int AS n FROM agents) a
		WHERE n % 10 <> 9;  -- every tenth agent has no spell yet
		ANALYZE`); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a-new", "a-busy", "a-session", "a-queues", "a-work", "a-deleted"} {
		mustAgent(t, d, id)
	}
	_, err := d.SetPresence(ctx, "a-busy", presence.PresenceChange{Status: "meal", Message: ptr("back <at> 1 & \"then\""), ReasonCode: ptr("lunch")})
	ok(t, err)
	_, err = d.OpenSession(ctx, "a-session", presence.SessionInput{})
	ok(t, err)
	_, err = d.OpenSession(ctx, "a-queues", presence.SessionInput{})
	ok(t, err)
	for _, q := range []string{"sales", "support"} {
		_, _, err = d.PutQueue(ctx, presence.QueueInput{ID: q})
		ok(t, err)
		_, err = d.LoginQueue(ctx, "a-queues", q)
		ok(t, err)
	}
	_, err = d.OpenSession(ctx, "a-work", presence.SessionInput{})
	ok(t, err)
	_, err = d.LoginQueue(ctx, "a-work", "sales")
	ok(t, err)
	_, err = d.AssignWork(ctx, "a-work", presence.WorkInput{Channel: "chat", Units: 1})
	ok(t, err)
	ok(t, d.DeleteAgent(ctx, "a-deleted"))

	same := func(t *testing.T, items []*presence.Record) {
		t.Helper()
		for _, r := range items {
			want, err := d.FindPresence(ctx, r.AgentID)
			ok(t, err)
			got, _ := json.Marshal(r)
			exp, _ := json.Marshal(want)
			if string(got) != string(exp) {
				t.Fatalf("bulk record\n%s\nsingle record\n%s", got, exp)
			}
		}
	}
	all, next, err := d.FindPresences(ctx, presence.PresenceFilter{Limit: presence.MaxBulkPresence})
	ok(t, err)
	if len(all) != 2505 || next != "" {
		t.Fatalf("whole floor: %d records, next %q", len(all), next)
	}
	same(t, all)
	for i, r := range all[1:] {
		if r.AgentID <= all[i].AgentID {
			t.Fatalf("out of order: %s after %s", r.AgentID, all[i].AgentID)
		}
	}

	t.Run("Paged", func(t *testing.T) {
		var walked []*presence.Record
		f := presence.PresenceFilter{Limit: 999}
		for {
			page, next, err := d.FindPresences(ctx, f)
			ok(t, err)
			walked = append(walked, page...)
			if next == "" {
				break
			}
			f.Cursor = next
		}
		a, _ := json.Marshal(all)
		w, _ := json.Marshal(walked)
		if string(a) != string(w) {
			t.Fatalf("pages differ from the whole floor: %d against %d records", len(walked), len(all))
		}
	})
	t.Run("Filtered", func(t *testing.T) {
		for _, f := range []presence.PresenceFilter{
			{AgentIDs: []string{"a-work", "a-new", "b0009", "a-deleted", "nobody"}},
			{Status: "custom8"},
			{Status: "offline", Limit: presence.MaxBulkPresence},
			{State: "ACTIVE"},
			{State: "OFFLINE", Limit: 3},
		} {
			items, _, err := d.FindPresences(ctx, f)
			ok(t, err)
			if len(items) == 0 {
				t.Fatalf("%+v: nothing", f)
			}
			for _, r := range items {
				if (f.Status != "" && r.Status.ID != f.Status) || (f.State != "" && r.State != f.State) || r.AgentID == "a-deleted" {
					t.Fatalf("%+v: %+v", f, r)
				}
			}
			same(t, items)
		}
	})
}

// An error from the callback stops the read, comes back as it is, and
// leaves the connection to the pool.
func TestEachPresenceStopsOnError(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	if _, err := d.Pool().Exec(ctx, `INSERT INTO agents (id, name) SELECT 'a' || i, 'x' FROM generate_series(0, 99) i`); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	calls := 0
	_, err := d.EachPresence(ctx, presence.PresenceFilter{Limit: presence.MaxBulkPresence}, func(*presence.Record) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 3 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	if n := d.Pool().Stat().AcquiredConns(); n != 0 {
		t.Fatalf("%d connections still acquired", n)
	}
	items, _, err := d.FindPresences(ctx, presence.PresenceFilter{Limit: presence.MaxBulkPresence})
	ok(t, err)
	if len(items) != 100 {
		t.Fatalf("items: %d", len(items))
	}
}
