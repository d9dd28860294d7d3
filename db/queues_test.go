package db_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
)

func mustQueue(t *testing.T, d *db.DB, id string) {
	t.Helper()
	_, _, err := d.PutQueue(ctx, presence.QueueInput{ID: id})
	ok(t, err)
}

// queueEvent is the body of a queues.{q} event.
type queueEvent struct {
	Action      string  `json:"action"`
	QueueID     string  `json:"queue_id"`
	AgentID     string  `json:"agent_id"`
	Name        string  `json:"name"`
	ReasonCode  *string `json:"reason_code"`
	MemberCount int     `json:"member_count"`
}

func queueEvents(t *testing.T, d *db.DB, q string) []queueEvent {
	t.Helper()
	var out []queueEvent
	for _, ev := range agentEvents(t, d, "queues."+q) {
		if ev.Topic != "queues."+q {
			continue
		}
		var b queueEvent
		ok(t, json.Unmarshal(ev.Body, &b))
		out = append(out, b)
	}
	return out
}

func TestPutQueue(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	q, created, err := d.PutQueue(ctx, presence.QueueInput{ID: "sales.eu"})
	ok(t, err)
	if !created || q.Name != "sales.eu" || q.MemberCount != 0 {
		t.Fatalf("created: %+v %v", q, created)
	}
	q, created, err = d.PutQueue(ctx, presence.QueueInput{ID: "sales.eu", Name: ptr("Sales Europe")})
	ok(t, err)
	if created || q.Name != "Sales Europe" {
		t.Fatalf("renamed: %+v %v", q, created)
	}
	q, _, err = d.PutQueue(ctx, presence.QueueInput{ID: "sales.eu"}) // no name: unchanged
	ok(t, err)
	if q.Name != "Sales Europe" {
		t.Fatalf("name lost: %+v", q)
	}
	_, _, err = d.PutQueue(ctx, presence.QueueInput{ID: "has space"})
	mustReason(t, err, "invalid_id")
	_, _, err = d.PutQueue(ctx, presence.QueueInput{ID: "q", Name: ptr("")})
	mustCode(t, err, presence.EINVALID)
	_, err = d.FindQueueByID(ctx, "nope")
	mustReason(t, err, "queue_not_found")

	for _, id := range []string{"b", "c", "a"} {
		mustQueue(t, d, id)
	}
	page, next, err := d.FindQueues(ctx, presence.QueueFilter{Limit: 2})
	ok(t, err)
	if len(page) != 2 || page[0].ID != "a" || next == "" {
		t.Fatalf("page 1: %v %q", page, next)
	}
	page, next, err = d.FindQueues(ctx, presence.QueueFilter{Limit: 3, Cursor: next})
	ok(t, err)
	if len(page) != 2 || page[1].ID != "sales.eu" || next != "" {
		t.Fatalf("page 2: %v %q", page, next)
	}
	evs := queueEvents(t, d, "sales.eu")
	if len(evs) != 2 || evs[0].Action != "create" || evs[1].Action != "update" || evs[1].Name != "Sales Europe" {
		t.Fatalf("queue events: %+v", evs)
	}
}

