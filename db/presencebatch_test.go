package db_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
)

// logged is a presence event of the log, in log order.
type logged struct {
	xid     string
	agent   string
	message string
	rec     presence.Record
}

// presenceLog reads the presence events whose message starts with prefix,
// in log order ((xid, id)), straight from the table: every writer has
// ended, so nothing is missing. The order is the columns' (e.xid), not
// the output's xid text, in which xid 1000 sorts before 996.
func presenceLog(t *testing.T, d *db.DB, prefix string) []logged {
	t.Helper()
	rows, err := d.Pool().Query(ctx, `SELECT e.xid::text, e.body->>'agent_id', e.body->>'message', e.body FROM events e
		WHERE e.kind = 'presence' AND e.body->>'message' LIKE $1 || '%' ORDER BY e.xid, e.id`, prefix)
	ok(t, err)
	defer rows.Close()
	var out []logged
	for rows.Next() {
		var l logged
		var body []byte
		ok(t, rows.Scan(&l.xid, &l.agent, &l.message, &body))
		ok(t, json.Unmarshal(body, &l.rec))
		out = append(out, l)
	}
	ok(t, rows.Err())
	return out
}

// currentSpells returns how many current spells each agent has.
func currentSpells(t *testing.T, d *db.DB) map[string]int {
	t.Helper()
	rows, err := d.Pool().Query(ctx, `SELECT agent_id, count(*) FROM spells WHERE ended_at IS NULL GROUP BY agent_id`)
	ok(t, err)
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var a string
		var n int
		ok(t, rows.Scan(&a, &n))
		out[a] = n
	}
	ok(t, rows.Err())
	return out
}

