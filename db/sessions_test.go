package db_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
)

// fastPolicy is the heartbeat policy of the timing tests: a beat every
// 400ms, 2 missable, so a silent session is stale after 1s and declared
// lost within 1.2s. The beaters beat every 200ms, so only a stall of 800ms
// on a loaded machine could make a healthy client look silent.
var fastPolicy = presence.HeartbeatPolicy{Interval: 400 * time.Millisecond, MaxMissed: 2}

// mustOpenFastDB returns a database with the fast policy and a sweeper
// running on it, as a node runs one.
func mustOpenFastDB(t *testing.T) *db.DB {
	t.Helper()
	d := dbtest.MustOpenDB(t)
	d.Heartbeats = fastPolicy
	sw := db.NewSweeper(d)
	sw.Open()
	t.Cleanup(sw.Close)
	return d
}

func mustSession(t *testing.T, d *db.DB, agentID string) *presence.Session {
	t.Helper()
	s, err := d.OpenSession(ctx, agentID, presence.SessionInput{})
	ok(t, err)
	return s
}

func mustState(t *testing.T, d *db.DB, agentID, want string) *presence.Record {
	t.Helper()
	rec, err := d.FindPresence(ctx, agentID)
	ok(t, err)
	if rec.State != want {
		t.Fatalf("state of %s = %s, want %s (record %+v)", agentID, rec.State, want, rec)
	}
	return rec
}

// waitState polls until the agent is in the state, or fails after within.
func waitState(t *testing.T, d *db.DB, agentID, want string, within time.Duration) *presence.Record {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		rec, err := d.FindPresence(ctx, agentID)
		ok(t, err)
		if rec.State == want {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("state of %s = %s after %s, want %s", agentID, rec.State, within, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// beater is a client that beats every half interval until stopped (a
// crash, or the network going away).
type beater struct {
	stop chan struct{}
	done sync.WaitGroup
}

func startBeating(t *testing.T, d *db.DB, sessionID string) *beater {
	t.Helper()
	b := &beater{stop: make(chan struct{})}
	b.done.Add(1)
	go func() {
		defer b.done.Done()
		tick := time.NewTicker(d.HeartbeatPolicy().Interval / 2)
		defer tick.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-tick.C:
				if err := d.Heartbeat(ctx, sessionID, nil); err != nil {
					t.Errorf("heartbeat %s: %v", sessionID, err)
					return
				}
			}
		}
	}()
	t.Cleanup(b.halt)
	return b
}

func (b *beater) halt() {
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	b.done.Wait()
}

// agentEvents returns the committed events whose topic starts with prefix,
// in log order. It reads the table rather than ReadEvents: the xmin
// horizon is cluster-wide, so a transaction of a parallel test would hold
// back the events that ReadEvents calls final.
func agentEvents(t *testing.T, d *db.DB, prefix string) []presence.Event {
	t.Helper()
	rows, err := d.Pool().Query(ctx, `SELECT topic, kind, body FROM events
		WHERE starts_with(topic, $1) ORDER BY xid, id`, prefix)
	ok(t, err)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (presence.Event, error) {
		var ev presence.Event
		err := r.Scan(&ev.Topic, &ev.Kind, &ev.Body)
		return ev, err
	})
	ok(t, err)
	return out
}

func recordOf(t *testing.T, ev presence.Event) presence.Record {
	t.Helper()
	var r presence.Record
	ok(t, json.Unmarshal(ev.Body, &r))
	return r
}

func stateEvents(t *testing.T, d *db.DB, agentID string) []string {
	t.Helper()
	var out []string
	for _, ev := range agentEvents(t, d, "agents."+agentID+".state") {
		out = append(out, recordOf(t, ev).State)
	}
	return out
}

func mustSpells(t *testing.T, d *db.DB, agentID string) []*presence.Spell {
	t.Helper()
	spells, _, err := d.FindSpells(ctx, presence.SpellFilter{AgentID: agentID, Limit: 1000})
	ok(t, err)
	return spells
}

