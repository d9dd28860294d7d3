package db_test

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
)

func custom(kv ...string) map[string]map[string]*string {
	out := map[string]map[string]*string{}
	for i := 0; i+2 < len(kv); i += 3 {
		if out[kv[i]] == nil {
			out[kv[i]] = map[string]*string{}
		}
		if kv[i+2] == "<null>" {
			out[kv[i]][kv[i+1]] = nil
		} else {
			out[kv[i]][kv[i+1]] = ptr(kv[i+2])
		}
	}
	return out
}

func mustAttributes(t *testing.T, d *db.DB, id string, want map[string]map[string]string) *presence.AttributeSet {
	t.Helper()
	set, err := d.FindAttributes(ctx, id)
	ok(t, err)
	if want == nil {
		want = map[string]map[string]string{}
	}
	if !reflect.DeepEqual(set.Custom, want) {
		t.Fatalf("custom attributes = %v, want %v", set.Custom, want)
	}
	return set
}

func TestSetAttributes(t *testing.T) {
	t.Parallel()
	t.Run("UpsertsRemovesAndReadsBack", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		_, err := d.SetPresence(ctx, "a1", presence.PresenceChange{Status: "busy", ReasonCode: ptr("call")})
		ok(t, err)
		set, err := d.SetAttributes(ctx, "a1", presence.AttributeChange{
			Message:     ptr("on a call"),
			Geolocation: &presence.Geolocation{Lat: 48.8566, Lon: 2.3522},
			Custom: custom("CustomerService", "languages", "French", "CustomerService", "phone/status", "AVAILABLE",
				"Sales", "region", "EU"),
		})
		ok(t, err)
		if set.AgentID != "a1" || set.Geolocation == nil || set.Geolocation.Lat != 48.8566 || set.Geolocation.Lon != 2.3522 ||
			set.Geolocation.UpdatedAt == nil || set.Custom["CustomerService"]["phone/status"] != "AVAILABLE" {
			t.Fatalf("set: %+v", set)
		}
		mustAttributes(t, d, "a1", map[string]map[string]string{
			"CustomerService": {"languages": "French", "phone/status": "AVAILABLE"}, "Sales": {"region": "EU"}})
		// The message is the presence message: same spell, status and
		// reason code kept.
		rec, err := d.FindPresence(ctx, "a1")
		ok(t, err)
		if *rec.Message != "on a call" || rec.Status.ID != "busy" || *rec.ReasonCode != "call" {
			t.Fatalf("presence: %+v", rec)
		}

		_, err = d.SetAttributes(ctx, "a1", presence.AttributeChange{
			RemoveGeolocation: true,
			Custom:            custom("CustomerService", "languages", "<null>", "Sales", "region", "", "Sales", "absent", "<null>"),
		})
		ok(t, err)
		set = mustAttributes(t, d, "a1", map[string]map[string]string{
			"CustomerService": {"phone/status": "AVAILABLE"}, "Sales": {"region": ""}})
		if set.Geolocation != nil {
			t.Fatalf("geolocation not removed: %+v", set.Geolocation)
		}
		spells, _, err := d.FindSpells(ctx, presence.SpellFilter{AgentID: "a1"})
		ok(t, err)
		if len(spells) != 1 {
			t.Fatalf("a message opened a spell: %d spells", len(spells))
		}
	})
	t.Run("MessageWithoutPresenceIsAConflict", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		_, err := d.SetAttributes(ctx, "a1", presence.AttributeChange{Message: ptr("hi"), Custom: custom("c", "n", "v")})
		mustReason(t, err, "no_current_spell")
		mustAttributes(t, d, "a1", nil) // the custom part was not written either
	})
	t.Run("InvalidInputWritesNothing", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		long := strings.Repeat("é", 257)
		for name, ch := range map[string]presence.AttributeChange{
			"LatTooBig":        {Geolocation: &presence.Geolocation{Lat: 90.5, Lon: 0}, Custom: custom("c", "n", "v")},
			"LonTooSmall":      {Geolocation: &presence.Geolocation{Lat: 0, Lon: -180.1}},
			"NaN":              {Geolocation: &presence.Geolocation{Lat: math.NaN(), Lon: 0}},
			"Inf":              {Geolocation: &presence.Geolocation{Lat: 0, Lon: math.Inf(1)}},
			"SetAndRemove":     {Geolocation: &presence.Geolocation{}, RemoveGeolocation: true},
			"EmptyCategory":    {Custom: custom("", "n", "v")},
			"EmptyName":        {Custom: custom("c", "", "v")},
			"LongCategory":     {Custom: custom(strings.Repeat("c", 65), "n", "v")},
			"LongName":         {Custom: custom("c", strings.Repeat("n", 129), "v")},
			"LongValue":        {Custom: custom("c", "n", long)},
			"NulValue":         {Custom: custom("c", "n", "a\x00b")},
			"ControlInName":    {Custom: custom("c", "n\x01", "v")},
			"BadUTF8":          {Custom: custom("c", "n", "\xff")},
			"EmptyCategorySet": {Custom: map[string]map[string]*string{"c": {}}},
			"LongMessage":      {Message: ptr(strings.Repeat("m", 501))},
		} {
			_, err := d.SetAttributes(ctx, "a1", ch)
			if presence.ErrorCode(err) != presence.EINVALID {
				t.Errorf("%s: %v, want invalid", name, err)
			}
		}
		set := mustAttributes(t, d, "a1", nil)
		if set.Geolocation != nil {
			t.Fatalf("geolocation written: %+v", set.Geolocation)
		}
	})
	t.Run("PerAgentLimit", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		ch := presence.AttributeChange{Custom: map[string]map[string]*string{"c": {}}}
		for i := range presence.MaxAttributesPerAgent {
			ch.Custom["c"]["n"+strconv.Itoa(i)] = ptr("v")
		}
		_, err := d.SetAttributes(ctx, "a1", ch)
		ok(t, err)
		// Replacing values and removing is fine at the limit…
		_, err = d.SetAttributes(ctx, "a1", presence.AttributeChange{Custom: custom("c", "n0", "w", "c", "n1", "<null>")})
		ok(t, err)
		_, err = d.SetAttributes(ctx, "a1", presence.AttributeChange{Custom: custom("c", "n1", "back")})
		ok(t, err)
		// …one more is not, and the whole request is rolled back.
		_, err = d.SetAttributes(ctx, "a1", presence.AttributeChange{Custom: custom("c", "n0", "x", "d", "extra", "v")})
		mustReason(t, err, "too_many_attributes")
		set, err := d.FindAttributes(ctx, "a1")
		ok(t, err)
		if len(set.Custom["c"]) != presence.MaxAttributesPerAgent || set.Custom["c"]["n0"] != "w" || set.Custom["d"] != nil {
			t.Fatalf("the rejected request left traces: %d attributes, n0=%q, d=%v", len(set.Custom["c"]), set.Custom["c"]["n0"], set.Custom["d"])
		}
	})
	// Two requests that each fit but together do not: the agent's row lock
	// serialises them, so the second sees the first's rows and fails.
	t.Run("ConcurrentRequestsCannotPassTheLimitTogether", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		for round := range 5 {
			id := "a" + strconv.Itoa(round)
			mustAgent(t, d, id)
			errs := make(chan error, 2)
			for g := range 2 {
				go func() {
					ch := presence.AttributeChange{Custom: map[string]map[string]*string{"c": {}}}
					for i := range 60 {
						ch.Custom["c"][fmt.Sprintf("g%d-%d", g, i)] = ptr("v")
					}
					_, err := d.SetAttributes(ctx, id, ch)
					errs <- err
				}()
			}
			e1, e2 := <-errs, <-errs
			if (e1 == nil) == (e2 == nil) {
				t.Fatalf("round %d: errors %v and %v, want exactly one too_many_attributes", round, e1, e2)
			}
			set, err := d.FindAttributes(ctx, id)
			ok(t, err)
			if len(set.Custom["c"]) != 60 {
				t.Fatalf("round %d: %d attributes stored", round, len(set.Custom["c"]))
			}
		}
	})
	t.Run("UnknownOrDeletedAgent", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		_, err := d.SetAttributes(ctx, "ghost", presence.AttributeChange{Custom: custom("c", "n", "v")})
		mustReason(t, err, "agent_not_found")
		_, err = d.FindAttributes(ctx, "ghost")
		mustReason(t, err, "agent_not_found")
		mustAgent(t, d, "a1")
		_, err = d.SetAttributes(ctx, "a1", presence.AttributeChange{Custom: custom("c", "n", "v")})
		ok(t, err)
		ok(t, d.DeleteAgent(ctx, "a1"))
		_, err = d.FindAttributes(ctx, "a1")
		mustReason(t, err, "agent_not_found")
		// Restored, the agent has its attributes back.
		_, err = d.RestoreAgent(ctx, "a1")
		ok(t, err)
		mustAttributes(t, d, "a1", map[string]map[string]string{"c": {"n": "v"}})
	})
}