func TestQueueLoginAndLogout(t *testing.T) {
	t.Parallel()
	t.Run("RoutingStatusAndMemberCounts", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		mustAgent(t, d, "a2")
		mustQueue(t, d, "sales")
		mustQueue(t, d, "support")
		mustSession(t, d, "a1")
		mustSession(t, d, "a2")
		if rec, _ := d.FindPresence(ctx, "a1"); rec.RoutingStatus != "OFF_QUEUE" || len(rec.Queues) != 0 {
			t.Fatalf("before: %+v", rec)
		}
		_, err := d.LoginQueue(ctx, "a1", "support")
		ok(t, err)
		rec, err := d.LoginQueue(ctx, "a1", "sales")
		ok(t, err)
		if rec.RoutingStatus != "IDLE" || fmt.Sprint(rec.Queues) != "[sales support]" {
			t.Fatalf("after login: %+v", rec)
		}
		again, err := d.LoginQueue(ctx, "a1", "sales") // idempotent
		ok(t, err)
		if fmt.Sprint(again.Queues) != "[sales support]" {
			t.Fatalf("second login: %+v", again)
		}
		_, err = d.LoginQueue(ctx, "a2", "sales")
		ok(t, err)
		q, err := d.FindQueueByID(ctx, "sales")
		ok(t, err)
		if q.MemberCount != 2 {
			t.Fatalf("sales members: %d", q.MemberCount)
		}

		rec, err = d.LogoutQueues(ctx, "a1", presence.QueueLogout{Queue: ptr("sales"), ReasonCode: ptr("lunch")})
		ok(t, err)
		if rec.RoutingStatus != "IDLE" || fmt.Sprint(rec.Queues) != "[support]" {
			t.Fatalf("after leaving one: %+v", rec)
		}
		rec, err = d.LogoutQueues(ctx, "a1", presence.QueueLogout{ReasonCode: ptr("end_of_shift")})
		ok(t, err)
		if rec.RoutingStatus != "OFF_QUEUE" || len(rec.Queues) != 0 || rec.State != "ACTIVE" {
			t.Fatalf("after leaving all: %+v", rec)
		}

		// Events: joins and leaves on the queue topic with the reason
		// code and the member count; one routing event per change.
		evs := queueEvents(t, d, "sales")
		want := []string{"create/-/0", "join/a1/1", "join/a2/2", "leave/a1/1"}
		if len(evs) != len(want) {
			t.Fatalf("sales events: %+v", evs)
		}
		for i, ev := range evs {
			agent := ev.AgentID
			if agent == "" {
				agent = "-"
			}
			if got := fmt.Sprintf("%s/%s/%d", ev.Action, agent, ev.MemberCount); got != want[i] {
				t.Fatalf("sales event %d = %s, want %s", i, got, want[i])
			}
		}
		if evs[3].ReasonCode == nil || *evs[3].ReasonCode != "lunch" {
			t.Fatalf("leave reason: %+v", evs[3])
		}
		var routing []string
		for _, ev := range agentEvents(t, d, "agents.a1.routing") {
			r := recordOf(t, ev)
			routing = append(routing, fmt.Sprintf("%s%v", r.RoutingStatus, r.Queues))
		}
		if fmt.Sprint(routing) != "[IDLE[support] IDLE[sales support] IDLE[support] OFF_QUEUE[]]" {
			t.Fatalf("routing events: %v", routing)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		mustQueue(t, d, "sales")
		mustQueue(t, d, "support")

		_, err := d.LoginQueue(ctx, "a1", "sales")
		mustReason(t, err, "agent_logged_out")
		mustSession(t, d, "a1")
		_, err = d.LoginQueue(ctx, "a1", "nope")
		mustReason(t, err, "queue_not_found")
		_, err = d.LoginQueue(ctx, "a1", "bad id")
		mustReason(t, err, "queue_not_found")
		_, err = d.LoginQueue(ctx, "ghost", "sales")
		mustReason(t, err, "agent_not_found")

		_, err = d.LogoutQueues(ctx, "a1", presence.QueueLogout{})
		mustReason(t, err, "not_in_queue")
		if msg := presence.ErrorMessage(err); msg != `Agent "a1" is not logged in to any queue.` {
			t.Fatalf("message: %q", msg)
		}
		_, err = d.LoginQueue(ctx, "a1", "support")
		ok(t, err)
		_, err = d.LogoutQueues(ctx, "a1", presence.QueueLogout{Queue: ptr("sales")})
		mustReason(t, err, "not_in_queue")
		if msg := presence.ErrorMessage(err); msg != `Agent "a1" is not logged in to queue "sales".` {
			t.Fatalf("message: %q", msg)
		}
		_, err = d.LogoutQueues(ctx, "a1", presence.QueueLogout{Queue: ptr("nope")})
		mustReason(t, err, "queue_not_found")
		_, err = d.LogoutQueues(ctx, "a1", presence.QueueLogout{ReasonCode: ptr("")})
		mustCode(t, err, presence.EINVALID)
		_, err = d.LogoutQueues(ctx, "ghost", presence.QueueLogout{})
		mustReason(t, err, "agent_not_found")
		rec, err := d.FindPresence(ctx, "a1")
		ok(t, err)
		if fmt.Sprint(rec.Queues) != "[support]" {
			t.Fatalf("a failed logout changed the queues: %+v", rec)
		}
	})
	t.Run("LastLogoutLeavesEveryQueue", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		mustAgent(t, d, "a1")
		mustQueue(t, d, "sales")
		s := mustSession(t, d, "a1")
		_, err := d.LoginQueue(ctx, "a1", "sales")
		ok(t, err)
		ok(t, d.CloseSession(ctx, s.ID))
		rec := mustState(t, d, "a1", "OFFLINE")
		if rec.RoutingStatus != "OFF_QUEUE" || len(rec.Queues) != 0 {
			t.Fatalf("after logout: %+v", rec)
		}
		evs := queueEvents(t, d, "sales")
		if last := evs[len(evs)-1]; last.Action != "leave" || *last.ReasonCode != "logout" {
			t.Fatalf("leave event: %+v", last)
		}
	})
	t.Run("DisconnectKeepsQueues", func(t *testing.T) {
		t.Parallel()
		d := dbtest.MustOpenDB(t)
		d.Heartbeats = fastPolicy
		mustAgent(t, d, "a1")
		mustQueue(t, d, "sales")
		mustSession(t, d, "a1")
		_, err := d.LoginQueue(ctx, "a1", "sales")
		ok(t, err)
		time.Sleep(fastPolicy.StaleAfter() + 50*time.Millisecond)
		_, err = db.NewSweeper(d).Sweep(ctx)
		ok(t, err)
		rec := mustState(t, d, "a1", "DISCONNECTED")
		if rec.RoutingStatus != "IDLE" || fmt.Sprint(rec.Queues) != "[sales]" {
			t.Fatalf("disconnected: %+v", rec)
		}
		// A DISCONNECTED agent is logged in still, so it may leave.
		_, err = d.LogoutQueues(ctx, "a1", presence.QueueLogout{})
		ok(t, err)
	})
}