func TestSessionLogin(t *testing.T) {
	t.Parallel()
	t.Run("FirstSessionAppliesDefaultStatus", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		_, err := d.CreateAgent(ctx, presence.AgentInput{ID: "a1", DefaultStatus: ptr("busy")})
		ok(t, err)
		s, err := d.OpenSession(ctx, "a1", presence.SessionInput{Client: ptr("desktop-web")})
		ok(t, err)
		p := s.Presence
		if p.State != "ACTIVE" || p.Status.ID != "busy" || *p.Source != "system" || *p.ReasonCode != "login" {
			t.Fatalf("after login: %+v", p)
		}
		if s.ID == "" || s.AgentID != "a1" || *s.Client != "desktop-web" || s.Idle || s.Lost || s.EndedAt != nil ||
			s.HeartbeatIntervalMS != 20000 || s.MaxMissedHeartbeats != 2 {
			t.Fatalf("session: %+v", s)
		}
		if got := stateEvents(t, d, "a1"); len(got) != 1 || got[0] != "ACTIVE" {
			t.Fatalf("state events: %v", got)
		}
		// The state event comes after the presence event and carries the
		// final record: the default status and ACTIVE.
		evs := agentEvents(t, d, "agents.a1.")
		last := recordOf(t, evs[len(evs)-1])
		if evs[len(evs)-1].Topic != "agents.a1.state" || last.Status.ID != "busy" || last.State != "ACTIVE" {
			t.Fatalf("last event %s: %+v", evs[len(evs)-1].Topic, last)
		}
	})
	t.Run("SecondBrowserAndRefreshChangeNothing", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		first := mustSession(t, d, "a1")
		rec, err := d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "meal", Message: ptr("back at 1")})
		ok(t, err)
		before := len(agentEvents(t, d, "agents.a1."))
		second := mustSession(t, d, "a1") // another browser, or a refresh of the first
		if p := second.Presence; p.Status.ID != "meal" || *p.SpellID != *rec.SpellID || *p.Message != "back at 1" || p.State != "ACTIVE" {
			t.Fatalf("second session changed the presence: %+v", p)
		}
		ok(t, d.CloseSession(ctx, first.ID)) // the refreshed-away tab logs out
		mustState(t, d, "a1", "ACTIVE")
		if after := len(agentEvents(t, d, "agents.a1.")); after != before {
			t.Fatalf("a second session and closing the first made %d events", after-before)
		}
		if n := len(mustSpells(t, d, "a1")); n != 2 { // login (available), meal
			t.Fatalf("spells: %d", n)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		_, err := d.OpenSession(ctx, "nobody", presence.SessionInput{})
		mustReason(t, err, "agent_not_found")
		_, err = d.OpenSession(ctx, "a1", presence.SessionInput{Client: ptr(strings.Repeat("c", 201))})
		mustCode(t, err, presence.EINVALID)
		_, err = d.OpenSession(ctx, "a1", presence.SessionInput{Client: ptr("")})
		mustCode(t, err, presence.EINVALID)
		mustState(t, d, "a1", "OFFLINE")
		if n := len(mustSpells(t, d, "a1")); n != 0 {
			t.Fatalf("a failed login wrote %d spells", n)
		}
		ok(t, d.DeleteAgent(ctx, "a1"))
		_, err = d.OpenSession(ctx, "a1", presence.SessionInput{})
		mustReason(t, err, "agent_not_found")
	})
	t.Run("TooManyLiveSessions", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		for range presence.MaxLiveSessions {
			mustSession(t, d, "a1")
		}
		_, err := d.OpenSession(ctx, "a1", presence.SessionInput{})
		mustReason(t, err, "too_many_sessions")
	})
}

