package gateway

import (
	"net/http"

	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/metrics"
)

// Metrics are the gateway's Prometheus metrics (package metrics).
type Metrics = metrics.Metrics

func newMetrics(s *Server) *Metrics {
	return metrics.New(func() store.OutboxStatser {
		st, _ := s.outbox.(store.OutboxStatser)
		return st
	})
}

// Metrics is the Server's metrics: the Observer to give
// clinicalsystem.Config and carerecord.Config.
func (s *Server) Metrics() *Metrics { return s.metrics }

// MetricsHandler serves the metrics in the Prometheus text exposition
// format.
func (s *Server) MetricsHandler() http.Handler { return s.metrics.Handler() }

// metricType is typ when the registry serves it, else "": a client
// choosing the type segment must not create series.
func (s *Server) metricType(typ string) string {
	if typ != "" && s.registry.Serves(typ) {
		return typ
	}
	return ""
}

func interactionOf(method string, segs []string) string { return metrics.Interaction(method, segs) }
