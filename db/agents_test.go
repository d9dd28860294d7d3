package db_test

import (
	"fmt"
	"testing"
	"time"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/dbtest"
)

func TestAgents(t *testing.T) {
	t.Parallel()
	t.Run("CreateDefaultsAndPresence", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		a, err := d.CreateAgent(ctx, presence.AgentInput{ID: "jane.doe@example.com"})
		ok(t, err)
		if a.Name != "jane.doe@example.com" || a.DefaultStatus != "available" || a.Capacity != 1 || a.InterruptCapacity != 0 {
			t.Fatalf("defaults: %+v", a)
		}
		// A new agent has no spell: offline, OFFLINE, spell_id null.
		p := a.Presence
		if p.Status.ID != "offline" || p.State != "OFFLINE" || p.SpellID != nil || p.RoutingStatus != "OFF_QUEUE" {
			t.Fatalf("new agent presence: %+v", p)
		}
	})
	t.Run("ErrExists", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		_, err := d.CreateAgent(ctx, presence.AgentInput{ID: "a1"})
		ok(t, err)
		_, err = d.CreateAgent(ctx, presence.AgentInput{ID: "a1"})
		mustReason(t, err, "agent_exists")
		// Deleted ones count too.
		ok(t, d.DeleteAgent(ctx, "a1"))
		_, err = d.CreateAgent(ctx, presence.AgentInput{ID: "a1"})
		mustCode(t, err, presence.ECONFLICT)
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		for _, in := range []presence.AgentInput{
			{ID: ""}, {ID: "has space"}, {ID: string(make([]byte, 129))},
			{ID: "a", Capacity: ptr(-1)}, {ID: "a", Name: ptr("")},
			{ID: "a", DefaultStatus: ptr("no-such-status")},
		} {
			_, err := d.CreateAgent(ctx, in)
			mustCode(t, err, presence.EINVALID)
		}
		items, _, err := d.FindAgents(ctx, presence.AgentFilter{})
		ok(t, err)
		if len(items) != 0 {
			t.Fatalf("invalid input wrote %d agents", len(items))
		}
	})
	t.Run("ListPaging", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		for i := range 25 {
			_, err := d.CreateAgent(ctx, presence.AgentInput{ID: fmt.Sprintf("a%02d", i)})
			ok(t, err)
		}
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			items, next, err := d.FindAgents(ctx, presence.AgentFilter{Limit: 10, Cursor: cursor})
			ok(t, err)
			for _, a := range items {
				got = append(got, a.ID)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if len(got) != 25 || got[0] != "a00" || got[24] != "a24" {
			t.Fatalf("paged ids: %v", got)
		}
		_, _, err := d.FindAgents(ctx, presence.AgentFilter{Cursor: "!!"})
		mustCode(t, err, presence.EBADREQUEST)
	})
	t.Run("UpdateDeleteRestore", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		_, err := d.CreateAgent(ctx, presence.AgentInput{ID: "a1", Name: ptr("Ann")})
		ok(t, err)
		a, err := d.UpdateAgent(ctx, presence.AgentInput{ID: "a1", Capacity: ptr(3), DefaultStatus: ptr("busy")})
		ok(t, err)
		if a.Name != "Ann" || a.Capacity != 3 || a.DefaultStatus != "busy" || a.Presence.Capacity.Configured != 3 {
			t.Fatalf("updated: %+v", a)
		}
		_, err = d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "available"})
		ok(t, err)
		ok(t, d.DeleteAgent(ctx, "a1"))
		_, err = d.FindAgentByID(ctx, "a1")
		mustCode(t, err, presence.ENOTFOUND)
		_, err = d.UpdateAgent(ctx, presence.AgentInput{ID: "a1", Name: ptr("x")})
		mustCode(t, err, presence.ENOTFOUND)
		mustCode(t, d.DeleteAgent(ctx, "a1"), presence.ENOTFOUND)
		deleted, _, err := d.FindAgents(ctx, presence.AgentFilter{Deleted: true})
		ok(t, err)
		if len(deleted) != 1 || deleted[0].DeletedAt == nil {
			t.Fatalf("deleted list: %+v", deleted)
		}
		// Deleting ended the spell, so reports stop counting it.
		cur, _, err := d.FindSpells(ctx, presence.SpellFilter{AgentID: "a1", CurrentOnly: true})
		ok(t, err)
		if len(cur) != 0 {
			t.Fatalf("deleted agent still has a current spell")
		}
		a, err = d.RestoreAgent(ctx, "a1")
		ok(t, err)
		if a.DeletedAt != nil || a.Presence.Status.ID != "offline" {
			t.Fatalf("restored: %+v %+v", a, a.Presence)
		}
		_, err = d.RestoreAgent(ctx, "a1")
		mustReason(t, err, "not_deleted")
		_, err = d.RestoreAgent(ctx, "nobody")
		mustCode(t, err, presence.ENOTFOUND)
	})
	t.Run("UpdatedDeletedWindows", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		start := time.Now().Add(-time.Second)
		for _, id := range []string{"a", "b", "c"} {
			_, err := d.CreateAgent(ctx, presence.AgentInput{ID: id})
			ok(t, err)
		}
		ok(t, d.DeleteAgent(ctx, "b"))
		end := time.Now().Add(time.Second)
		up, next, err := d.AgentsUpdated(ctx, presence.Window{Start: start, End: end, Limit: 2})
		ok(t, err)
		if len(up) != 2 || next == "" {
			t.Fatalf("first page: %v %q", up, next)
		}
		rest, next, err := d.AgentsUpdated(ctx, presence.Window{Start: start, End: end, Limit: 2, Cursor: next})
		ok(t, err)
		if len(rest) != 1 || next != "" {
			t.Fatalf("second page: %v %q", rest, next)
		}
		del, _, err := d.AgentsDeleted(ctx, presence.Window{Start: start, End: end})
		ok(t, err)
		if len(del) != 1 || del[0].ID != "b" {
			t.Fatalf("deleted window: %+v", del)
		}
		none, _, err := d.AgentsDeleted(ctx, presence.Window{Start: end, End: end.Add(time.Hour)})
		ok(t, err)
		if len(none) != 0 {
			t.Fatalf("window after: %+v", none)
		}
	})
}