func TestSessionLogout(t *testing.T) {
	t.Parallel()
	t.Run("LastLogoutOpensOfflineSpell", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		s1, s2 := mustSession(t, d, "a1"), mustSession(t, d, "a1")
		ok(t, d.CloseSession(ctx, s1.ID))
		rec := mustState(t, d, "a1", "ACTIVE")
		if rec.Status.ID != "available" {
			t.Fatalf("a logout that is not the last changed the status: %+v", rec)
		}
		ok(t, d.CloseSession(ctx, s2.ID))
		rec = mustState(t, d, "a1", "OFFLINE")
		if rec.Status.ID != "offline" || *rec.Source != "system" || *rec.ReasonCode != "logout" {
			t.Fatalf("after the last logout: %+v", rec)
		}
		spells := mustSpells(t, d, "a1")
		if len(spells) != 2 || spells[0].StatusID != "available" || spells[0].IsCurrent ||
			spells[1].StatusID != "offline" || !spells[1].IsCurrent || !spells[0].EndedAt.Equal(spells[1].StartedAt) {
			t.Fatalf("spells: %+v %+v", spells[0], spells[1])
		}
		if got := stateEvents(t, d, "a1"); fmt.Sprint(got) != "[ACTIVE OFFLINE]" {
			t.Fatalf("state events: %v", got)
		}
		// The last event of the logout carries the final record.
		evs := agentEvents(t, d, "agents.a1.")
		if last := recordOf(t, evs[len(evs)-1]); last.State != "OFFLINE" || last.Status.ID != "offline" {
			t.Fatalf("last event: %+v", last)
		}
		s, err := d.FindSession(ctx, s2.ID)
		ok(t, err)
		if s.EndedAt == nil || *s.EndReason != "logout" {
			t.Fatalf("ended session: %+v", s)
		}
		// Logging in again applies the default status again.
		again := mustSession(t, d, "a1")
		if again.Presence.Status.ID != "available" || again.Presence.State != "ACTIVE" {
			t.Fatalf("second login: %+v", again.Presence)
		}
	})
	t.Run("EndedAndUnknownSessions", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		s := mustSession(t, d, "a1")
		ok(t, d.CloseSession(ctx, s.ID))
		mustReason(t, d.CloseSession(ctx, s.ID), "session_ended")
		mustReason(t, d.Heartbeat(ctx, s.ID, nil), "session_ended")
		mustReason(t, d.Heartbeat(ctx, s.ID, ptr(true)), "session_ended")
		mustReason(t, d.CloseSession(ctx, "no-such-session"), "session_not_found")
		mustReason(t, d.Heartbeat(ctx, "no-such-session", nil), "session_not_found")
		_, err := d.FindSession(ctx, "no-such-session")
		mustReason(t, err, "session_not_found")
	})
	t.Run("LastLiveLogoutEndsLostSessions", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		d.Heartbeats = fastPolicy
		mustAgent(t, d, "a1")
		tab := mustSession(t, d, "a1")          // refreshed away: never beats again
		time.Sleep(fastPolicy.StaleAfter() * 2) // …and goes silent
		current := mustSession(t, d, "a1")
		n, err := db.NewSweeper(d).Sweep(ctx)
		ok(t, err)
		if n != 1 {
			t.Fatalf("swept %d sessions, want the silent tab", n)
		}
		mustState(t, d, "a1", "ACTIVE")
		ok(t, d.CloseSession(ctx, current.ID))
		mustState(t, d, "a1", "OFFLINE")
		mustReason(t, d.Heartbeat(ctx, tab.ID, nil), "session_ended")
	})
	t.Run("DeletedAgentHasNoSessionNorQueue", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		mustQueue(t, d, "sales")
		s := mustSession(t, d, "a1")
		_, err := d.LoginQueue(ctx, "a1", "sales")
		ok(t, err)
		ok(t, d.DeleteAgent(ctx, "a1"))
		mustReason(t, d.Heartbeat(ctx, s.ID, nil), "session_ended")
		got, err := d.FindSession(ctx, s.ID)
		ok(t, err)
		if *got.EndReason != "agent_deleted" {
			t.Fatalf("end reason: %v", *got.EndReason)
		}
		q, err := d.FindQueueByID(ctx, "sales")
		ok(t, err)
		if q.MemberCount != 0 {
			t.Fatalf("deleted agent still counted in the queue")
		}
		if spells := mustSpells(t, d, "a1"); len(spells) != 1 || spells[0].IsCurrent {
			t.Fatalf("deletion opened an offline spell: %+v", spells)
		}
	})
}

