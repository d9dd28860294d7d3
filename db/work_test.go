package db_test

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
)

// mustCapacityAgent creates an agent with the given capacities.
func mustCapacityAgent(t *testing.T, d *db.DB, id string, capacity, interrupt int) {
	t.Helper()
	_, err := d.CreateAgent(ctx, presence.AgentInput{ID: id, Capacity: &capacity, InterruptCapacity: &interrupt})
	ok(t, err)
}

func mustSet(t *testing.T, d *db.DB, agentID, status string, message ...string) *presence.Record {
	t.Helper()
	ch := presence.PresenceChange{Status: status}
	if len(message) > 0 {
		ch.Message = &message[0]
	}
	rec, err := d.SetPresence(ctx, agentID, ch)
	ok(t, err)
	return rec
}

func mustAssign(t *testing.T, d *db.DB, agentID string, units int, interruptible ...bool) *presence.Work {
	t.Helper()
	w, err := d.AssignWork(ctx, agentID, presence.WorkInput{Channel: "chat", Units: units, Interruptible: len(interruptible) > 0 && interruptible[0]})
	ok(t, err)
	return w
}

func mustClose(t *testing.T, d *db.DB, workID string) *presence.Work {
	t.Helper()
	w, err := d.CloseWork(ctx, workID)
	ok(t, err)
	return w
}

// presenceOf is "status/source/reason" of the agent's current record.
func presenceOf(t *testing.T, d *db.DB, agentID string) string {
	t.Helper()
	rec, err := d.FindPresence(ctx, agentID)
	ok(t, err)
	return describe(rec)
}

func describe(rec *presence.Record) string {
	s := rec.Status.ID
	if rec.Source != nil {
		s += "/" + *rec.Source
	}
	if rec.ReasonCode != nil {
		s += "/" + *rec.ReasonCode
	}
	return s
}

func mustPresence(t *testing.T, d *db.DB, agentID, want string) {
	t.Helper()
	if got := presenceOf(t, d, agentID); got != want {
		t.Fatalf("presence of %s = %s, want %s", agentID, got, want)
	}
}

func workCount(t *testing.T, d *db.DB) int {
	t.Helper()
	var n int
	ok(t, d.Pool().QueryRow(ctx, `SELECT count(*) FROM work_items`).Scan(&n))
	return n
}

func TestAssignWork(t *testing.T) {
	t.Parallel()
	t.Run("FitsPrimaryAndInterruptCapacity", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustCapacityAgent(t, d, "a1", 3, 1)
		w := mustAssign(t, d, "a1", 2)
		if w.AgentID != "a1" || w.Units != 2 || w.Channel != "chat" || w.ClosedAt != nil || w.Presence == nil ||
			w.Presence.Capacity != (presence.Capacity{Configured: 3, InUse: 2}) || !presence.ValidID(w.ID) {
			t.Fatalf("assigned: %+v %+v", w, w.Presence)
		}
		_, err := d.AssignWork(ctx, "a1", presence.WorkInput{Channel: "chat", Units: 2})
		mustReason(t, err, "over_capacity")
		mustCode(t, err, presence.ECONFLICT)
		mustAssign(t, d, "a1", 1)
		// Interruptible work uses the interrupt capacity, not the full primary.
		mustAssign(t, d, "a1", 1, true)
		_, err = d.AssignWork(ctx, "a1", presence.WorkInput{Channel: "chat", Units: 1, Interruptible: true})
		mustReason(t, err, "over_capacity")
		if n := workCount(t, d); n != 3 {
			t.Fatalf("refused work was written: %d items", n)
		}
		rec, err := d.FindPresence(ctx, "a1")
		ok(t, err)
		if rec.Capacity != (presence.Capacity{Configured: 3, InUse: 3}) {
			t.Fatalf("capacity: %+v", rec.Capacity)
		}
		open, err := d.FindOpenWork(ctx, "a1")
		ok(t, err)
		if len(open) != 3 || open[0].ID != w.ID {
			t.Fatalf("open work: %+v", open)
		}
	})
	t.Run("ZeroCapacityTakesNoWork", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustCapacityAgent(t, d, "a1", 0, 0)
		_, err := d.AssignWork(ctx, "a1", presence.WorkInput{Channel: "chat", Units: 1})
		mustReason(t, err, "over_capacity")
		_, err = d.AssignWork(ctx, "a1", presence.WorkInput{Channel: "chat", Units: 1, Interruptible: true})
		mustReason(t, err, "over_capacity")
	})
	t.Run("BadInputWritesNothing", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustCapacityAgent(t, d, "a1", 1000, 0)
		for _, c := range []struct {
			in     presence.WorkInput
			reason string
		}{
			{presence.WorkInput{Channel: "chat", Units: 0}, "invalid_units"},
			{presence.WorkInput{Channel: "chat", Units: -1}, "invalid_units"},
			{presence.WorkInput{Channel: "chat", Units: 1001}, "invalid_units"},
			{presence.WorkInput{Channel: "", Units: 1}, presence.EINVALID},
			{presence.WorkInput{Channel: "has space", Units: 1}, presence.EINVALID},
			{presence.WorkInput{ID: ptr(""), Channel: "chat", Units: 1}, "invalid_id"},
			{presence.WorkInput{ID: ptr(strings.Repeat("x", 129)), Channel: "chat", Units: 1}, "invalid_id"},
			{presence.WorkInput{ID: ptr("a/b"), Channel: "chat", Units: 1}, "invalid_id"},
		} {
			_, err := d.AssignWork(ctx, "a1", c.in)
			mustCode(t, err, presence.EINVALID)
			mustReason(t, err, c.reason)
		}
		_, err := d.AssignWork(ctx, "nobody", presence.WorkInput{Channel: "chat", Units: 1})
		mustReason(t, err, "agent_not_found")
		mustAgent(t, d, "gone")
		ok(t, d.DeleteAgent(ctx, "gone"))
		_, err = d.AssignWork(ctx, "gone", presence.WorkInput{Channel: "chat", Units: 1})
		mustReason(t, err, "agent_not_found")
		if n := workCount(t, d); n != 0 {
			t.Fatalf("bad input wrote %d items", n)
		}
	})
	t.Run("ClientChosenIDsAreUnique", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustCapacityAgent(t, d, "a1", 5, 0)
		mustCapacityAgent(t, d, "a2", 5, 0)
		w, err := d.AssignWork(ctx, "a1", presence.WorkInput{ID: ptr("chat-42"), Channel: "chat", Units: 1})
		ok(t, err)
		if w.ID != "chat-42" {
			t.Fatalf("id: %s", w.ID)
		}
		_, err = d.AssignWork(ctx, "a2", presence.WorkInput{ID: ptr("chat-42"), Channel: "chat", Units: 1})
		mustReason(t, err, "work_exists")
		mustClose(t, d, "chat-42")
		_, err = d.AssignWork(ctx, "a1", presence.WorkInput{ID: ptr("chat-42"), Channel: "chat", Units: 1})
		mustReason(t, err, "work_exists") // closed ones included: an id names one item for ever
		agent, err := d.WorkAgent(ctx, "chat-42")
		ok(t, err)
		if agent != "a1" {
			t.Fatalf("WorkAgent = %s", agent)
		}
		_, err = d.WorkAgent(ctx, "nope")
		mustReason(t, err, "work_not_found")
	})
}

