package client_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/presencetest"
	presencesse "github.com/presenced/presenced/sse"
)

func ExampleSubscribe() {
	// A presenced event stream, in memory for the example.
	log := &presencetest.EventLog{}
	broker := presencesse.New(presencesse.Config{Log: log, Logger: slog.New(slog.DiscardHandler)})
	_ = broker.Open()
	srv := httptest.NewServer(http.HandlerFunc(broker.ServeEvents))
	defer srv.Close()
	defer broker.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := client.Subscribe(ctx, client.Options{BaseURL: srv.URL}, []string{"agents.*.presence"}, "")

	for broker.Subscribers() == 0 { // the example publishes once connected
		time.Sleep(time.Millisecond)
	}
	broker.Publish(log.Add("agents.john.doe.presence", "presence", `{"status_id":"available"}`))
	broker.Publish(log.Add("queues.sales", "queue", `{}`)) // another topic: not delivered
	broker.Publish(log.Add("agents.a2.presence", "presence", `{"status_id":"meal"}`))

	for range 2 {
		ev := <-events
		fmt.Println(ev.ID, ev.Kind, ev.Topic, string(ev.Body))
	}
	// Output:
	// 5000000003-7 presence agents.john.doe.presence {"status_id":"available"}
	// 5000000009-21 presence agents.a2.presence {"status_id":"meal"}
}