func TestSessionIdle(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	s1, s2 := mustSession(t, d, "a1"), mustSession(t, d, "a1")
	ok(t, d.Heartbeat(ctx, s1.ID, ptr(true)))
	mustState(t, d, "a1", "ACTIVE") // the other browser is in use
	ok(t, d.Heartbeat(ctx, s2.ID, ptr(true)))
	rec := mustState(t, d, "a1", "AWAY") // every live one idle
	if rec.Status.ID != "available" {
		t.Fatalf("idle changed the status: %+v", rec)
	}
	ok(t, d.Heartbeat(ctx, s2.ID, nil)) // no idle field: stays idle
	mustState(t, d, "a1", "AWAY")
	ok(t, d.Heartbeat(ctx, s2.ID, ptr(true)))
	mustState(t, d, "a1", "AWAY")
	ok(t, d.Heartbeat(ctx, s1.ID, ptr(false)))
	mustState(t, d, "a1", "ACTIVE")
	ok(t, d.CloseSession(ctx, s1.ID)) // the one in use logs out; the idle one remains
	mustState(t, d, "a1", "AWAY")
	if got := stateEvents(t, d, "a1"); fmt.Sprint(got) != "[ACTIVE AWAY ACTIVE AWAY]" {
		t.Fatalf("state events: %v", got)
	}
	if n := len(mustSpells(t, d, "a1")); n != 1 {
		t.Fatalf("heartbeats created spells: %d", n)
	}
}

// A client that crashes goes DISCONNECTED within the promised time, keeps
// its status, and its return (the network coming back) restores ACTIVE.
func TestSessionCrashAndNetworkReturn(t *testing.T) {
	t.Parallel()
	d := mustOpenFastDB(t)
	mustAgent(t, d, "a1")
	s1, s2 := mustSession(t, d, "a1"), mustSession(t, d, "a1")
	b1, b2 := startBeating(t, d, s1.ID), startBeating(t, d, s2.ID)
	rec, err := d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "busy"})
	ok(t, err)

	b1.halt() // one browser crashes: the other still beats
	time.Sleep(2 * fastPolicy.DeadAfter())
	mustState(t, d, "a1", "ACTIVE")
	got, err := d.FindSession(ctx, s1.ID)
	ok(t, err)
	if !got.Lost || got.EndedAt != nil {
		t.Fatalf("crashed session: %+v", got)
	}

	b2.halt() // the network goes away
	lost := waitState(t, d, "a1", "DISCONNECTED", 10*fastPolicy.DeadAfter())
	if lost.Status.ID != "busy" || *lost.SpellID != *rec.SpellID {
		t.Fatalf("a disconnect changed the status: %+v", lost)
	}

	ok(t, d.Heartbeat(ctx, s2.ID, nil)) // …and comes back
	mustState(t, d, "a1", "ACTIVE")
	startBeating(t, d, s2.ID)
	time.Sleep(2 * fastPolicy.DeadAfter())
	back := mustState(t, d, "a1", "ACTIVE")
	if *back.SpellID != *rec.SpellID {
		t.Fatalf("the return changed the spell: %+v", back)
	}
	if got := stateEvents(t, d, "a1"); fmt.Sprint(got) != "[ACTIVE DISCONNECTED ACTIVE]" {
		t.Fatalf("state events: %v", got)
	}
}

// The sweeper never declares a session that beats on time lost, and
// declares a silent one lost no earlier than StaleAfter and within
// DeadAfter after its last beat (by the database's clock; the slack covers
// a sweep delayed on a loaded test machine).
func TestSweeperTiming(t *testing.T) {
	t.Parallel()
	d := mustOpenFastDB(t)
	mustAgent(t, d, "a1")
	s := mustSession(t, d, "a1")
	// Beat exactly once per interval, not more often, for a while.
	for range 8 {
		time.Sleep(fastPolicy.Interval)
		ok(t, d.Heartbeat(ctx, s.ID, nil))
	}
	mustState(t, d, "a1", "ACTIVE")
	waitState(t, d, "a1", "DISCONNECTED", 10*fastPolicy.DeadAfter())
	var silentFor time.Duration
	ok(t, d.Pool().QueryRow(ctx, `SELECT st.state_since - s.last_beat_at FROM agent_states st, sessions s
		WHERE st.agent_id = 'a1' AND s.id = $1`, s.ID).Scan(&silentFor))
	const slack = 500 * time.Millisecond
	if silentFor < fastPolicy.StaleAfter() || silentFor > fastPolicy.DeadAfter()+slack {
		t.Fatalf("declared lost %s after the last beat; want between %s and %s", silentFor, fastPolicy.StaleAfter(), fastPolicy.DeadAfter())
	}
	if got := stateEvents(t, d, "a1"); fmt.Sprint(got) != "[ACTIVE DISCONNECTED]" {
		t.Fatalf("state events: %v", got)
	}
}

