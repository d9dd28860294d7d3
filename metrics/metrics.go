// Package metrics exposes a node's health in the Prometheus text format,
// with github.com/prometheus/client_golang.
//
// The parts it watches know nothing of Prometheus: the SSE broker, the event
// listener and the pool offer plain counters through the small interfaces
// below, the HTTP server reports each request through ObserveRequest, and
// background duties report their runs through ObservePrune and ObserveSweep.
// node wires them. Each Metrics has its own registry, so several nodes in
// one process (tests, load programs) do not share figures.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every metric of ours.
const namespace = "presenced"

// LagTimeout bounds the log query a scrape makes for the listener's lag.
const LagTimeout = 2 * time.Second

// Streams is what the SSE broker reports (package sse's Broker).
type Streams interface {
	// Subscribers is the number of open streams.
	Subscribers() int
	// EventsDelivered counts events queued on subscribers' streams, one per
	// subscriber, resumed backlogs included.
	EventsDelivered() uint64
	// Deliverers is the number of goroutines writing live events.
	Deliverers() int
	// EventsWrittenDirect counts the delivered live events a deliverer
	// wrote to the stream's socket itself; the rest went through the
	// stream's writer (backlogs, slow clients, HTTP/2 and TLS streams).
	EventsWrittenDirect() uint64
	// EventsDropped counts events a subscriber could not take because it
	// fell behind; each ends that subscriber's stream, which resumes by id.
	EventsDropped() uint64
}

// Listener is what the event listener reports (package db's Listener).
type Listener interface {
	// Connected reports whether the LISTEN connection is up.
	Connected() bool
	// Reconnects counts connections lost and re-made.
	Reconnects() int64
	// Lag reads how far the listener is behind the log: the final events
	// after its delivered position (counted up to a cap) and the age of the
	// oldest of them; 0 and 0 when it has delivered everything.
	Lag(ctx context.Context) (events int64, age time.Duration, err error)
}

// Metrics holds a node's registry and the metrics that are pushed to it.
type Metrics struct {
	Registry *prometheus.Registry
	Logger   *slog.Logger

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge

	pruneRuns, sweepRuns *prometheus.CounterVec
	pruned, swept        prometheus.Counter

	handler http.Handler
}

// New returns metrics with the Go runtime and process collectors and the
// HTTP and background-duty metrics registered. Register the broker, the
// listener and the pool with their methods.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Logger:   slog.Default(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by route pattern and status code. Streams count when they end.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern and status code; SSE streams are not timed (their time is the client's connection time).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "http", Name: "requests_in_flight",
			Help: "HTTP requests being answered now, open SSE streams included.",
		}),
		pruneRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "pruner", Name: "runs_total",
			Help: "Event-log pruning rounds on this node, by result (ok, error); an ok round may have left the work to the node holding the lock.",
		}, []string{"result"}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "pruner", Name: "events_deleted_total",
			Help: "Events deleted from the log past the retention window by this node.",
		}),
		sweepRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "sweeper", Name: "runs_total",
			Help: "Heartbeat sweeps on this node, by result (ok, error); an ok sweep may have left the work to the node holding the lock.",
		}, []string{"result"}),
		swept: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "sweeper", Name: "sessions_lost_total",
			Help: "Sessions this node's sweeps declared lost for missing their heartbeats.",
		}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.inFlight, m.pruneRuns, m.pruned, m.sweepRuns, m.swept,
	)
	// The duty series exist from the start, at zero, so that an alert on
	// their rate has something to look at before the first error.
	for _, result := range []string{"ok", "error"} {
		m.pruneRuns.WithLabelValues(result)
		m.sweepRuns.WithLabelValues(result)
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{m},
		ErrorHandling: promhttp.ContinueOnError, // a failed collector must not hide the others
	})
	return m
}

// ServeHTTP answers a scrape in the Prometheus text format (or
// OpenMetrics, when the scraper asks for it).
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.handler.ServeHTTP(w, r) }

// RequestStarted counts a request in; the server calls it before the
// handler runs and ObserveRequest after.
func (m *Metrics) RequestStarted() { m.inFlight.Inc() }

// ObserveRequest records an answered request. route is the mux pattern
// ("GET /v1/agents/{id}"), never the raw path, so the label set stays
// bounded; "" (no route matched) is recorded as "unmatched". timed is false
// for streams, which are counted but not put in the latency histogram.
func (m *Metrics) ObserveRequest(route string, status int, elapsed time.Duration, timed bool) {
	m.inFlight.Dec()
	if route == "" {
		route = "unmatched"
	}
	code := strconv.Itoa(status)
	m.requests.WithLabelValues(route, code).Inc()
	if timed {
		m.duration.WithLabelValues(route, code).Observe(elapsed.Seconds())
	}
}

// ObservePrune records one round of the event pruner (db.Pruner.OnPrune).
func (m *Metrics) ObservePrune(deleted int64, err error) {
	m.pruneRuns.WithLabelValues(result(err)).Inc()
	m.pruned.Add(float64(max(deleted, 0)))
}