func TestDeleteAttribute(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	_, err := d.SetAttributes(ctx, "a1", presence.AttributeChange{Custom: custom("CustomerService", "phone/status", "AWAY", "c", "n", "v")})
	ok(t, err)
	ok(t, d.DeleteAttribute(ctx, "a1", "CustomerService", "phone/status"))
	mustAttributes(t, d, "a1", map[string]map[string]string{"c": {"n": "v"}})
	mustReason(t, d.DeleteAttribute(ctx, "a1", "CustomerService", "phone/status"), "attribute_not_found")
	mustReason(t, d.DeleteAttribute(ctx, "ghost", "c", "n"), "agent_not_found")
}

// attributeEvents returns the bodies of the agents.{id}.attributes events
// in the log, and the number of presence events. It reads the table, not
// ReadEvents: that one waits for transactions of other tests' databases
// (xids are cluster-wide), which would make the counts race.
func attributeEvents(t *testing.T, d *db.DB, id string) (sets []presence.AttributeSet, presenceEvents int) {
	t.Helper()
	rows, err := d.Pool().Query(ctx, "SELECT topic, body FROM events ORDER BY xid, id")
	ok(t, err)
	defer rows.Close()
	for rows.Next() {
		var topic string
		var body []byte
		ok(t, rows.Scan(&topic, &body))
		switch topic {
		case "agents." + id + ".attributes":
			var s presence.AttributeSet
			ok(t, json.Unmarshal(body, &s))
			sets = append(sets, s)
		case "agents." + id + ".presence":
			presenceEvents++
		}
	}
	ok(t, rows.Err())
	return sets, presenceEvents
}