// Only the node that holds the sweep lock sweeps; the others skip the round.
func TestSweeperRunsOnOneNodeAtATime(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	d.Heartbeats = fastPolicy
	mustAgent(t, d, "a1")
	mustSession(t, d, "a1")
	time.Sleep(fastPolicy.StaleAfter() + 50*time.Millisecond)

	other, err := d.Pool().Begin(ctx) // another node, mid-sweep
	ok(t, err)
	var won bool
	ok(t, other.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, int64(0x70726573_00000002)).Scan(&won))
	if !won {
		t.Fatal("could not take the sweep lock")
	}
	n, err := db.NewSweeper(d).Sweep(ctx)
	ok(t, err)
	if n != 0 {
		t.Fatalf("swept %d sessions while another node holds the lock", n)
	}
	mustState(t, d, "a1", "ACTIVE")
	ok(t, other.Rollback(ctx))
	n, err = db.NewSweeper(d).Sweep(ctx)
	ok(t, err)
	if n != 1 {
		t.Fatalf("swept %d sessions, want 1", n)
	}
	mustState(t, d, "a1", "DISCONNECTED")
}

// A sweep over many agents locks them in batches and publishes one state
// event per agent.
func TestSweeperBatches(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	d.Heartbeats = fastPolicy
	const agents = 25
	for i := range agents {
		id := fmt.Sprintf("a%02d", i)
		mustAgent(t, d, id)
		mustSession(t, d, id)
		mustSession(t, d, id)
	}
	time.Sleep(fastPolicy.StaleAfter() + 50*time.Millisecond)
	sw := db.NewSweeper(d)
	sw.BatchSize = 7
	n, err := sw.Sweep(ctx)
	ok(t, err)
	if n != 2*agents {
		t.Fatalf("swept %d sessions, want %d", n, 2*agents)
	}
	for i := range agents {
		id := fmt.Sprintf("a%02d", i)
		mustState(t, d, id, "DISCONNECTED")
		if got := stateEvents(t, d, id); fmt.Sprint(got) != "[ACTIVE DISCONNECTED]" {
			t.Fatalf("%s state events: %v", id, got)
		}
	}
	if n, err = sw.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("second sweep: %d %v", n, err)
	}
}

// A heartbeat that changes nothing is one UPDATE that writes no event (and
// so rings no bell), creates no spell, and keeps the session's flags.
func TestHeartbeatFastPathWritesNoEvent(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	s := mustSession(t, d, "a1")
	ok(t, d.Heartbeat(ctx, s.ID, ptr(true)))
	events := func() (n int) {
		ok(t, d.Pool().QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n))
		return n
	}
	head := events()
	var before time.Time
	ok(t, d.Pool().QueryRow(ctx, `SELECT last_beat_at FROM sessions WHERE id = $1`, s.ID).Scan(&before))
	for range 50 {
		ok(t, d.Heartbeat(ctx, s.ID, nil))
		ok(t, d.Heartbeat(ctx, s.ID, ptr(true)))
	}
	if after := events(); after != head {
		t.Fatalf("heartbeats wrote %d events", after-head)
	}
	got, err := d.FindSession(ctx, s.ID)
	ok(t, err)
	if !got.LastHeartbeatAt.After(before) || !got.Idle || got.Lost {
		t.Fatalf("session after beats: %+v", got)
	}
	if n := len(mustSpells(t, d, "a1")); n != 1 {
		t.Fatalf("heartbeats created spells: %d", n)
	}
}