func TestCloseAndReleaseWork(t *testing.T) {
	t.Parallel()
	t.Run("CloseOnce", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustCapacityAgent(t, d, "a1", 2, 0)
		w := mustAssign(t, d, "a1", 1)
		c := mustClose(t, d, w.ID)
		if c.ClosedAt == nil || *c.CloseReason != presence.WorkClosed || c.ReasonCode != nil || c.Presence.Capacity.InUse != 0 {
			t.Fatalf("closed: %+v", c)
		}
		_, err := d.CloseWork(ctx, w.ID)
		mustReason(t, err, "work_closed")
		mustCode(t, err, presence.ECONFLICT)
		_, err = d.CloseWork(ctx, "nope")
		mustReason(t, err, "work_not_found")
		mustCode(t, err, presence.ENOTFOUND)
		got, err := d.FindWorkByID(ctx, w.ID)
		ok(t, err)
		if got.ClosedAt == nil || !got.ClosedAt.Equal(*c.ClosedAt) {
			t.Fatalf("found: %+v", got)
		}
		open, err := d.FindOpenWork(ctx, "a1")
		ok(t, err)
		if len(open) != 0 {
			t.Fatalf("open: %+v", open)
		}
		_, err = d.FindOpenWork(ctx, "nobody")
		mustReason(t, err, "agent_not_found")
	})
	t.Run("ReleaseIsAuditedWithTheActingToken", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustCapacityAgent(t, d, "a1", 1, 0)
		mustSet(t, d, "a1", "available")
		w := mustAssign(t, d, "a1", 1)
		mustPresence(t, d, "a1", "busy/automatic/capacity_full")
		admin, _, err := d.CreateToken(ctx, presence.TokenInput{Scopes: []string{presence.ScopeAdmin}})
		ok(t, err)
		_, err = d.ReleaseWork(ctx, w.ID, presence.WorkRelease{ReasonCode: ptr("")})
		mustCode(t, err, presence.EINVALID)
		r, err := d.ReleaseWork(presence.WithToken(ctx, admin), w.ID, presence.WorkRelease{ReasonCode: ptr("stuck")})
		ok(t, err)
		if *r.CloseReason != presence.WorkReleased || *r.ReasonCode != "stuck" || r.Presence.Capacity.InUse != 0 {
			t.Fatalf("released: %+v", r)
		}
		mustPresence(t, d, "a1", "available/automatic/capacity_freed")
		_, err = d.ReleaseWork(ctx, w.ID, presence.WorkRelease{})
		mustReason(t, err, "work_closed")
		list, _, err := d.FindAudit(ctx, presence.AuditFilter{Action: presence.AuditRelease})
		ok(t, err)
		if len(list) != 1 || list[0].TargetType != "work" || list[0].TargetID != w.ID || *list[0].AgentID != "a1" ||
			list[0].ActorTokenID == nil || *list[0].ActorTokenID != admin.ID {
			t.Fatalf("audit: %+v", list)
		}
		admins := agentEvents(t, d, "admin")
		var b struct{ Action, Type, ID string }
		ok(t, json.Unmarshal(admins[len(admins)-1].Body, &b))
		if b.Action != "release" || b.Type != "work" || b.ID != w.ID {
			t.Fatalf("admin event: %+v", b)
		}
	})
	t.Run("CloseAndReleaseRace", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustCapacityAgent(t, d, "a1", 1, 0)
		for range 10 {
			w := mustAssign(t, d, "a1", 1)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			wg.Add(2)
			go func() { defer wg.Done(); _, errs[0] = d.CloseWork(ctx, w.ID) }()
			go func() { defer wg.Done(); _, errs[1] = d.ReleaseWork(ctx, w.ID, presence.WorkRelease{}) }()
			wg.Wait()
			if (errs[0] == nil) == (errs[1] == nil) {
				t.Fatalf("close and release both won or both lost: %v / %v", errs[0], errs[1])
			}
			for _, err := range errs {
				if err != nil {
					mustReason(t, err, "work_closed")
				}
			}
		}
	})
	t.Run("DeletingTheAgentClosesItsWork", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustCapacityAgent(t, d, "a1", 3, 1)
		w1 := mustAssign(t, d, "a1", 1)
		w2 := mustAssign(t, d, "a1", 1, true)
		ok(t, d.DeleteAgent(ctx, "a1"))
		for _, id := range []string{w1.ID, w2.ID} {
			w, err := d.FindWorkByID(ctx, id)
			ok(t, err)
			if w.ClosedAt == nil || *w.CloseReason != presence.WorkAgentDeleted {
				t.Fatalf("work of the deleted agent: %+v", w)
			}
		}
		_, err := d.CloseWork(ctx, w1.ID)
		mustReason(t, err, "work_closed")
		var inUse int
		ok(t, d.Pool().QueryRow(ctx, `SELECT capacity_in_use + interrupt_in_use FROM agent_states WHERE agent_id = 'a1'`).Scan(&inUse))
		if inUse != 0 {
			t.Fatalf("in use after delete: %d", inUse)
		}
	})
}