func TestAttributeEvents(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "john.doe")
	_, err := d.SetPresence(ctx, "john.doe", presence.PresenceChange{Status: "available"})
	ok(t, err)

	// One transaction, four rows in two tables: one event with the final set.
	_, err = d.SetAttributes(ctx, "john.doe", presence.AttributeChange{
		Geolocation: &presence.Geolocation{Lat: 1, Lon: 2},
		Custom:      custom("CustomerService", "languages", "French", "CustomerService", "phone/status", "AWAY", "Sales", "region", "EU"),
	})
	ok(t, err)
	sets, _ := attributeEvents(t, d, "john.doe")
	if len(sets) != 1 {
		t.Fatalf("%d attribute events, want 1", len(sets))
	}
	want, err := d.FindAttributes(ctx, "john.doe")
	ok(t, err)
	if !reflect.DeepEqual(sets[0].Custom, want.Custom) || sets[0].Geolocation.Lat != 1 || sets[0].AgentID != "john.doe" {
		t.Fatalf("event body %+v, want %+v", sets[0], want)
	}

	// The same values again change nothing and publish nothing.
	_, err = d.SetAttributes(ctx, "john.doe", presence.AttributeChange{
		Geolocation: &presence.Geolocation{Lat: 1, Lon: 2}, Custom: custom("Sales", "region", "EU")})
	ok(t, err)
	// A message is presence: a presence event, no attribute event.
	_, p0 := attributeEvents(t, d, "john.doe")
	_, err = d.SetAttributes(ctx, "john.doe", presence.AttributeChange{Message: ptr("brb")})
	ok(t, err)
	sets, p1 := attributeEvents(t, d, "john.doe")
	if len(sets) != 1 || p1 != p0+1 {
		t.Fatalf("after no-op and message: %d attribute events, %d → %d presence events", len(sets), p0, p1)
	}

	// Removing one attribute publishes the set without it.
	ok(t, d.DeleteAttribute(ctx, "john.doe", "CustomerService", "phone/status"))
	sets, _ = attributeEvents(t, d, "john.doe")
	if len(sets) != 2 || sets[1].Custom["CustomerService"]["phone/status"] != "" || sets[1].Custom["CustomerService"]["languages"] != "French" {
		t.Fatalf("after delete: %+v", sets)
	}
	// A failed request publishes nothing.
	_, err = d.SetAttributes(ctx, "john.doe", presence.AttributeChange{Custom: custom("c", "n", strings.Repeat("v", 300))})
	mustCode(t, err, presence.EINVALID)
	if sets, _ = attributeEvents(t, d, "john.doe"); len(sets) != 2 {
		t.Fatalf("failed request published: %d", len(sets))
	}
}
