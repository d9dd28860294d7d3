package db_test

import (
	"testing"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/dbtest"
)

func TestStatuses(t *testing.T) {
	t.Parallel()
	t.Run("BuiltInsFirst", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		_, err := d.CreateStatus(ctx, presence.StatusInput{ID: "aaa-custom", Label: ptr("Custom"), SystemPresence: ptr("AWAY")})
		ok(t, err)
		list, err := d.FindStatuses(ctx)
		ok(t, err)
		want := []string{"available", "busy", "away", "break", "meal", "meeting", "training", "offline", "aaa-custom"}
		if len(list) != len(want) {
			t.Fatalf("statuses: %d", len(list))
		}
		for i, id := range want {
			if list[i].ID != id {
				t.Fatalf("statuses[%d] = %s, want %s", i, list[i].ID, id)
			}
		}
		if !list[8].IsAway || list[8].BuiltIn || list[0].IsAway || !list[0].BuiltIn {
			t.Fatalf("flags: %+v %+v", list[0], list[8])
		}
	})
	t.Run("CustomLifecycle", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		s, err := d.CreateStatus(ctx, presence.StatusInput{ID: "coaching", Label: ptr("Coaching"), SystemPresence: ptr("TRAINING"), IsAway: ptr(false)})
		ok(t, err)
		if s.IsAway || s.SystemPresence != "TRAINING" {
			t.Fatalf("created: %+v", s)
		}
		_, err = d.CreateStatus(ctx, presence.StatusInput{ID: "coaching", Label: ptr("x"), SystemPresence: ptr("AWAY")})
		mustReason(t, err, "status_exists")
		s, err = d.UpdateStatus(ctx, presence.StatusInput{ID: "coaching", Label: ptr("1:1 coaching")})
		ok(t, err)
		if s.Label != "1:1 coaching" || s.IsAway {
			t.Fatalf("updated: %+v", s)
		}
		_, err = d.UpdateStatus(ctx, presence.StatusInput{ID: "coaching", SystemPresence: ptr("AWAY")})
		mustCode(t, err, presence.EINVALID)

		mustAgent(t, d, "a1")
		_, err = d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "coaching"})
		ok(t, err)
		mustReason(t, d.DeleteStatus(ctx, "coaching"), "status_in_use")
		_, err = d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "available"})
		ok(t, err)
		ok(t, d.DeleteStatus(ctx, "coaching"))
		_, err = d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "coaching"})
		mustReason(t, err, "unknown_status")
		mustCode(t, d.DeleteStatus(ctx, "coaching"), presence.ENOTFOUND)
		// History keeps the deleted status.
		spells, _, err := d.FindSpells(ctx, presence.SpellFilter{AgentID: "a1", StatusID: "coaching"})
		ok(t, err)
		if len(spells) != 1 || spells[0].SystemPresence != "TRAINING" {
			t.Fatalf("history: %+v", spells)
		}
	})
	t.Run("ErrBuiltIn", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustReason(t, d.DeleteStatus(ctx, "busy"), "built_in_status")
		_, err := d.UpdateStatus(ctx, presence.StatusInput{ID: "busy", Label: ptr("x")})
		mustReason(t, err, "built_in_status")
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		for _, in := range []presence.StatusInput{
			{ID: "x"}, {ID: "x", Label: ptr("X")}, {ID: "x", Label: ptr("X"), SystemPresence: ptr("LUNCH")},
			{ID: "bad id", Label: ptr("X"), SystemPresence: ptr("AWAY")},
		} {
			_, err := d.CreateStatus(ctx, in)
			mustCode(t, err, presence.EINVALID)
		}
	})
}

func TestSpells(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	mustAgent(t, d, "a2")
	for _, s := range []string{"available", "break", "available"} {
		_, err := d.SetPresence(ctx, "a1", presence.PresenceChange{Status: s})
		ok(t, err)
	}
	_, err := d.SetPresence(ctx, "a2", presence.PresenceChange{Status: "break"})
	ok(t, err)

	t.Run("Filters", func(t *testing.T) {
		all, _, err := d.FindSpells(ctx, presence.SpellFilter{})
		ok(t, err)
		breaks, _, err := d.FindSpells(ctx, presence.SpellFilter{StatusID: "break"})
		ok(t, err)
		cur, _, err := d.FindSpells(ctx, presence.SpellFilter{CurrentOnly: true})
		ok(t, err)
		if len(all) != 4 || len(breaks) != 2 || len(cur) != 2 {
			t.Fatalf("all %d, breaks %d, current %d", len(all), len(breaks), len(cur))
		}
		// A window after every start still holds the spells running then.
		now := all[3].StartedAt
		window, _, err := d.FindSpells(ctx, presence.SpellFilter{From: &now})
		ok(t, err)
		if len(window) != 2 {
			t.Fatalf("window from the last start: %d spells", len(window))
		}
	})
	t.Run("DeleteRestore", func(t *testing.T) {
		spells, _, err := d.FindSpells(ctx, presence.SpellFilter{AgentID: "a1"})
		ok(t, err)
		closed, current := spells[1], spells[2]
		mustReason(t, d.DeleteSpell(ctx, current.ID), "spell_current")
		ok(t, d.DeleteSpell(ctx, closed.ID))
		_, err = d.FindSpellByID(ctx, closed.ID)
		mustCode(t, err, presence.ENOTFOUND)
		mustCode(t, d.DeleteSpell(ctx, closed.ID), presence.ENOTFOUND)
		after, _, err := d.FindSpells(ctx, presence.SpellFilter{AgentID: "a1"})
		ok(t, err)
		if len(after) != 2 {
			t.Fatalf("deleted spell still listed")
		}
		s, err := d.RestoreSpell(ctx, closed.ID)
		ok(t, err)
		if s.DeletedAt != nil || s.StatusID != "break" {
			t.Fatalf("restored: %+v", s)
		}
		_, err = d.RestoreSpell(ctx, closed.ID)
		mustReason(t, err, "not_deleted")
		_, err = d.RestoreSpell(ctx, 999999)
		mustCode(t, err, presence.ENOTFOUND)
		del, _, err := d.SpellsDeleted(ctx, presence.Window{Start: closed.StartedAt.Add(-1e9), End: closed.StartedAt.Add(1e12)})
		ok(t, err)
		if len(del) != 0 {
			t.Fatalf("restored spell listed as deleted: %+v", del)
		}
		up, _, err := d.SpellsUpdated(ctx, presence.Window{Start: closed.StartedAt.Add(-1e9), End: closed.StartedAt.Add(1e12)})
		ok(t, err)
		if len(up) != 4 {
			t.Fatalf("updated window: %d", len(up))
		}
	})
}