func TestAutomaticPresence(t *testing.T) {
	t.Parallel()
	t.Run("BusyWhenFullBackWhenFreed", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustCapacityAgent(t, d, "a1", 2, 0)
		mustSet(t, d, "a1", "available", "ready for chats")
		w1 := mustAssign(t, d, "a1", 1)
		if got := describe(w1.Presence); got != "available/manual" {
			t.Fatalf("half full: %s", got)
		}
		w2 := mustAssign(t, d, "a1", 1)
		if got := describe(w2.Presence); got != "busy/automatic/capacity_full" || w2.Presence.Message != nil {
			t.Fatalf("full: %s %+v", got, w2.Presence)
		}
		c := mustClose(t, d, w1.ID)
		if got := describe(c.Presence); got != "available/automatic/capacity_freed" || *c.Presence.Message != "ready for chats" {
			t.Fatalf("freed: %s %+v", got, c.Presence)
		}
		mustClose(t, d, w2.ID) // not full before either: nothing changes
		mustPresence(t, d, "a1", "available/automatic/capacity_freed")
		spells := mustSpells(t, d, "a1")
		var got []string
		for _, s := range spells {
			got = append(got, s.StatusID+"/"+s.Source)
		}
		if strings.Join(got, " ") != "available/manual busy/automatic available/automatic" {
			t.Fatalf("spells: %v", got)
		}
	})
	t.Run("CustomAvailableStatusComesBack", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		_, err := d.CreateStatus(ctx, presence.StatusInput{ID: "chat-ready", Label: ptr("Ready for chat"), SystemPresence: ptr("AVAILABLE")})
		ok(t, err)
		mustCapacityAgent(t, d, "a1", 1, 0)
		mustSet(t, d, "a1", "chat-ready")
		w := mustAssign(t, d, "a1", 1)
		mustPresence(t, d, "a1", "busy/automatic/capacity_full")
		mustClose(t, d, w.ID)
		mustPresence(t, d, "a1", "chat-ready/automatic/capacity_freed")
	})
	t.Run("DeletedStatusFallsBackToAvailable", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		_, err := d.CreateStatus(ctx, presence.StatusInput{ID: "chat-ready", Label: ptr("Ready for chat"), SystemPresence: ptr("AVAILABLE")})
		ok(t, err)
		mustCapacityAgent(t, d, "a1", 1, 0)
		mustSet(t, d, "a1", "chat-ready")
		w := mustAssign(t, d, "a1", 1)
		ok(t, d.DeleteStatus(ctx, "chat-ready")) // not in use: the agent is busy
		mustClose(t, d, w.ID)
		mustPresence(t, d, "a1", "available/automatic/capacity_freed")
	})
	// A status a person chose that is not available-class is never
	// overridden, built-in or custom, and neither is the offline status
	// of an agent with no spell.
	t.Run("ManualAwayStatusesAreNeverOverridden", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		_, err := d.CreateStatus(ctx, presence.StatusInput{ID: "coffee", Label: ptr("Coffee"), SystemPresence: ptr("AWAY")})
		ok(t, err)
		for _, status := range []string{"meeting", "meal", "break", "training", "away", "coffee", "busy", "offline"} {
			id := "a-" + status
			mustCapacityAgent(t, d, id, 1, 0)
			mustSet(t, d, id, status)
			w := mustAssign(t, d, id, 1)
			mustPresence(t, d, id, status+"/manual")
			mustClose(t, d, w.ID)
			mustPresence(t, d, id, status+"/manual")
		}
		mustCapacityAgent(t, d, "fresh", 1, 0)
		w := mustAssign(t, d, "fresh", 1)
		if w.Presence.Status.ID != "offline" || w.Presence.SpellID != nil {
			t.Fatalf("an agent with no spell changed: %+v", w.Presence)
		}
	})
	t.Run("ManualChangeWhileAutomaticallyBusyWins", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		for _, status := range []string{"meeting", "available"} {
			id := "a-" + status
			mustCapacityAgent(t, d, id, 1, 0)
			mustSet(t, d, id, "available")
			w := mustAssign(t, d, id, 1)
			mustPresence(t, d, id, "busy/automatic/capacity_full")
			mustSet(t, d, id, status)
			mustClose(t, d, w.ID)
			mustPresence(t, d, id, status+"/manual")
		}
	})
	t.Run("InterruptibleWorkLeavesPresenceAlone", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustCapacityAgent(t, d, "a1", 1, 1)
		mustSet(t, d, "a1", "available")
		w := mustAssign(t, d, "a1", 1, true)
		mustPresence(t, d, "a1", "available/manual")
		full := mustAssign(t, d, "a1", 1)
		mustPresence(t, d, "a1", "busy/automatic/capacity_full")
		mustClose(t, d, w.ID) // primary still full
		mustPresence(t, d, "a1", "busy/automatic/capacity_full")
		mustClose(t, d, full.ID)
		mustPresence(t, d, "a1", "available/automatic/capacity_freed")
	})
	t.Run("RoutingStatusFollowsOpenWork", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustCapacityAgent(t, d, "a1", 2, 1)
		mustQueue(t, d, "sales")
		mustSession(t, d, "a1")
		_, err := d.LoginQueue(ctx, "a1", "sales")
		ok(t, err)
		w := mustAssign(t, d, "a1", 1, true)
		if w.Presence.RoutingStatus != "INTERACTING" {
			t.Fatalf("with open work: %+v", w.Presence)
		}
		c := mustClose(t, d, w.ID)
		if c.Presence.RoutingStatus != "IDLE" {
			t.Fatalf("without: %+v", c.Presence)
		}
		var routing []string
		for _, ev := range agentEvents(t, d, "agents.a1.routing") {
			routing = append(routing, recordOf(t, ev).RoutingStatus)
		}
		if strings.Join(routing, " ") != "IDLE INTERACTING IDLE" {
			t.Fatalf("routing events: %v", routing)
		}
		var stored string
		ok(t, d.Pool().QueryRow(ctx, `SELECT routing_status FROM agent_states WHERE agent_id = 'a1'`).Scan(&stored))
		if stored != "IDLE" {
			t.Fatalf("stored routing status: %s", stored)
		}
	})
}