// last_beat_at must stay out of every index, or each heartbeat would write
// index entries instead of being a HOT update.
func TestHeartbeatColumnIsInNoIndex(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	var n int
	ok(t, d.Pool().QueryRow(ctx, `
		SELECT count(*) FROM pg_index i
		WHERE i.indrelid = 'sessions'::regclass
		  AND (EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indrelid
		               AND a.attnum = ANY(i.indkey) AND a.attname IN ('last_beat_at', 'idle', 'lost'))
		       OR pg_get_expr(i.indexprs, i.indrelid) ~ '(last_beat_at|idle|lost)'
		       OR pg_get_expr(i.indpred, i.indrelid) ~ '(last_beat_at|idle|lost)')`).Scan(&n))
	if n != 0 {
		t.Fatalf("%d indexes on sessions name a column that heartbeats write", n)
	}
}

// Logins, beats, idle flips, logouts and sweeps of one agent at once: the
// agent lock serialises them, no deadlock, and the stored state always
// matches the sessions.
func TestSessionsConcurrent(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	d.Heartbeats = presence.HeartbeatPolicy{Interval: 20 * time.Millisecond, MaxMissed: 1}
	mustAgent(t, d, "a1")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 15 {
				s, err := d.OpenSession(ctx, "a1", presence.SessionInput{})
				if err != nil {
					t.Error(err)
					return
				}
				for j := range 3 {
					// A session that a slow scheduler let go silent may
					// have been ended by another client's last live logout.
					if err := d.Heartbeat(ctx, s.ID, ptr((g+i+j)%2 == 0)); err != nil && presence.ErrorReason(err) != "session_ended" {
						t.Error(err)
					}
				}
				if (g+i)%3 == 0 {
					time.Sleep(40 * time.Millisecond) // goes silent for a while
				}
				if err := d.CloseSession(ctx, s.ID); err != nil && presence.ErrorReason(err) != "session_ended" {
					t.Error(err) // ended already when another goroutine's logout was the last live one
				}
			}
		}()
	}
	sw := db.NewSweeper(d)
	stop := make(chan struct{})
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := sw.Sweep(ctx); err != nil {
				t.Error(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	wg.Wait()
	close(stop)
	<-swept
	rec := mustState(t, d, "a1", "OFFLINE")
	if rec.Status.ID != "offline" {
		t.Fatalf("after every logout: %+v", rec)
	}
	// Every state event differs from the one before it.
	got := stateEvents(t, d, "a1")
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			t.Fatalf("state event %d repeats %s: %v", i, got[i], got)
		}
	}
	if got[len(got)-1] != "OFFLINE" {
		t.Fatalf("last state event %s", got[len(got)-1])
	}
}

