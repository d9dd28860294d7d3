package db_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
)

// sqlState is the SQLSTATE of a PostgreSQL error, or err as text.
func sqlState(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return fmt.Sprint(err)
}

func mustAgent(t *testing.T, d *db.DB, id string) {
	t.Helper()
	_, err := d.CreateAgent(ctx, presence.AgentInput{ID: id})
	ok(t, err)
}

func TestSetPresence(t *testing.T) {
	t.Parallel()
	t.Run("OpensAndClosesSpells", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		r1, err := d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "available"})
		ok(t, err)
		r2, err := d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "meal", Message: ptr("back at 1"), ReasonCode: ptr("lunch")})
		ok(t, err)
		if r2.Status.ID != "meal" || r2.Status.SystemPresence != "MEAL" || !r2.Status.IsAway || *r2.Message != "back at 1" ||
			*r2.Source != "manual" || *r2.SpellID == *r1.SpellID {
			t.Fatalf("record: %+v", r2)
		}
		spells, _, err := d.FindSpells(ctx, presence.SpellFilter{AgentID: "a1"})
		ok(t, err)
		if len(spells) != 2 {
			t.Fatalf("spells: %d", len(spells))
		}
		first, second := spells[0], spells[1]
		// Contiguous: the first ends exactly where the second starts.
		if first.IsCurrent || first.EndedAt == nil || !first.EndedAt.Equal(second.StartedAt) || first.DurationMS == nil {
			t.Fatalf("not contiguous: %+v / %+v", first, second)
		}
		if !second.IsCurrent || second.EndedAt != nil || second.DurationMS != nil || *second.ReasonCode != "lunch" {
			t.Fatalf("current: %+v", second)
		}
	})
	t.Run("SameStatusIsIdempotent", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		r1, err := d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "busy", Message: ptr("x")})
		ok(t, err)
		r2, err := d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "busy"})
		ok(t, err)
		if *r1.SpellID != *r2.SpellID || !r1.Since.Equal(*r2.Since) || *r2.Message != "x" {
			t.Fatalf("same status opened a new spell or lost the message: %+v %+v", r1, r2)
		}
		// Another message: updated in place, still one spell.
		r3, err := d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "busy", Message: ptr("y")})
		ok(t, err)
		if *r3.SpellID != *r1.SpellID || *r3.Message != "y" {
			t.Fatalf("message change: %+v", r3)
		}
		spells, _, err := d.FindSpells(ctx, presence.SpellFilter{AgentID: "a1"})
		ok(t, err)
		if len(spells) != 1 {
			t.Fatalf("spells: %d", len(spells))
		}
	})
	t.Run("Errors", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		_, err := d.SetPresence(ctx, "nobody", presence.PresenceChange{Status: "busy"})
		mustCode(t, err, presence.ENOTFOUND)
		_, err = d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "no-such"})
		mustReason(t, err, "unknown_status")
		_, err = d.SetPresence(ctx, "a1", presence.PresenceChange{Status: ""})
		mustCode(t, err, presence.EINVALID)
		long := make([]byte, 501)
		for i := range long {
			long[i] = 'x'
		}
		_, err = d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "busy", Message: ptr(string(long))})
		mustCode(t, err, presence.EINVALID)
		spells, _, err := d.FindSpells(ctx, presence.SpellFilter{AgentID: "a1"})
		ok(t, err)
		if len(spells) != 0 {
			t.Fatalf("errors wrote spells")
		}
	})
	// Deleted agents and statuses are as unknown as ones that never
	// existed, and an error writes no spell and no event.
	t.Run("DeletedAgentOrStatus", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		mustAgent(t, d, "gone")
		ok(t, d.DeleteAgent(ctx, "gone"))
		_, err := d.CreateStatus(ctx, presence.StatusInput{ID: "coaching", Label: ptr("Coaching"), SystemPresence: ptr("TRAINING")})
		ok(t, err)
		ok(t, d.DeleteStatus(ctx, "coaching"))
		head := finalHead(t, d)
		_, err = d.SetPresence(ctx, "gone", presence.PresenceChange{Status: "busy"})
		mustReason(t, err, "agent_not_found")
		_, err = d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "coaching"})
		mustReason(t, err, "unknown_status")
		evs, err := d.ReadEvents(ctx, head, 10)
		ok(t, err)
		spells, _, err := d.FindSpells(ctx, presence.SpellFilter{AgentID: "a1"})
		ok(t, err)
		if len(evs) != 0 || len(spells) != 0 {
			t.Fatalf("errors wrote %d events, %d spells", len(evs), len(spells))
		}
	})
	// Same status with only a reason: the message stays; nothing new
	// (same text again) writes nothing and makes no event.
	t.Run("SameStatusKeepsWhatIsNotGiven", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		_, err := d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "busy", Message: ptr("m")})
		ok(t, err)
		r, err := d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "busy", ReasonCode: ptr("r")})
		ok(t, err)
		if *r.Message != "m" || *r.ReasonCode != "r" {
			t.Fatalf("record: %+v", r)
		}
		head := finalHead(t, d)
		_, err = d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "busy", Message: ptr("m")})
		ok(t, err)
		evs, err := d.ReadEvents(ctx, head, 10)
		ok(t, err)
		if len(evs) != 0 {
			t.Fatalf("an unchanged presence made %d events", len(evs))
		}
	})
	// The change is one statement: what clients get is what that
	// statement left, and its errors carry their own SQLSTATEs.
	t.Run("OneStatement", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		var status string
		var spellID *int64
		ok(t, d.Pool().QueryRow(ctx, `SELECT status_id, spell_id FROM presence_change('a1', 'meal', 'manual', NULL, NULL, NULL)`).Scan(&status, &spellID))
		if status != "meal" || spellID == nil {
			t.Fatalf("record: %s %v", status, spellID)
		}
		for sql, code := range map[string]string{
			`SELECT * FROM presence_change('nobody', 'busy', 'manual', NULL, NULL, NULL)`: "PA404",
			`SELECT * FROM presence_change('a1', 'no-such', 'manual', NULL, NULL, NULL)`:  "PA422",
		} {
			_, err := d.Pool().Exec(ctx, sql)
			if e, isPg := err.(*pgconn.PgError); !isPg || e.Code != code {
				t.Errorf("%s: %v, want SQLSTATE %s", sql, err, code)
			}
		}
	})
	// Many goroutines change one agent at once: the row lock serialises
	// them, so spells stay contiguous, never overlap, and exactly one is
	// current.
	t.Run("ConcurrentChangesOfOneAgent", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		statuses := []string{"available", "busy", "away", "break", "meal", "meeting", "training"}
		var wg sync.WaitGroup
		errs := make(chan error, 400)
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 25 {
					_, err := d.SetPresence(ctx, "a1", presence.PresenceChange{Status: statuses[(g+i)%len(statuses)]})
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var spells []*presence.Spell
		cursor := ""
		for {
			page, next, err := d.FindSpells(ctx, presence.SpellFilter{AgentID: "a1", Limit: 1000, Cursor: cursor})
			ok(t, err)
			spells = append(spells, page...)
			if next == "" {
				break
			}
			cursor = next
		}
		current := 0
		for i, s := range spells {
			if s.IsCurrent {
				current++
				continue
			}
			if i+1 < len(spells) && !s.EndedAt.Equal(spells[i+1].StartedAt) {
				t.Fatalf("gap or overlap between spell %d and %d", s.ID, spells[i+1].ID)
			}
			if i+1 < len(spells) && s.StatusID == spells[i+1].StatusID {
				t.Fatalf("two spells in a row in %s", s.StatusID)
			}
		}
		if current != 1 || !spells[len(spells)-1].IsCurrent {
			t.Fatalf("current spells: %d", current)
		}
	})
}