// ObserveSweep records one heartbeat sweep: the sessions it declared lost
// and its error. The heartbeat sweeper calls it after every round (wire it
// as the sweeper's OnSweep hook, as the pruner's OnPrune is wired).
func (m *Metrics) ObserveSweep(lost int64, err error) {
	m.sweepRuns.WithLabelValues(result(err)).Inc()
	m.swept.Add(float64(max(lost, 0)))
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// RegisterStreams exposes the SSE broker's figures.
func (m *Metrics) RegisterStreams(s Streams) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "sse", Name: "subscribers",
			Help: "Open SSE streams on this node.",
		}, func() float64 { return float64(s.Subscribers()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "sse", Name: "events_delivered_total",
			Help: "Events queued on SSE streams, counted once per stream, resumed backlogs included.",
		}, func() float64 { return float64(s.EventsDelivered()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "sse", Name: "deliverers",
			Help: "Goroutines that write live events to the streams (--sse-deliverers).",
		}, func() float64 { return float64(s.Deliverers()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "sse", Name: "events_written_direct_total",
			Help: "Of the events delivered, those written to the client's socket by a deliverer at once; the others went through the stream's own writer (backlogs, clients that read slowly, HTTP/2 and TLS streams).",
		}, func() float64 { return float64(s.EventsWrittenDirect()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "sse", Name: "events_dropped_total",
			Help: "Events a stream could not take because its client fell behind; each ends that stream, and the client resumes from the log by id.",
		}, func() float64 { return float64(s.EventsDropped()) }),
	)
}

// RegisterListener exposes the event listener's figures. Its lag is read
// from the log on every scrape (one indexed query, LagTimeout at most).
func (m *Metrics) RegisterListener(l Listener) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "listener", Name: "connected",
			Help: "1 while the event listener's LISTEN connection is up.",
		}, func() float64 {
			if l.Connected() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "listener", Name: "reconnects_total",
			Help: "Times the event listener lost its connection and made a new one.",
		}, func() float64 { return float64(l.Reconnects()) }),
		&lagCollector{m: m, l: l},
	)
}

var (
	lagEventsDesc = prometheus.NewDesc(namespace+"_listener_lag_events",
		"Final events in the log that this node has not delivered yet (counted up to 10,000).", nil, nil)
	lagSecondsDesc = prometheus.NewDesc(namespace+"_listener_lag_seconds",
		"Age of the oldest final event this node has not delivered yet; 0 when it is caught up.", nil, nil)
)

// lagCollector reads the listener's lag at scrape time.
type lagCollector struct {
	m *Metrics
	l Listener
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagEventsDesc
	ch <- lagSecondsDesc
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), LagTimeout)
	defer cancel()
	events, age, err := c.l.Lag(ctx)
	if err != nil {
		// Leaving the series out shows as a gap; the listener's own
		// connected gauge and readiness say why.
		c.m.Logger.Warn("metrics: listener lag unreadable", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(lagEventsDesc, prometheus.GaugeValue, float64(events))
	ch <- prometheus.MustNewConstMetric(lagSecondsDesc, prometheus.GaugeValue, age.Seconds())
}

// RegisterPool exposes the statistics of the pgx pool.
func (m *Metrics) RegisterPool(stat func() *pgxpool.Stat) {
	m.Registry.MustRegister(&poolCollector{stat: stat})
}

// poolCollector turns pgxpool.Stat into metrics at scrape time.
type poolCollector struct{ stat func() *pgxpool.Stat }

func poolDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_db_pool_"+name, help, nil, nil)
}

var poolMetrics = []struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*pgxpool.Stat) float64
}{
	{poolDesc("max_conns", "The most connections the pool may hold."), prometheus.GaugeValue,
		func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) }},
	{poolDesc("total_conns", "Connections in the pool: idle, in use and being made."), prometheus.GaugeValue,
		func(s *pgxpool.Stat) float64 { return float64(s.TotalConns()) }},
	{poolDesc("acquired_conns", "Connections in use."), prometheus.GaugeValue,
		func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) }},
	{poolDesc("idle_conns", "Idle connections."), prometheus.GaugeValue,
		func(s *pgxpool.Stat) float64 { return float64(s.IdleConns()) }},
	{poolDesc("constructing_conns", "Connections being made."), prometheus.GaugeValue,
		func(s *pgxpool.Stat) float64 { return float64(s.ConstructingConns()) }},
	{poolDesc("acquires_total", "Connections taken from the pool."), prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return float64(s.AcquireCount()) }},
	{poolDesc("acquire_wait_seconds_total", "Time spent taking connections from the pool."), prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return s.AcquireDuration().Seconds() }},
	{poolDesc("empty_acquires_total", "Takes that found no idle connection and had to wait for one."), prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return float64(s.EmptyAcquireCount()) }},
	{poolDesc("canceled_acquires_total", "Takes given up because their context ended."), prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return float64(s.CanceledAcquireCount()) }},
	{poolDesc("new_conns_total", "Connections opened."), prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return float64(s.NewConnsCount()) }},
	{poolDesc("max_lifetime_destroys_total", "Connections closed for reaching their maximum lifetime."), prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return float64(s.MaxLifetimeDestroyCount()) }},
	{poolDesc("max_idle_destroys_total", "Connections closed for idling too long."), prometheus.CounterValue,
		func(s *pgxpool.Stat) float64 { return float64(s.MaxIdleDestroyCount()) }},
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, pm := range poolMetrics {
		ch <- pm.desc
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stat()
	if s == nil {
		return
	}
	for _, pm := range poolMetrics {
		ch <- prometheus.MustNewConstMetric(pm.desc, pm.kind, pm.value(s))
	}
}

// promLogger sends promhttp's errors to the node's log.
type promLogger struct{ m *Metrics }

func (l promLogger) Println(v ...any) { l.m.Logger.Warn("metrics: scrape", "err", v) }