// Many clients beating at once, the same sessions included, with idle
// flips, beats to ended sessions and a sweeper marking silent ones lost:
// every beat gets the right answer, none hangs, and every agent's stored
// state matches its sessions afterwards.
func TestHeartbeatsConcurrent(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	d.Heartbeats = presence.HeartbeatPolicy{Interval: 40 * time.Millisecond, MaxMissed: 1}
	var live, ended []string
	for i := range 20 {
		id := fmt.Sprintf("a%02d", i)
		mustAgent(t, d, id)
		for j := range 3 {
			s := mustSession(t, d, id)
			if j == 2 {
				ok(t, d.CloseSession(ctx, s.ID))
				ended = append(ended, s.ID)
			} else {
				live = append(live, s.ID)
			}
		}
	}
	sw := db.NewSweeper(d)
	sw.Open()
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 150 {
				var idle *bool
				switch (g + i) % 5 {
				case 0:
					idle = ptr(true)
				case 1:
					idle = ptr(false)
				}
				if i%10 == 0 {
					err := d.Heartbeat(ctx, ended[(g+i)%len(ended)], idle)
					if presence.ErrorReason(err) != "session_ended" {
						t.Errorf("beat to an ended session: %v", err)
					}
					continue
				}
				if err := d.Heartbeat(ctx, live[(g*7+i)%len(live)], idle); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	sw.Close()
	var wrong []string
	rows, err := d.Pool().Query(ctx, `
		SELECT a.id FROM agents a
		LEFT JOIN agent_states st ON st.agent_id = a.id
		WHERE coalesce(st.state, 'OFFLINE') <> (
			SELECT CASE WHEN count(*) = 0 THEN 'OFFLINE'
			            WHEN count(*) FILTER (WHERE NOT lost) = 0 THEN 'DISCONNECTED'
			            WHEN bool_and(idle) FILTER (WHERE NOT lost) THEN 'AWAY'
			            ELSE 'ACTIVE' END
			FROM sessions s WHERE s.agent_id = a.id AND s.ended_at IS NULL)`)
	ok(t, err)
	wrong, err = pgx.CollectRows(rows, pgx.RowTo[string])
	ok(t, err)
	if len(wrong) > 0 {
		t.Fatalf("stored state disagrees with the sessions of %v", wrong)
	}
}

// Every transition between the four states that clients can cause, each
// publishing one agents.{id}.state event (OFFLINE can only be left for
// ACTIVE: a new session is live and not idle).
func TestStateTransitions(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	d.Heartbeats = fastPolicy
	sw := db.NewSweeper(d)
	silence := func() { // the client stops beating until the sweeper notices
		time.Sleep(fastPolicy.StaleAfter() + 50*time.Millisecond)
		_, err := sw.Sweep(ctx)
		ok(t, err)
	}
	mustAgent(t, d, "a1")
	steps := []struct {
		name string
		do   func(s *presence.Session) *presence.Session
		want string
	}{
		{"login: OFFLINE → ACTIVE", func(*presence.Session) *presence.Session { return mustSession(t, d, "a1") }, "ACTIVE"},
		{"idle: ACTIVE → AWAY", func(s *presence.Session) *presence.Session { ok(t, d.Heartbeat(ctx, s.ID, ptr(true))); return s }, "AWAY"},
		{"back: AWAY → ACTIVE", func(s *presence.Session) *presence.Session { ok(t, d.Heartbeat(ctx, s.ID, ptr(false))); return s }, "ACTIVE"},
		{"silent: ACTIVE → DISCONNECTED", func(s *presence.Session) *presence.Session { silence(); return s }, "DISCONNECTED"},
		{"returns: DISCONNECTED → ACTIVE", func(s *presence.Session) *presence.Session { ok(t, d.Heartbeat(ctx, s.ID, nil)); return s }, "ACTIVE"},
		{"logout: ACTIVE → OFFLINE", func(s *presence.Session) *presence.Session { ok(t, d.CloseSession(ctx, s.ID)); return s }, "OFFLINE"},
		{"login again", func(*presence.Session) *presence.Session { return mustSession(t, d, "a1") }, "ACTIVE"},
		{"idle", func(s *presence.Session) *presence.Session { ok(t, d.Heartbeat(ctx, s.ID, ptr(true))); return s }, "AWAY"},
		{"silent while idle: AWAY → DISCONNECTED", func(s *presence.Session) *presence.Session { silence(); return s }, "DISCONNECTED"},
		{"returns idle: DISCONNECTED → AWAY", func(s *presence.Session) *presence.Session { ok(t, d.Heartbeat(ctx, s.ID, nil)); return s }, "AWAY"},
		{"logout while idle: AWAY → OFFLINE", func(s *presence.Session) *presence.Session { ok(t, d.CloseSession(ctx, s.ID)); return s }, "OFFLINE"},
		{"login, third time", func(*presence.Session) *presence.Session { return mustSession(t, d, "a1") }, "ACTIVE"},
		{"silent", func(s *presence.Session) *presence.Session { silence(); return s }, "DISCONNECTED"},
		{"returns only to log out: DISCONNECTED → OFFLINE", func(s *presence.Session) *presence.Session { ok(t, d.CloseSession(ctx, s.ID)); return s }, "OFFLINE"},
	}
	var s *presence.Session
	var want []string
	for _, step := range steps {
		s = step.do(s)
		if rec := mustState(t, d, "a1", step.want); step.want != "OFFLINE" && rec.Status.ID != "available" {
			t.Fatalf("%s: status %s", step.name, rec.Status.ID)
		}
		want = append(want, step.want)
	}
	if got := stateEvents(t, d, "a1"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("state events %v, want %v", got, want)
	}
}