// The database itself refuses broken spells, whatever the service does.
func TestSpellInvariants(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	pool := d.Pool()
	exec := func(sql string) error { _, err := pool.Exec(ctx, sql); return err }
	ok(t, exec(`INSERT INTO spells (agent_id, status_id, source, started_at, ended_at)
		VALUES ('a1', 'busy', 'manual', '2026-01-01 10:00Z', '2026-01-01 11:00Z')`))
	ok(t, exec(`INSERT INTO spells (agent_id, status_id, source, started_at) VALUES ('a1', 'busy', 'manual', '2026-01-01 12:00Z')`))
	if err := exec(`INSERT INTO spells (agent_id, status_id, source, started_at) VALUES ('a1', 'away', 'manual', '2026-01-02 12:00Z')`); sqlState(err) != "23505" && sqlState(err) != "23P01" {
		t.Fatalf("second current spell: %v", err)
	}
	if err := exec(`INSERT INTO spells (agent_id, status_id, source, started_at, ended_at)
		VALUES ('a1', 'away', 'manual', '2026-01-01 10:30Z', '2026-01-01 10:45Z')`); sqlState(err) != "23P01" {
		t.Fatalf("overlapping spell: %v", err)
	}
	if err := exec(`INSERT INTO spells (agent_id, status_id, source, started_at, ended_at)
		VALUES ('a1', 'away', 'manual', '2026-01-01 09:00Z', '2026-01-01 08:00Z')`); sqlState(err) != "23514" {
		t.Fatalf("negative spell: %v", err)
	}
	// Touching is fine: [10,11) and [11,12).
	ok(t, exec(`INSERT INTO spells (agent_id, status_id, source, started_at, ended_at)
		VALUES ('a1', 'away', 'manual', '2026-01-01 11:00Z', '2026-01-01 12:00Z')`))
	if err := exec(`UPDATE spells SET is_current = true`); err == nil {
		t.Fatal("is_current is writable")
	}
}