// The membership history is readable by the reporting role, with reasons.
func TestReportQueueMemberships(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	mustAgent(t, d, "a1")
	mustQueue(t, d, "sales")
	s := mustSession(t, d, "a1")
	_, err := d.LoginQueue(ctx, "a1", "sales")
	ok(t, err)
	_, err = d.LogoutQueues(ctx, "a1", presence.QueueLogout{ReasonCode: ptr("training")})
	ok(t, err)
	_, err = d.LoginQueue(ctx, "a1", "sales")
	ok(t, err)
	ok(t, d.CloseSession(ctx, s.ID))

	tx, err := d.Pool().Begin(ctx)
	ok(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `SET LOCAL ROLE presence_reporting`)
	ok(t, err)
	type row struct {
		QueueName  string
		Reason     *string
		DurationMS *int64
		IsCurrent  bool
	}
	rows, err := tx.Query(ctx, `SELECT queue_name, reason_code, duration_ms, is_current
		FROM report.queue_memberships WHERE agent_id = 'a1' ORDER BY joined_at`)
	ok(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	ok(t, err)
	if len(got) != 2 || *got[0].Reason != "training" || *got[1].Reason != "logout" || got[0].IsCurrent ||
		got[0].DurationMS == nil || got[0].QueueName != "sales" {
		t.Fatalf("memberships: %+v", got)
	}
	var sessions int
	ok(t, tx.QueryRow(ctx, `SELECT count(*) FROM report.sessions WHERE agent_id = 'a1' AND end_reason = 'logout'`).Scan(&sessions))
	if sessions != 1 {
		t.Fatalf("report.sessions: %d", sessions)
	}
	var state, routing string
	ok(t, tx.QueryRow(ctx, `SELECT state, routing_status FROM report.current_presence WHERE agent_id = 'a1'`).Scan(&state, &routing))
	if state != "OFFLINE" || routing != "OFF_QUEUE" {
		t.Fatalf("current_presence: %s %s", state, routing)
	}
}