func sameRecord(t *testing.T, what string, got, want *presence.Record) {
	t.Helper()
	g, err := json.Marshal(got)
	ok(t, err)
	w, err := json.Marshal(want)
	ok(t, err)
	if string(g) != string(w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// Many clients at once, over the same and different agents, with unknown
// agents, deleted agents and unknown statuses among them: each bad change
// gets its own error while its neighbours succeed, each agent keeps one
// current spell, and the log has every change once, in the order each
// client made them, ending with the agent's record.
func TestGroupCommitConcurrent(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	const agentCount, clients, perClient = 12, 24, 25
	agents := make([]string, agentCount)
	for i := range agents {
		agents[i] = fmt.Sprintf("g%02d", i)
		mustAgent(t, d, agents[i])
	}
	mustAgent(t, d, "gone")
	ok(t, d.DeleteAgent(ctx, "gone"))
	statuses := []string{"available", "busy", "meal"}

	type change struct{ agent, msg string }
	made := make([][]change, clients) // per client, in its order
	var wg sync.WaitGroup
	errs := make(chan error, clients*perClient)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				msg := fmt.Sprintf("w%d-%d", c, i)
				agent, status, reason := agents[(c*5+i)%agentCount], statuses[(c+i)%3], ""
				switch (c + i) % 8 {
				case 0:
					agent, reason = "nobody", "agent_not_found"
				case 1:
					status, reason = "no-such", "unknown_status"
				case 2:
					agent, reason = "gone", "agent_not_found"
				}
				rec, err := d.SetPresence(ctx, agent, presence.PresenceChange{Status: status, Message: &msg})
				switch {
				case reason != "":
					if presence.ErrorReason(err) != reason || rec != nil {
						errs <- fmt.Errorf("%s to %s: %v, want %s", agent, status, err, reason)
					}
				case err != nil:
					errs <- fmt.Errorf("%s to %s: %v", agent, status, err)
				case rec.AgentID != agent || rec.Status.ID != status || rec.Message == nil || *rec.Message != msg:
					errs <- fmt.Errorf("%s to %s %s: record %+v", agent, status, msg, rec)
				default:
					made[c] = append(made[c], change{agent, msg})
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	spells := currentSpells(t, d)
	for _, a := range agents {
		if spells[a] != 1 {
			t.Errorf("%s has %d current spells", a, spells[a])
		}
	}

	log := presenceLog(t, d, "w")
	at := map[string]int{} // message → index in the log
	perXid := map[string]int{}
	for i, l := range log {
		if _, dup := at[l.message]; dup {
			t.Errorf("%s is in the log twice", l.message)
		}
		at[l.message] = i
		perXid[l.xid]++
	}
	total := 0
	for c, changes := range made {
		total += len(changes)
		last := -1
		for _, ch := range changes {
			i, found := at[ch.msg]
			switch {
			case !found:
				t.Errorf("client %d: %s is not in the log", c, ch.msg)
			case i < last:
				t.Errorf("client %d: %s is in the log before the change made before it", c, ch.msg)
			default:
				last = i
			}
		}
	}
	if len(log) != total {
		t.Errorf("the log has %d changes, the clients made %d", len(log), total)
	}
	// The last event of each agent is its record.
	lastOf := map[string]logged{}
	for _, l := range log {
		lastOf[l.agent] = l
	}
	for _, a := range agents {
		rec, err := d.FindPresence(ctx, a)
		ok(t, err)
		l := lastOf[a]
		sameRecord(t, a+": the last event against the record", &l.rec, rec)
	}
	most := 0
	for _, n := range perXid {
		most = max(most, n)
	}
	t.Logf("%d changes in %d transactions, at most %d in one", len(log), len(perXid), most)
	if most < 2 {
		t.Errorf("no two changes shared a transaction: no group commit")
	}
}

// One batch: each item has its own answer, the record it left or its
// error, and two changes of one agent apply in the order they came.
func TestGroupCommitBatch(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	mustAgent(t, d, "b1")
	mustAgent(t, d, "gone")
	ok(t, d.DeleteAgent(ctx, "gone"))
	recs, errs := d.RunPresenceBatch(
		[]string{"b1", "nobody", "a1", "a1", "b1", "gone"},
		[]presence.PresenceChange{
			{Status: "busy", Message: ptr("b-1")},
			{Status: "busy", Message: ptr("x-1")},
			{Status: "no-such", Message: ptr("x-2")},
			{Status: "meal", Message: ptr("a-1"), ReasonCode: ptr("lunch")},
			{Status: "available", Message: ptr("b-2")},
			{Status: "busy", Message: ptr("x-3")},
		})
	for i, want := range []string{"", "agent_not_found", "unknown_status", "", "", "agent_not_found"} {
		if presence.ErrorReason(errs[i]) != want || (want == "") != (errs[i] == nil) || (want == "") != (recs[i] != nil) {
			t.Errorf("item %d: %v %+v, want %q", i, errs[i], recs[i], want)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// The first change of b1 answers the record it left, not the next one's.
	if recs[0].Status.ID != "busy" || *recs[0].Message != "b-1" || recs[4].Status.ID != "available" ||
		*recs[4].Message != "b-2" || *recs[0].SpellID == *recs[4].SpellID || !recs[0].Since.Before(*recs[4].Since) &&
		!recs[0].Since.Equal(*recs[4].Since) {
		t.Errorf("b1's records: %+v / %+v", recs[0], recs[4])
	}
	a, err := d.FindPresence(ctx, "a1")
	ok(t, err)
	sameRecord(t, "a1", recs[3], a)
	b, err := d.FindPresence(ctx, "b1")
	ok(t, err)
	sameRecord(t, "b1", recs[4], b)
	spells, _, err := d.FindSpells(ctx, presence.SpellFilter{AgentID: "b1"})
	ok(t, err)
	if len(spells) != 2 || spells[0].IsCurrent || *spells[0].Message != "b-1" || !spells[1].IsCurrent {
		t.Errorf("b1's spells: %+v", spells)
	}
	// One transaction, the events in the order applied (agent id order,
	// arrival order within an agent), the bad items none.
	log := presenceLog(t, d, "")
	var got []string
	for _, l := range log {
		if l.xid != log[0].xid {
			t.Errorf("events in more than one transaction: %s, %s", log[0].xid, l.xid)
		}
		got = append(got, l.message)
	}
	if fmt.Sprint(got) != "[a-1 b-1 b-2]" {
		t.Errorf("events: %v", got)
	}
	sameRecord(t, "b1's last event", &log[2].rec, b)
}

// While a batch is in flight the next one forms: the changes that arrive
// wait and go together once they are as many as the batch in flight has,
// or once it has ended; not each alone as it arrives.
func TestGroupCommitFormsWhileABatchIsInFlight(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	for i := range 5 {
		mustAgent(t, d, fmt.Sprintf("a%d", i))
	}
	type answer struct {
		agent string
		err   error
	}
	answers := make(chan answer, 5)
	change := func(agent, message string) {
		_, err := d.SetPresence(ctx, agent, presence.PresenceChange{Status: "busy", Message: ptr(message)})
		answers <- answer{agent, err}
	}
	noAnswer := func(within time.Duration) {
		t.Helper()
		select {
		case a := <-answers:
			t.Fatalf("%s's change went alone while a batch of 4 was in flight (%v)", a.agent, a.err)
		case <-time.After(within):
		}
	}
	answered := func(n int) {
		t.Helper()
		for range n {
			select {
			case a := <-answers:
				ok(t, a.err)
			case <-time.After(10 * time.Second):
				t.Fatal("a change that should have gone got no answer")
			}
		}
	}

	// Three of four: they wait for the fourth.
	release := d.HoldPresenceBatch(4, time.Minute)
	for i := range 3 {
		go change(fmt.Sprintf("a%d", i), "together")
	}
	noAnswer(300 * time.Millisecond)
	go change("a3", "together")
	answered(4)
	release()
	log := presenceLog(t, d, "together")
	if len(log) != 4 {
		t.Fatalf("events: %+v", log)
	}
	for _, l := range log {
		if l.xid != log[0].xid {
			t.Errorf("the four changes committed in more than one transaction: %s, %s", log[0].xid, l.xid)
		}
	}

	// One alone waits for the batch in flight to end.
	release = d.HoldPresenceBatch(4, time.Minute)
	go change("a4", "after")
	noAnswer(100 * time.Millisecond)
	release()
	answered(1)

	// Or, behind a batch that does not end, for the linger.
	release = d.HoldPresenceBatch(4, 200*time.Millisecond)
	defer release()
	start := time.Now()
	go change("a4", "stuck")
	answered(1)
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("a change behind a stuck batch went after %v, before the linger", waited)
	}
}

// waitForLockWait waits until a statement of d's database waits for a lock
// and returns its backend's pid and whether it had an xid then.
func waitForLockWait(t *testing.T, d *db.DB) (pid int, hasXid bool) {
	t.Helper()
	for range 500 {
		err := d.Pool().QueryRow(ctx, `SELECT pid, backend_xid IS NOT NULL FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%presence_change_many%'`).Scan(&pid, &hasXid)
		if err == nil {
			return pid, hasXid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the batch never waited for its lock")
	return 0, false
}

// A batch takes its xid with its first lock (v1), then may wait for
// another agent's lock (w1) while a transaction with a later xid changes a
// third agent of the batch (x1). Had the batch
// committed then, its change of that agent would sit before the other's in
// the log (read in xid order) though it came after: the agent's last event
// would not be its record. The batch gives way instead, and its changes
// are applied one at a time, each after the other transaction.
func TestGroupCommitKeepsTheLogInOrder(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "v1")
	mustAgent(t, d, "w1")
	mustAgent(t, d, "x1")
	holder, err := d.Pool().Begin(ctx)
	ok(t, err)
	defer holder.Rollback(ctx)
	_, err = holder.Exec(ctx, `SELECT 1 FROM agents WHERE id = 'w1' FOR UPDATE`)
	ok(t, err)

	type answer struct {
		recs []*presence.Record
		errs []error
	}
	done := make(chan answer, 1)
	go func() {
		recs, errs := d.RunPresenceBatch([]string{"v1", "w1", "x1"}, []presence.PresenceChange{
			{Status: "busy", Message: ptr("o-batch-v")}, {Status: "busy", Message: ptr("o-batch-w")},
			{Status: "busy", Message: ptr("o-batch-x")}})
		done <- answer{recs, errs}
	}()
	if _, hasXid := waitForLockWait(t, d); !hasXid {
		t.Fatal("the waiting batch has no xid")
	}
	// Another change of x1, with a later xid, commits while the batch waits.
	_, err = d.Pool().Exec(ctx, `SELECT * FROM presence_change('x1', 'meal', 'manual', NULL, 'o-other', NULL)`)
	ok(t, err)
	ok(t, holder.Commit(ctx))
	a := <-done
	for i, err := range a.errs {
		ok(t, err)
		if want := []string{"o-batch-v", "o-batch-w", "o-batch-x"}[i]; *a.recs[i].Message != want {
			t.Errorf("item %d: %+v", i, a.recs[i])
		}
	}
	x, err := d.FindPresence(ctx, "x1")
	ok(t, err)
	if *x.Message != "o-batch-x" {
		t.Fatalf("x1: %+v", x)
	}
	var last logged
	for _, l := range presenceLog(t, d, "o-") {
		if l.agent == "x1" {
			last = l
		}
	}
	sameRecord(t, "x1's last event", &last.rec, x)
}

// When the batch's session ends before it is known whether it committed,
// no change in it is reported done: each answers 503 (retry).
func TestGroupCommitUnknownOutcome(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "w1")
	mustAgent(t, d, "x1")
	holder, err := d.Pool().Begin(ctx)
	ok(t, err)
	defer holder.Rollback(ctx)
	_, err = holder.Exec(ctx, `SELECT 1 FROM agents WHERE id = 'x1' FOR UPDATE`)
	ok(t, err)
	done := make(chan []error, 1)
	go func() {
		_, errs := d.RunPresenceBatch([]string{"w1", "x1", "nobody"}, []presence.PresenceChange{
			{Status: "busy"}, {Status: "busy"}, {Status: "busy"}})
		done <- errs
	}()
	pid, _ := waitForLockWait(t, d)
	_, err = d.Pool().Exec(ctx, `SELECT pg_terminate_backend($1)`, pid)
	ok(t, err)
	for i, err := range <-done {
		if presence.ErrorCode(err) != presence.EUNAVAILABLE {
			t.Errorf("item %d: %v, want %s", i, err, presence.EUNAVAILABLE)
		}
	}
	ok(t, holder.Rollback(ctx))
	if spells := currentSpells(t, d); len(spells) != 0 {
		t.Errorf("current spells: %v", spells)
	}
}

// BenchmarkPresenceChange is the CPU one presence change costs this
// process and PostgreSQL, one transaction per change against group commit
// in batches of 16 (what 16 busy clients make); the metrics are per
// change. On a busy machine the CPU times, not the wall time, are the
// figures to compare.
//
// Every change is a real one (a new spell): each agent's status flips
// between busy and available, and the agents are taken in turn from where
// the last change left off, across the sub-benchmarks and across the runs
// of -count, so no run re-sends the statuses the agents already have.
func BenchmarkPresenceChange(b *testing.B) {
	const agentCount = 10_000
	d := dbtest.MustOpenDB(b)
	if _, err := d.Pool().Exec(ctx, `
		INSERT INTO agents (id, name) SELECT 'a' || lpad(i::text, 5, '0'), 'x' FROM generate_series(0, 9999) i;
		INSERT INTO spells (agent_id, status_id, source, started_at) SELECT id, 'available', 'manual', now() FROM agents;
		ANALYZE`); err != nil {
		b.Fatal(err)
	}
	busy := make([]bool, agentCount) // each agent's status now: busy or available
	next := 0                        // the agent the next change is of
	// nextChange is a real change of the next agent: busy or available,
	// whichever it is not.
	nextChange := func() (string, presence.PresenceChange) {
		k := next % agentCount
		next++
		busy[k] = !busy[k]
		status := "available"
		if busy[k] {
			status = "busy"
		}
		return fmt.Sprintf("a%05d", k), presence.PresenceChange{Status: status}
	}
	for _, n := range []int{1, 16} {
		b.Run(fmt.Sprintf("Batch%d", n), func(b *testing.B) {
			agents, changes := make([]string, n), make([]presence.PresenceChange, n)
			defer reportCPUPer(b, d.Pool(), n)()
			for b.Loop() {
				for j := range n {
					agents[j], changes[j] = nextChange()
				}
				_, errs := d.RunPresenceBatch(agents, changes)
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
	// SetPresence one change at a time, as a node's handler calls it under
	// low load: the time a change takes with no company (ns/op).
	b.Run("Alone", func(b *testing.B) {
		defer reportCPUPer(b, d.Pool(), 1)()
		for b.Loop() {
			agent, change := nextChange()
			if _, err := d.SetPresence(ctx, agent, change); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A batch applies the first change of each agent as a set
// (presence_apply_set, migrations/00022) and a change alone is
// presence_apply's: both must be the same change. Two groups of agents
// take the same changes, one group in batches, the other one change at a
// time, round after round: a new status, new text on the same status, the
// same status and text again (no write), an explicit time, several
// changes of one agent in a batch, an agent without a spell yet, an
// unknown agent and an unknown status among them. The answers, the spells
// and the events must match, and each batch commits as one transaction.
func TestPresenceApplySetIsPresenceApply(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	const agents = 6
	for i := range agents {
		mustAgent(t, d, fmt.Sprintf("set%d", i))
		mustAgent(t, d, fmt.Sprintf("one%d", i))
	}
	type change struct {
		agent int // -1: an agent that does not exist
		presence.PresenceChange
	}
	at := func() *time.Time { t := time.Now().Add(-time.Millisecond).Truncate(time.Microsecond); return &t }
	early := at() // before every spell: a change at this time closes the current spell where it started
	rounds := []func() []change{
		func() []change {
			return []change{
				{0, presence.PresenceChange{Status: "busy", Message: ptr("m0")}},
				{1, presence.PresenceChange{Status: "away", ReasonCode: ptr("r1")}},
				{2, presence.PresenceChange{Status: "available"}},
				{2, presence.PresenceChange{Status: "busy", Message: ptr("x")}},
				{3, presence.PresenceChange{Status: "meal", At: at()}},
				{-1, presence.PresenceChange{Status: "busy"}},
			}
		},
		func() []change {
			return []change{
				{0, presence.PresenceChange{Status: "busy"}},                             // the same again
				{1, presence.PresenceChange{Status: "away", Message: ptr("new text")}},   // text only
				{2, presence.PresenceChange{Status: "busy", Message: ptr("x")}},          // the same again
				{2, presence.PresenceChange{Status: "available"}},                        // then a switch
				{2, presence.PresenceChange{Status: "available", Message: ptr("y")}},     // then text
				{3, presence.PresenceChange{Status: "meeting", At: early}},               // before the current spell
				{4, presence.PresenceChange{Status: "busy"}},                             // first spell
				{5, presence.PresenceChange{Status: "training", ReasonCode: ptr("r5")}},  // first spell
				{1, presence.PresenceChange{Status: "no-such-status"}},                   // refused
				{0, presence.PresenceChange{Status: "busy", ReasonCode: ptr("now one")}}, // text only
			}
		},
		func() []change {
			var cs []change
			for i := range agents {
				cs = append(cs, change{i, presence.PresenceChange{Status: "break", Message: ptr("b")}})
			}
			return append(cs,
				change{0, presence.PresenceChange{Status: "busy"}},
				change{0, presence.PresenceChange{Status: "break"}})
		},
	}
	id := func(prefix string, agent int) string {
		if agent < 0 {
			return prefix + "-nobody"
		}
		return fmt.Sprintf("%s%d", prefix, agent)
	}
	// answer is what a change answered, without what differs between the
	// groups: the agent's id, the spell's id and, for a change made now,
	// its time.
	answer := func(rec *presence.Record, err error, explicit bool) string {
		if err != nil {
			return "error " + presence.ErrorReason(err)
		}
		r := *rec
		r.AgentID, r.SpellID = "", nil
		if !explicit {
			r.Since = nil
		}
		b, err := json.Marshal(r)
		ok(t, err)
		return string(b)
	}
	spells := func(agent string) string {
		rows, err := d.Pool().Query(ctx, `SELECT status_id, message, reason_code, source, ended_at IS NULL, started_at
			FROM spells WHERE agent_id = $1 ORDER BY started_at, id`, agent)
		ok(t, err)
		defer rows.Close()
		var out []string
		for rows.Next() {
			var status, source string
			var message, reason *string
			var current bool
			var started time.Time
			ok(t, rows.Scan(&status, &message, &reason, &source, &current, &started))
			s := fmt.Sprintf("%s %v %v %s current=%v", status, deref(message), deref(reason), source, current)
			out = append(out, s)
		}
		ok(t, rows.Err())
		return fmt.Sprint(out)
	}
	events := func(agent string) (n int, xids []string) {
		rows, err := d.Pool().Query(ctx, `SELECT e.xid::text FROM events e
			WHERE e.kind = 'presence' AND e.topic = 'agents.' || $1 || '.presence' ORDER BY e.xid, e.id`, agent)
		ok(t, err)
		defer rows.Close()
		for rows.Next() {
			var x string
			ok(t, rows.Scan(&x))
			xids = append(xids, x)
		}
		ok(t, rows.Err())
		return len(xids), xids
	}
	for round, next := range rounds {
		cs := next()
		setAgents := make([]string, 0, len(cs))
		var setChanges []presence.PresenceChange
		for _, c := range cs {
			setAgents = append(setAgents, id("set", c.agent))
			setChanges = append(setChanges, c.PresenceChange)
		}
		before := map[string]int{}
		for i := range agents {
			before[id("set", i)], _ = events(id("set", i))
		}
		setRecs, setErrs := d.RunPresenceBatch(setAgents, setChanges)
		for i, c := range cs {
			ch := c.PresenceChange
			ch.Source = presence.SourceManual
			rec, err := d.SetPresence(ctx, id("one", c.agent), ch)
			got, want := answer(setRecs[i], setErrs[i], c.At != nil), answer(rec, err, c.At != nil)
			if got != want {
				t.Errorf("round %d, item %d (%s %+v): batch answered\n%s\nalone\n%s", round, i, id("", c.agent), c.PresenceChange, got, want)
			}
		}
		// One transaction for the whole batch: the set, then the later
		// changes of its agents, no item alone.
		xids := map[string]bool{}
		for i := range agents {
			set, one := spells(id("set", i)), spells(id("one", i))
			if set != one {
				t.Errorf("round %d, agent %d's spells: batch\n%s\nalone\n%s", round, i, set, one)
			}
			n, x := events(id("set", i))
			if m, _ := events(id("one", i)); n != m {
				t.Errorf("round %d, agent %d: %d events by batches, %d alone", round, i, n, m)
			}
			for _, xid := range x[before[id("set", i)]:] {
				xids[xid] = true
			}
		}
		if len(xids) != 1 {
			t.Errorf("round %d: the batch's events are in %d transactions, want 1", round, len(xids))
		}
	}
	// The set's changes have one time: the last round's break of every
	// agent but set0 (whose later changes came after the set).
	var starts []time.Time
	ok(t, d.Pool().QueryRow(ctx, `SELECT array_agg(DISTINCT s.started_at) FROM spells s
		WHERE s.agent_id IN ('set1', 'set2', 'set3', 'set4', 'set5') AND s.ended_at IS NULL`).Scan(&starts))
	if len(starts) != 1 {
		t.Errorf("the set's changes started at %d times, want one: %v", len(starts), starts)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// A batch's statements on the spells find each current spell by its key,
// whatever the batch's size: of the month's partition, which holds 61
// spells of each agent, a batch reads a few rows a change, never the
// partition. The set's statements run generic plans from the first call,
// so every size below runs the same plans. (A partition of a few pages
// may be read whole, the planner's choice for a table that small, until
// autovacuum's statistics say it grew.)
func TestPresenceBatchReadsSpellsByKey(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	const agents = 300
	var items []presence.AgentInput
	for i := range agents {
		items = append(items, presence.AgentInput{ID: fmt.Sprintf("k%03d", i)})
	}
	_, err := d.UpsertAgents(ctx, items)
	ok(t, err)
	// 60 closed spells an agent since the month began, then a current one.
	_, err = d.Pool().Exec(ctx, `
		SELECT spells_partitions_ensure(now() - interval '24 months', now());
		INSERT INTO spells (agent_id, status_id, source, started_at, ended_at)
		SELECT a.id, 'away', 'manual', m + (now() - m) * k / 61, m + (now() - m) * (k + 1) / 61
		  FROM agents a, generate_series(0, 59) k,
		       (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS m) month;
		INSERT INTO spells (agent_id, status_id, source, started_at) SELECT id, 'available', 'manual', now() FROM agents;
		ANALYZE`)
	ok(t, err)
	var month string
	ok(t, d.Pool().QueryRow(ctx, `SELECT 'spells_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMM')`).Scan(&month))
	statuses := []string{"busy", "meal", "away"}
	for round := range 7 {
		for _, n := range []int{2, 8, 40, agents} {
			tx, err := d.Pool().Begin(ctx)
			ok(t, err)
			// The counts of this session not yet reported, which include
			// this transaction's so far.
			reads := func() (seq, rows int) {
				ok(t, tx.QueryRow(ctx, `SELECT coalesce(sum(seq_scan), 0), coalesce(sum(seq_tup_read + idx_tup_fetch), 0)
					FROM pg_stat_xact_user_tables WHERE relname = $1`, month).Scan(&seq, &rows))
				return seq, rows
			}
			seq0, rows0 := reads()
			ids, sts := make([]string, n), make([]string, n)
			for i := range n {
				ids[i], sts[i] = fmt.Sprintf("k%03d", i), statuses[(round+i)%len(statuses)]
			}
			var applied int
			ok(t, tx.QueryRow(ctx, `SELECT count(*) FROM presence_change_many($1, $2,
				array_fill('manual'::text, ARRAY[$3::int]), array_fill(NULL::text, ARRAY[$3::int]),
				array_fill(NULL::text, ARRAY[$3::int]), array_fill(NULL::timestamptz, ARRAY[$3::int]))
				WHERE error_code IS NULL`, ids, sts, n).Scan(&applied))
			seq1, rows1 := reads()
			ok(t, tx.Commit(ctx))
			// About 5 rows a change: the current spell (read, closed),
			// the record's. A plan that reads the month reads thousands.
			if applied != n || seq1 != seq0 || rows1-rows0 > 10*n+50 {
				t.Fatalf("round %d, a batch of %d: %d applied; %s read sequentially %d times, %d rows read",
					round, n, applied, month, seq1-seq0, rows1-rows0)
			}
		}
	}
}