// The JSON record the events carry (presence_record_json, derived from the
// presence_records view) is the record every read returns: the same
// fields at every depth, with the same values, for agents in every kind
// of situation. A column added to the view reaches the events by itself,
// so this fails until presence.Record and the scan (db/presencerecord.go)
// carry it too; a field added to presence.Record fails it until the view
// has the column.
func TestPresenceRecordJSONIsTheRecord(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	if _, err := d.Pool().Exec(ctx, `INSERT INTO statuses (id, label, system_presence, is_away)
		VALUES ('custom', 'Custom <1> & "co" é', 'BREAK', true)`); err != nil {
		t.Fatal(err)
	}
	ids := []string{"a-new", "a-custom", "a-session", "a-queues", "a-work"}
	for _, id := range ids {
		_, err := d.CreateAgent(ctx, presence.AgentInput{ID: id, Capacity: ptr(3)})
		ok(t, err)
	}
	set, err := d.SetPresence(ctx, "a-custom", presence.PresenceChange{Status: "custom",
		Message: ptr("back <at> 1 & \"then\" \u2028 é \n"), ReasonCode: ptr("lunch")})
	ok(t, err)
	for _, id := range ids[2:] {
		_, err = d.OpenSession(ctx, id, presence.SessionInput{})
		ok(t, err)
	}
	for _, q := range []string{"sales", "support"} {
		_, _, err = d.PutQueue(ctx, presence.QueueInput{ID: q})
		ok(t, err)
		_, err = d.LoginQueue(ctx, "a-queues", q)
		ok(t, err)
	}
	_, err = d.LoginQueue(ctx, "a-work", "sales")
	ok(t, err)
	_, err = d.AssignWork(ctx, "a-work", presence.WorkInput{Channel: "chat", Units: 2})
	ok(t, err)

	event := func(t *testing.T, id string) []byte {
		t.Helper()
		var body []byte
		ok(t, d.Pool().QueryRow(ctx, `SELECT presence_record_json($1)`, id).Scan(&body))
		return body
	}
	check := func(t *testing.T, what string, rec *presence.Record) {
		t.Helper()
		got, err := json.Marshal(rec)
		ok(t, err)
		if diff := jsonDiff(event(t, rec.AgentID), got); diff != "" {
			t.Fatalf("%s of %s: %s\nevent body %s\nrecord     %s", what, rec.AgentID, diff, event(t, rec.AgentID), got)
		}
	}
	check(t, "SetPresence", set)
	for _, id := range ids {
		rec, err := d.FindPresence(ctx, id)
		ok(t, err)
		check(t, "FindPresence", rec)
	}
	all, _, err := d.FindPresences(ctx, presence.PresenceFilter{Limit: presence.MaxBulkPresence})
	ok(t, err)
	queried, _, err := d.QueryPresence(ctx, presence.PresenceQuery{Clauses: map[string]presence.Clause{
		"A": {Attribute: "state", Op: "eq", Value: "OFFLINE", Negate: true}}, Expression: "A"})
	ok(t, err)
	if len(all) != len(ids) || len(queried) != 3 {
		t.Fatalf("%d records, %d queried", len(all), len(queried))
	}
	for _, r := range all {
		check(t, "FindPresences", r)
	}
	for _, r := range queried {
		check(t, "QueryPresence", r)
	}
	if !strings.Contains(string(event(t, "a-work")), `"in_use": 2`) {
		t.Fatalf("a-work: %s", event(t, "a-work"))
	}
}

// jsonDiff compares two JSON objects: the same keys at every depth and the
// same values, "since" compared as an instant (PostgreSQL writes the
// offset as +00:00, Go as Z). It returns what differs, "" for nothing.
func jsonDiff(a, b []byte) string {
	var x, y map[string]any
	if err := json.Unmarshal(a, &x); err != nil {
		return err.Error()
	}
	if err := json.Unmarshal(b, &y); err != nil {
		return err.Error()
	}
	for _, m := range []map[string]any{x, y} {
		if s, ok := m["since"].(string); ok {
			at, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return err.Error()
			}
			m["since"] = at.UTC().Format(time.RFC3339Nano)
		}
	}
	if !reflect.DeepEqual(x, y) {
		return fmt.Sprintf("%v\n%v", x, y)
	}
	return ""
}

// finalHead returns the log's head once every event written so far is
// final. HeadPosition stops below the snapshot's xmin, which is
// cluster-wide: a transaction open in another test's database holds it
// back, and events this test wrote would then count as written later.
func finalHead(t *testing.T, d *db.DB) presence.Position {
	t.Helper()
	var last int64
	ok(t, d.Pool().QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM events`).Scan(&last))
	deadline := time.Now().Add(10 * time.Second)
	for {
		head, err := d.HeadPosition(ctx)
		ok(t, err)
		if head.ID >= last || time.Now().After(deadline) {
			return head
		}
		time.Sleep(10 * time.Millisecond)
	}
}