// capacityEvent is the body of an agents.{id}.capacity event.
type capacityEvent struct {
	presence.Record
	InterruptCapacity presence.Capacity `json:"interrupt_capacity"`
	Work              []presence.Work   `json:"work"`
	Change            struct {
		Action     string  `json:"action"`
		WorkID     string  `json:"work_id"`
		Units      int     `json:"units"`
		ReasonCode *string `json:"reason_code"`
	} `json:"change"`
}

// Every event of a work change carries the final record of its
// transaction: no event shows a full agent available, or a freed one in
// its automatic busy spell.
func TestWorkEventsCarryTheFinalRecord(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustCapacityAgent(t, d, "a1", 1, 2)
	mustQueue(t, d, "sales")
	mustSession(t, d, "a1")
	_, err := d.LoginQueue(ctx, "a1", "sales")
	ok(t, err)
	mustSet(t, d, "a1", "available")
	before := len(agentEvents(t, d, "agents.a1."))

	w := mustAssign(t, d, "a1", 1)
	evs := agentEvents(t, d, "agents.a1.")[before:]
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
		r := recordOf(t, ev)
		if describe(&r) != "busy/automatic/capacity_full" || r.Capacity.InUse != 1 || r.RoutingStatus != "INTERACTING" {
			t.Fatalf("%s event after assign: %s %+v", ev.Kind, describe(&r), r)
		}
	}
	if strings.Join(kinds, " ") != "presence routing capacity" {
		t.Fatalf("events of the assignment: %v", kinds)
	}
	var ce capacityEvent
	ok(t, json.Unmarshal(evs[2].Body, &ce))
	if ce.Change.Action != "assign" || ce.Change.WorkID != w.ID || len(ce.Work) != 1 || ce.Work[0].ID != w.ID ||
		ce.InterruptCapacity != (presence.Capacity{Configured: 2, InUse: 0}) || ce.Capacity.Configured != 1 {
		t.Fatalf("capacity event: %s", evs[2].Body)
	}

	before += len(evs)
	mustAssign(t, d, "a1", 1, true) // an interruptible item changes capacity only
	evs = agentEvents(t, d, "agents.a1.")[before:]
	if len(evs) != 1 || evs[0].Kind != "capacity" {
		t.Fatalf("events of an interruptible assignment: %d", len(evs))
	}
	ok(t, json.Unmarshal(evs[0].Body, &ce))
	if ce.InterruptCapacity.InUse != 1 || len(ce.Work) != 2 {
		t.Fatalf("capacity event: %s", evs[0].Body)
	}

	before += len(evs)
	mustClose(t, d, w.ID)
	evs = agentEvents(t, d, "agents.a1.")[before:]
	kinds = nil
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
		r := recordOf(t, ev)
		if describe(&r) != "available/automatic/capacity_freed" || r.Capacity.InUse != 0 || r.RoutingStatus != "INTERACTING" {
			t.Fatalf("%s event after close: %s %+v", ev.Kind, describe(&r), r)
		}
	}
	// Still INTERACTING (the interruptible item is open): no routing event.
	if strings.Join(kinds, " ") != "presence capacity" {
		t.Fatalf("events of the close: %v", kinds)
	}
	ok(t, json.Unmarshal(evs[1].Body, &ce))
	if ce.Change.Action != "close" || ce.Change.WorkID != w.ID || len(ce.Work) != 1 {
		t.Fatalf("capacity event: %s", evs[1].Body)
	}
}