func TestUpsertAgents(t *testing.T) {
	t.Parallel()
	t.Run("CreateAndUpdateMany", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		_, err := d.CreateAgent(ctx, presence.AgentInput{ID: "old", Name: ptr("Old Name"), Capacity: ptr(4)})
		ok(t, err)
		items := []presence.AgentInput{{ID: "old", DefaultStatus: ptr("busy")}}
		for i := range 999 {
			items = append(items, presence.AgentInput{ID: fmt.Sprintf("t%03d", i), DefaultStatus: ptr("busy")})
		}
		out, err := d.UpsertAgents(ctx, items)
		ok(t, err)
		if len(out) != 1000 || out[0].Name != "Old Name" || out[0].Capacity != 4 || out[0].DefaultStatus != "busy" {
			t.Fatalf("merged: %+v", out[0])
		}
		if out[999].ID != "t998" || out[999].DefaultStatus != "busy" {
			t.Fatalf("order or values: %+v", out[999])
		}
	})
	t.Run("ErrInvalidItemRejectsAll", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		items := []presence.AgentInput{{ID: "a"}, {ID: "b"}, {ID: "c", DefaultStatus: ptr("nope")}}
		_, err := d.UpsertAgents(ctx, items)
		mustCode(t, err, presence.EINVALID)
		if msg := presence.ErrorMessage(err); msg[:9] != "items[2]:" {
			t.Fatalf("message does not name the index: %q", msg)
		}
		_, err = d.UpsertAgents(ctx, []presence.AgentInput{{ID: "a"}, {ID: "a"}})
		mustCode(t, err, presence.EINVALID)
		agents, _, err2 := d.FindAgents(ctx, presence.AgentFilter{})
		ok(t, err2)
		if len(agents) != 0 {
			t.Fatalf("rejected batch wrote %d agents", len(agents))
		}
		_, err = d.UpsertAgents(ctx, make([]presence.AgentInput, 1001))
		mustCode(t, err, presence.ETOOLARGE)
	})
	t.Run("ErrDeletedAgent", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		_, err := d.CreateAgent(ctx, presence.AgentInput{ID: "gone"})
		ok(t, err)
		ok(t, d.DeleteAgent(ctx, "gone"))
		_, err = d.UpsertAgents(ctx, []presence.AgentInput{{ID: "new"}, {ID: "gone"}})
		mustReason(t, err, "agent_deleted")
	})
}
