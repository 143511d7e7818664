package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/carerecord"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
)

// Metrics are the gateway's Prometheus metrics, in a registry of their
// own (not the global default one), so a process or a test can
// build many Servers. It is also the Observer the delivery workers and
// the care record client report to: those packages declare the small
// interface they need and never import Prometheus.
//
// Labels are low-cardinality by construction: the FHIR interaction (a
// fixed list), a resource type the registry serves (else ""), the HTTP
// status, a delivery outcome, a failure reason; never an id, a query value
// or a practice.
//
// Where /metrics is served: Options.ServeMetrics puts GET /metrics on the
// API handler, unauthenticated (cmd/signpost does that in development
// mode, which listens on loopback only); otherwise the command serves
// MetricsHandler on a listen address of its own (SIGNPOST_METRICS_ADDR),
// reachable by the scraper and not by API clients.
type Metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	deliveries *prometheus.CounterVec
	pulls      prometheus.Histogram
	pullFails  *prometheus.CounterVec
	auditBatch prometheus.Histogram
}

var (
	_ clinicalsystem.Observer = (*Metrics)(nil)
	_ carerecord.Observer     = (*Metrics)(nil)
)

// New is a Metrics in a registry of its own. outbox, read at each scrape,
// is the store that summarises the delivery outbox, or nil when there is
// none (then the outbox gauges are not reported).
func New(outbox func() store.OutboxStatser) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signpost_http_requests_total",
			Help: "HTTP requests served, by FHIR interaction, resource type and status.",
		}, []string{"interaction", "type", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "signpost_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by FHIR interaction and resource type.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"interaction", "type"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signpost_delivery_attempts_total",
			Help: "Outcome delivery attempts to clinical systems, by outcome (delivered, retry, dead).",
		}, []string{"outcome"}),
		pulls: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "signpost_care_record_pull_duration_seconds",
			Help:    "Time of a need-group search of the shared care record, retries included.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2, 5, 10},
		}),
		pullFails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signpost_care_record_pull_failures_total",
			Help: "Failed need-group pulls from the shared care record, by reason.",
		}, []string{"reason"}),
		auditBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "signpost_audit_batch_size",
			Help:    "AuditEvents committed together by the read audit batcher.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
		}),
	}
	// Every label value a dashboard expects exists from the start, at 0.
	for _, o := range []string{clinicalsystem.OutcomeDelivered, clinicalsystem.OutcomeRetry, clinicalsystem.OutcomeDead} {
		m.deliveries.WithLabelValues(o)
	}
	m.reg.MustRegister(m.requests, m.duration, m.deliveries, m.pulls, m.pullFails, m.auditBatch,
		&outboxCollector{outbox: outbox},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the Prometheus registry the metrics are in (to add a
// process's own).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// DeliveryAttempt implements clinicalsystem.Observer.
func (m *Metrics) DeliveryAttempt(outcome string) { m.deliveries.WithLabelValues(outcome).Inc() }

// CareRecordPull implements carerecord.Observer.
func (m *Metrics) CareRecordPull(d time.Duration, failure string) {
	m.pulls.Observe(d.Seconds())
	if failure != "" {
		m.pullFails.WithLabelValues(failure).Inc()
	}
}

// CareRecordFailure implements carerecord.Observer.
func (m *Metrics) CareRecordFailure(failure string) { m.pullFails.WithLabelValues(failure).Inc() }

// ObserveRequest counts a served HTTP request and its duration; an empty
// interaction is "other". typ must be a type the registry serves, or "".
func (m *Metrics) ObserveRequest(interaction, typ string, status int, d time.Duration) {
	if interaction == "" {
		interaction = "other"
	}
	m.requests.WithLabelValues(interaction, typ, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(interaction, typ).Observe(d.Seconds())
}

// ObserveAuditBatch records the size of a batch of AuditEvents committed
// together.
func (m *Metrics) ObserveAuditBatch(n int) { m.auditBatch.Observe(float64(n)) }

// Interaction names the FHIR interaction of a /fhir request from its
// method and path segments (the grammar route follows). The base POST is
// "batch" until the handler reads the Bundle's type.
func Interaction(method string, segs []string) string {
	get := method == http.MethodGet || method == http.MethodHead
	n := len(segs)
	switch {
	case n == 0:
		if method == http.MethodPost {
			return "batch"
		}
		return "search"
	case segs[n-1] != "" && segs[n-1][0] == '$':
		return "operation"
	case n == 1 && segs[0] == "metadata":
		return "metadata"
	case segs[0] == "_history" || (n >= 2 && segs[1] == "_history") || (n == 3 && segs[2] == "_history"):
		return "history"
	case n == 4 && segs[2] == "_history":
		return "vread"
	case n == 2 && segs[1] == "_search", n == 4 && segs[3] == "_search":
		return "search"
	case n == 3 && get && segs[0] == "Patient":
		return "search" // compartment search (compartment.go)
	}
	switch method {
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	}
	if get && n == 1 {
		return "search"
	}
	if get {
		return "read"
	}
	return "other"
}

// outboxCollector computes the outbox gauges when scraped, from the
// store: every gateway process reports the shared outbox, so dashboards
// take the max, not the sum.
type outboxCollector struct {
	outbox func() store.OutboxStatser
}

var (
	outboxDepthDesc = prometheus.NewDesc("signpost_outbox_depth",
		"Outcome deliveries not yet delivered, by status (pending, in-flight, dead).", []string{"status"}, nil)
	outboxAgeDesc = prometheus.NewDesc("signpost_outbox_oldest_pending_age_seconds",
		"Age of the oldest delivery still to be sent (pending or in flight); 0 when none.", nil, nil)
)

func (o *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxDepthDesc
	ch <- outboxAgeDesc
}

func (o *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	st := o.outbox()
	if st == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stats, err := st.OutboxStats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(outboxDepthDesc, err)
		return
	}
	for _, status := range []store.DeliveryStatus{store.DeliveryPending, store.DeliveryInFlight, store.DeliveryDead} {
		ch <- prometheus.MustNewConstMetric(outboxDepthDesc, prometheus.GaugeValue, float64(stats.Depth[status]), string(status))
	}
	age := 0.0
	if !stats.OldestPending.IsZero() {
		age = max(0, time.Since(stats.OldestPending).Seconds()) // the store stamps rows with the wall clock
	}
	ch <- prometheus.MustNewConstMetric(outboxAgeDesc, prometheus.GaugeValue, age)
}