// Two assignments race for the last unit: the agent's row lock serialises
// them, and exactly one wins.
func TestAssignmentsRaceForTheLastUnit(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustCapacityAgent(t, d, "a1", 3, 0)
	mustSet(t, d, "a1", "available")
	mustAssign(t, d, "a1", 1)
	mustAssign(t, d, "a1", 1)
	for round := range 20 {
		racers := 2 + round%7
		var wg sync.WaitGroup
		errs := make([]error, racers)
		works := make([]*presence.Work, racers)
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				works[i], errs[i] = d.AssignWork(ctx, "a1", presence.WorkInput{Channel: "voice", Units: 1})
			}()
		}
		wg.Wait()
		var won *presence.Work
		for i, err := range errs {
			if err == nil {
				if won != nil {
					t.Fatalf("round %d: two assignments won the last unit", round)
				}
				won = works[i]
				continue
			}
			mustReason(t, err, "over_capacity")
		}
		if won == nil {
			t.Fatalf("round %d: no assignment won", round)
		}
		mustPresence(t, d, "a1", "busy/automatic/capacity_full")
		mustClose(t, d, won.ID)
		mustPresence(t, d, "a1", "available/automatic/capacity_freed")
	}
}

// Many clients assign and close work of a few agents at once; afterwards
// the stored capacity in use matches the open items, every agent is busy
// exactly when full, and spells never overlap.
func TestWorkConcurrentChanges(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	agents := []string{"a1", "a2", "a3"}
	for _, a := range agents {
		mustCapacityAgent(t, d, a, 2, 1)
		mustSet(t, d, a, "available")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			var mine []string
			for range 40 {
				if len(mine) > 0 && r.IntN(2) == 0 {
					i := r.IntN(len(mine))
					if _, err := d.CloseWork(ctx, mine[i]); err != nil {
						errs <- err
					}
					mine = append(mine[:i], mine[i+1:]...)
					continue
				}
				w, err := d.AssignWork(ctx, agents[r.IntN(len(agents))], presence.WorkInput{
					Channel: "chat", Units: 1, Interruptible: r.IntN(4) == 0})
				if presence.ErrorReason(err) == "over_capacity" {
					continue
				} else if err != nil {
					errs <- err
					continue
				}
				mine = append(mine, w.ID)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var bad int
	ok(t, d.Pool().QueryRow(ctx, `
		SELECT count(*) FROM agent_states ls
		WHERE ls.capacity_in_use <> (SELECT coalesce(sum(units), 0) FROM work_items w
		                              WHERE w.agent_id = ls.agent_id AND w.closed_at IS NULL AND NOT interruptible)
		   OR ls.interrupt_in_use <> (SELECT coalesce(sum(units), 0) FROM work_items w
		                              WHERE w.agent_id = ls.agent_id AND w.closed_at IS NULL AND interruptible)`).Scan(&bad))
	if bad != 0 {
		t.Fatalf("%d agents' stored capacity in use differs from their open work", bad)
	}
	for _, a := range agents {
		rec, err := d.FindPresence(ctx, a)
		ok(t, err)
		full := rec.Capacity.InUse >= rec.Capacity.Configured
		if full != (rec.Status.ID == "busy") || rec.Capacity.InUse > rec.Capacity.Configured {
			t.Fatalf("%s: %s with %+v", a, describe(rec), rec.Capacity)
		}
		spells := mustSpells(t, d, a)
		for i := 1; i < len(spells); i++ {
			if !spells[i-1].EndedAt.Equal(spells[i].StartedAt) {
				t.Fatalf("%s: spells %d and %d do not touch", a, spells[i-1].ID, spells[i].ID)
			}
		}
	}
}

// The figures of spells against a hand-computed timeline, every time set
// in SQL. Window 10:00–11:00 of an agent with capacity 2:
//
//	w4  2 units   09:50:00.000–10:02:00.000  (starts before the window)
//	w1  1 unit    10:05:00.000–10:20:00.000
//	w2  1 unit    10:10:00.250–10:30:00.000
//	w3  1 interruptible  10:40:00.000–10:45:00.001
//	w5  1 unit    10:55:00.000–open
//	w6  1 unit    09:00–09:30 (before), w7 11:10–11:20 (after): ignored
//
// Primary units: 2 on 10:00–10:02, 0 to 10:05, 1 to 10:10:00.250, 2 to
// 10:20, 1 to 10:30, 0 to 10:55, 1 to 11:00.
func TestSpellCapacityFigures(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustCapacityAgent(t, d, "a1", 2, 1)
	_, err := d.Pool().Exec(ctx, `INSERT INTO work_items (id, agent_id, channel, units, interruptible, assigned_at, closed_at, close_reason) VALUES
		('w4', 'a1', 'chat', 2, false, '2026-03-02 09:50:00Z', '2026-03-02 10:02:00Z', 'closed'),
		('w1', 'a1', 'chat', 1, false, '2026-03-02 10:05:00Z', '2026-03-02 10:20:00Z', 'closed'),
		('w2', 'a1', 'chat', 1, false, '2026-03-02 10:10:00.250Z', '2026-03-02 10:30:00Z', 'closed'),
		('w3', 'a1', 'sms',  1, true,  '2026-03-02 10:40:00Z', '2026-03-02 10:45:00.001Z', 'closed'),
		('w6', 'a1', 'chat', 1, false, '2026-03-02 09:00:00Z', '2026-03-02 09:30:00Z', 'closed'),
		('w7', 'a1', 'chat', 1, false, '2026-03-02 11:10:00Z', '2026-03-02 11:20:00Z', 'closed');
		INSERT INTO work_items (id, agent_id, channel, units, assigned_at) VALUES
		('w5', 'a1', 'chat', 1, '2026-03-02 10:55:00Z')`)
	ok(t, err)
	type figures struct {
		AtCapacityMS, IdleMS int64
		Average              float64
	}
	fn := func(from, to string, capacity int) figures {
		t.Helper()
		var f figures
		ok(t, d.Pool().QueryRow(ctx, `SELECT at_capacity_ms, idle_ms, average_capacity
			FROM spell_capacity_figures('a1', $1::timestamptz, $2::timestamptz, $3)`, from, to, capacity).
			Scan(&f.AtCapacityMS, &f.IdleMS, &f.Average))
		return f
	}
	const eps = 1e-12
	near := func(a, b float64) bool { return a-b < eps && b-a < eps }
	for _, c := range []struct {
		name, from, to string
		capacity       int
		want           figures
	}{
		// at capacity: 120,000 (10:00–10:02) + 599,750 (10:10:00.250–10:20)
		// busy: 120,000 + 1,500,000 (10:05–10:30) + 300,001 (w3) + 300,000 (w5) = 2,220,001
		// ∫units: 2×120,000 + 300,250 + 2×599,750 + 600,000 + 300,000 = 2,639,750
		{"Hour", "2026-03-02 10:00Z", "2026-03-02 11:00Z", 2, figures{719_750, 3_600_000 - 2_220_001, 2_639_750.0 / 3_600_000}},
		{"FirstHalf", "2026-03-02 10:00Z", "2026-03-02 10:30Z", 2, figures{719_750, 1_800_000 - 1_620_000, 2_339_750.0 / 1_800_000}},
		{"SecondHalf", "2026-03-02 10:30Z", "2026-03-02 11:00Z", 2, figures{0, 1_800_000 - 600_001, 300_000.0 / 1_800_000}},
		// Against capacity 1, every moment with a primary unit is at capacity.
		{"HourCapacityOne", "2026-03-02 10:00Z", "2026-03-02 11:00Z", 1, figures{120_000 + 1_500_000 + 300_000, 1_379_999, 2_639_750.0 / 3_600_000}},
		// Capacity 0 is never "at capacity".
		{"CapacityZero", "2026-03-02 10:00Z", "2026-03-02 11:00Z", 0, figures{0, 1_379_999, 2_639_750.0 / 3_600_000}},
		// A window inside one item, and an empty one.
		{"InsideOneItem", "2026-03-02 10:12:00Z", "2026-03-02 10:13:00Z", 2, figures{60_000, 0, 2}},
		{"Empty", "2026-03-02 10:12:00Z", "2026-03-02 10:12:00Z", 2, figures{0, 0, 0}},
		// Sub-millisecond: 10:45:00.000–10:45:00.001 holds the last ms of w3.
		{"OneMillisecond", "2026-03-02 10:45:00Z", "2026-03-02 10:45:00.001Z", 1, figures{0, 0, 0}},
		// Whole milliseconds, truncated as duration_ms is: 0.6 ms busy, 2.1 ms idle.
		{"Truncated", "2026-03-02 10:45:00.0004Z", "2026-03-02 10:45:00.0031Z", 1, figures{0, 2, 0}},
	} {
		if got := fn(c.from, c.to, c.capacity); got.AtCapacityMS != c.want.AtCapacityMS || got.IdleMS != c.want.IdleMS || !near(got.Average, c.want.Average) {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}

	// Spells inserted closed get the figures of their window, from the
	// agent's capacity (2) when not given.
	_, err = d.Pool().Exec(ctx, `INSERT INTO spells (agent_id, status_id, source, started_at, ended_at) VALUES
		('a1', 'available', 'manual', '2026-03-02 10:00Z', '2026-03-02 10:30Z'),
		('a1', 'busy',      'manual', '2026-03-02 10:30Z', '2026-03-02 11:00Z')`)
	ok(t, err)
	spells := mustSpells(t, d, "a1")
	if len(spells) != 2 {
		t.Fatalf("spells: %d", len(spells))
	}
	for i, want := range []figures{{719_750, 180_000, 2_339_750.0 / 1_800_000}, {0, 1_199_999, 300_000.0 / 1_800_000}} {
		s := spells[i]
		if s.AtCapacityMS != want.AtCapacityMS || s.IdleMS != want.IdleMS || !near(s.AverageCapacity, want.Average) || s.ConfiguredCapacity != 2 || s.ConfiguredInterruptCapacity != 1 {
			t.Errorf("spell %d: %+v, want %+v", i, s, want)
		}
	}
	// The same through the report schema, as the reporting role.
	tx, err := d.Pool().Begin(ctx)
	ok(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `SET LOCAL ROLE presence_reporting`)
	ok(t, err)
	var at, idle int64
	var avg float64
	ok(t, tx.QueryRow(ctx, `SELECT at_capacity_ms, idle_ms, average_capacity FROM report.spells WHERE agent_id = 'a1' AND status_id = 'available'`).Scan(&at, &idle, &avg))
	if at != 719_750 || idle != 180_000 || !near(avg, 2_339_750.0/1_800_000) {
		t.Fatalf("report.spells: %d %d %v", at, idle, avg)
	}
	ok(t, tx.QueryRow(ctx, `SELECT at_capacity_ms, idle_ms FROM report.capacity_figures('a1', '2026-03-02 10:00Z', '2026-03-02 11:00Z', 2)`).Scan(&at, &idle))
	if at != 719_750 || idle != 1_379_999 {
		t.Fatalf("report.capacity_figures: %d %d", at, idle)
	}
	var n int
	ok(t, tx.QueryRow(ctx, `SELECT count(*) FROM report.work_items WHERE agent_id = 'a1' AND is_open`).Scan(&n))
	if n != 1 {
		t.Fatalf("report.work_items: %d open", n)
	}
}

// The current spell's figures are computed up to now on every read; a
// closed one's were stored when it closed, in the closing statement.
func TestSpellCapacityFiguresLive(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustCapacityAgent(t, d, "a1", 1, 0)
	// A spell that opened an hour ago, an item open since two hours ago:
	// at capacity the whole time, never idle, one unit on average.
	_, err := d.Pool().Exec(ctx, `
		INSERT INTO work_items (agent_id, channel, units, assigned_at) VALUES ('a1', 'chat', 1, now() - interval '2 hours');
		INSERT INTO spells (agent_id, status_id, source, started_at) VALUES ('a1', 'busy', 'automatic', now() - interval '1 hour')`)
	ok(t, err)
	check := func(s *presence.Spell) {
		t.Helper()
		if s.AtCapacityMS < 3_600_000 || s.AtCapacityMS > 3_600_000+60_000 || s.IdleMS != 0 || s.AverageCapacity != 1 {
			t.Fatalf("live figures: %+v", s)
		}
	}
	spells := mustSpells(t, d, "a1")
	check(spells[0])
	one, err := d.FindSpellByID(ctx, spells[0].ID)
	ok(t, err)
	check(one)
	// report.spells computes it too, for the reporting role (which may
	// not read work_items itself).
	tx, err := d.Pool().Begin(ctx)
	ok(t, err)
	_, err = tx.Exec(ctx, `SET LOCAL ROLE presence_reporting`)
	ok(t, err)
	var at int64
	ok(t, tx.QueryRow(ctx, `SELECT at_capacity_ms FROM report.spells WHERE id = $1`, spells[0].ID).Scan(&at))
	ok(t, tx.Rollback(ctx))
	if at < 3_600_000 {
		t.Fatalf("report.spells live: %d", at)
	}
	// Close it through the service: the stored figures are those of the
	// window it ended with.
	mustSet(t, d, "a1", "away")
	spells = mustSpells(t, d, "a1")
	closed := spells[0]
	var want struct {
		at, idle int64
		avg      float64
	}
	ok(t, d.Pool().QueryRow(ctx, `SELECT at_capacity_ms, idle_ms, average_capacity FROM spell_capacity_figures('a1', $1, $2, 1)`,
		closed.StartedAt, *closed.EndedAt).Scan(&want.at, &want.idle, &want.avg))
	if closed.AtCapacityMS != want.at || closed.IdleMS != want.idle || closed.AverageCapacity != want.avg || closed.AtCapacityMS < 3_600_000 {
		t.Fatalf("stored figures %+v, want %+v", closed, want)
	}
	var stored int64
	ok(t, d.Pool().QueryRow(ctx, `SELECT at_capacity_ms FROM spells WHERE id = $1`, closed.ID).Scan(&stored))
	if stored != closed.AtCapacityMS {
		t.Fatalf("not stored: %d", stored)
	}
}

// The automatic busy spell of a real assign and close: at capacity the
// whole spell, to the millisecond; the spells around it hold the rest.
func TestSpellFiguresOfAutomaticBusy(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustCapacityAgent(t, d, "a1", 1, 0)
	mustSet(t, d, "a1", "available")
	w := mustAssign(t, d, "a1", 1)
	mustClose(t, d, w.ID)
	spells := mustSpells(t, d, "a1")
	if len(spells) != 3 {
		t.Fatalf("spells: %d", len(spells))
	}
	// The spell boundaries are the item's assigned_at and closed_at.
	busy := spells[1]
	got, err := d.FindWorkByID(ctx, w.ID)
	ok(t, err)
	if !busy.StartedAt.Equal(got.AssignedAt) || !busy.EndedAt.Equal(*got.ClosedAt) {
		t.Fatalf("busy spell %s–%s, work %s–%s", busy.StartedAt, busy.EndedAt, got.AssignedAt, got.ClosedAt)
	}
	if busy.StatusID != "busy" || busy.AtCapacityMS != *busy.DurationMS || busy.IdleMS != 0 || busy.AverageCapacity != 1 {
		t.Fatalf("busy spell: duration %d, %+v", *busy.DurationMS, busy)
	}
	if before := spells[0]; before.AtCapacityMS != 0 || before.IdleMS != *before.DurationMS || before.AverageCapacity != 0 {
		t.Fatalf("spell before: %+v", before)
	}
}

// The work migration rolls back cleanly (after the ones above it) and
// applies again, with data in the tables it changes.
func TestWorkMigrationRollsBackAndForth(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustCapacityAgent(t, d, "a1", 1, 0)
	mustSet(t, d, "a1", "available")
	w := mustAssign(t, d, "a1", 1)
	mustClose(t, d, w.ID)
	m, err := d.NewMigrator()
	ok(t, err)
	defer m.Close()
	all, err := m.Status(ctx)
	ok(t, err)
	// Migration numbers are handed out ahead, so there may be gaps.
	for i := len(all) - 1; i >= 0 && all[i].Source.Version >= 6; i-- {
		r, err := m.Down(ctx)
		ok(t, err)
		if want := all[i].Source.Version; r.Source.Version != want {
			t.Fatalf("rolled back %d, want %d", r.Source.Version, want)
		}
	}
	var n int
	ok(t, d.Pool().QueryRow(ctx, `SELECT count(*) FROM presence_records r JOIN report.spells s ON s.agent_id = r.agent_id`).Scan(&n))
	if n != 3 {
		t.Fatalf("spells after rollback: %d", n)
	}
	if _, err := d.Pool().Exec(ctx, `SELECT 1 FROM work_items`); err == nil {
		t.Fatal("work_items survived the rollback")
	}
	_, err = m.Up(ctx)
	ok(t, err)
	spells := mustSpells(t, d, "a1")
	if len(spells) != 3 || spells[0].ConfiguredCapacity != 1 {
		t.Fatalf("spells after migrating again: %+v", spells)
	}
	mustAssign(t, d, "a1", 1)
	mustPresence(t, d, "a1", "busy/automatic/capacity_full")
}
