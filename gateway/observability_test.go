package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway"
	"github.com/signpost-fhir/signpost/gateway/carerecord"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
)

// headerLog records one header of every request a loopback server gets.
type headerLog struct {
	mu  sync.Mutex
	got []string
}

func (h *headerLog) add(v string) { h.mu.Lock(); h.got = append(h.got, v); h.mu.Unlock() }
func (h *headerLog) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.got...)
}

// TestObservabilityEndToEnd: the caller's request id reaches the shared
// care record (pull), the outbox row and the clinical system (delivery);
// /metrics counts the requests by interaction, the pull, the delivery
// attempt and the outbox depth, with no ids or query values as labels.
func TestObservabilityEndToEnd(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			st := sc.open(t)
			ob := st.(store.Outbox)

			var recordIDs, receiverIDs headerLog
			rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				recordIDs.add(r.Header.Get("X-Request-ID"))
				w.Header().Set("Content-Type", "application/fhir+json")
				json.NewEncoder(w).Encode(map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": []any{map[string]any{
					"fullUrl": "https://record.example/fhir/Observation/seg-1",
					"resource": map[string]any{"resourceType": "Observation", "id": "seg-1", "status": "final", "effectiveDateTime": "2026-11-01",
						"code":                 map[string]any{"text": "Population segment"},
						"valueCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": "https://record.example/segment", "code": "H"}}}}}}})
			}))
			t.Cleanup(rec.Close)
			rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				receiverIDs.add(r.Header.Get("X-Request-ID"))
				w.Write([]byte(`{"resourceType":"Bundle","type":"transaction-response"}`))
			}))
			t.Cleanup(rc.Close)

			g, srv := newObservedGateway(t, st, rec.URL+"/fhir")
			connectDemoPractice(t, st, rc.URL+"/fhir")

			nav := nvNavigator("expert", "Y99999")
			s := nvClinical("online", "Earache", 2.0)
			task, err := json.Marshal(nvTask(s, "Y99999", "9990010005", "", nvNow))
			require.NoError(t, err)
			r := g.as(nav, "POST", "/Task", string(task), "X-Correlation-ID", "corr-create-1")
			require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
			assert.Equal(t, "corr-create-1", r.header.Get("X-Request-Id"), "X-Correlation-ID is honoured")
			var created struct{ ID string }
			require.NoError(t, json.Unmarshal(r.body, &created))
			id := created.ID

			r = g.as(nav, "POST", "/Task/"+id+"/$navigate", "", "X-Request-ID", "nav-req-42")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.Equal(t, "nav-req-42", r.header.Get("X-Request-Id"))
			assert.Equal(t, []string{"nav-req-42"}, recordIDs.all(), "the pull carries the navigation's request id")
			ds, err := ob.Deliveries(ctx, id)
			require.NoError(t, err)
			require.Len(t, ds, 1)
			assert.Equal(t, "nav-req-42", ds[0].RequestID, "the outbox row keeps the request id")
			assert.Contains(t, g.logs.String(), `"request_id":"nav-req-42"`)

			// Before the workers run: one pending delivery.
			m := scrape(t, g)
			assert.Equal(t, 1.0, gauge(t, m, "signpost_outbox_depth", "status", "pending"))
			assert.Equal(t, 0.0, gauge(t, m, "signpost_outbox_depth", "status", "dead"))
			assert.GreaterOrEqual(t, gauge(t, m, "signpost_outbox_oldest_pending_age_seconds"), 0.0)

			startDeliverers(t, st, ob, clinicalsystem.Config{Workers: 1, Timeout: 5 * time.Second, Poll: 5 * time.Millisecond,
				Observer: srv.Metrics()})
			poll(t, "the delivery", func() bool {
				ds, err := ob.Deliveries(ctx, id)
				require.NoError(t, err)
				return ds[0].Status == store.DeliveryDelivered
			})
			assert.Equal(t, []string{"nav-req-42"}, receiverIDs.all(), "the delivery carries the navigation's request id")

			// A read, a search with a query value, an unserved type, metadata.
			require.Equal(t, http.StatusOK, g.as(nav, "GET", "/Task/"+id, "").status)
			require.Equal(t, http.StatusOK, g.as(nav, "GET", "/Task?identifier=secret-query-value", "").status)
			require.Equal(t, http.StatusNotFound, g.as(nav, "GET", "/NoSuchType123/abc", "").status)
			require.Equal(t, http.StatusOK, g.do("GET", "/metadata", "").status)

			m = scrape(t, g)
			for _, c := range []struct {
				interaction, typ, status string
			}{
				{"create", "Task", "201"}, {"operation", "Task", "200"}, {"read", "Task", "200"},
				{"search", "Task", "200"}, {"read", "", "404"}, {"metadata", "", "200"},
			} {
				assert.Equal(t, 1.0, counter(t, m, "signpost_http_requests_total", "interaction", c.interaction, "type", c.typ, "status", c.status), "%+v", c)
			}
			assert.Equal(t, uint64(1), histogramCount(t, m, "signpost_http_request_duration_seconds", "interaction", "operation", "type", "Task"))
			assert.Equal(t, 1.0, counter(t, m, "signpost_delivery_attempts_total", "outcome", "delivered"))
			assert.Equal(t, 0.0, counter(t, m, "signpost_delivery_attempts_total", "outcome", "retry"))
			assert.Equal(t, 0.0, counter(t, m, "signpost_delivery_attempts_total", "outcome", "dead"))
			assert.Equal(t, 0.0, gauge(t, m, "signpost_outbox_depth", "status", "pending"))
			assert.Equal(t, 0.0, gauge(t, m, "signpost_outbox_oldest_pending_age_seconds"))
			assert.Equal(t, uint64(1), histogramCount(t, m, "signpost_care_record_pull_duration_seconds"))
			assert.Nil(t, m["signpost_care_record_pull_failures_total"], "no failed pull")

			// Low cardinality: no id, query value or unserved type in any label.
			for name, f := range m {
				for _, mt := range f.GetMetric() {
					for _, l := range mt.GetLabel() {
						for _, bad := range []string{id, "secret-query-value", "NoSuchType123", "abc", "nav-req-42", "corr-create-1", "Y99999"} {
							assert.NotContains(t, l.GetValue(), bad, "%s{%s}", name, l.GetName())
						}
					}
				}
			}
		})
	}
}

// A failing record: the failure is counted by reason.
func TestCareRecordPullFailuresAreCounted(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	st := stores[0].open(t)
	g, _ := newObservedGateway(t, st, down.URL+"/fhir")
	nav := nvNavigator("expert", "Y99999")
	id := nvTaskAbout(t, g, nav, "online", "Earache", 2)
	res := nvNavigate(t, g, nav, id, []any{map[string]any{"name": "mode", "valueCode": "propose"}})
	require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
	m := scrape(t, g)
	assert.Equal(t, 1.0, counter(t, m, "signpost_care_record_pull_failures_total", "reason", "unavailable"))
	assert.Equal(t, uint64(1), histogramCount(t, m, "signpost_care_record_pull_duration_seconds"))
}

// Without Options.ServeMetrics (production) the API does not serve
// /metrics; MetricsHandler does, wherever the command mounts it.
func TestMetricsAreNotOnTheAPIUnlessAsked(t *testing.T) {
	t.Parallel()
	st := stores[0].open(t)
	_, v := trustedIssuer(t)
	srv := gateway.New(gateway.Options{Store: st, Verifier: v})
	api := httptest.NewServer(srv.Handler())
	t.Cleanup(api.Close)
	resp, err := http.Get(api.URL + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	ms := httptest.NewServer(srv.MetricsHandler())
	t.Cleanup(ms.Close)
	resp, err = http.Get(ms.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	m, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, m, "signpost_delivery_attempts_total")
	assert.Contains(t, m, "go_goroutines")
}

// newObservedGateway is newNavGateway with /metrics served and need
// groups from the care record at recordURL (storeCareRecordMap), the
// client reporting to the metrics.
func newObservedGateway(t *testing.T, st store.Store, recordURL string) (*nvGateway, *gateway.Server) {
	t.Helper()
	ctx := context.Background()
	term := seededTerminology(t, st)
	storeCareRecordMap(t, st)
	iss, v := trustedIssuer(t)
	var srv *gateway.Server
	g := newGateway(t, gateway.Options{Store: st, Verifier: v, Now: func() time.Time { return nvNow }, ServeMetrics: true}, func(s *gateway.Server) {
		srv = s
		client, err := carerecord.New(carerecord.Config{BaseURL: recordURL, ConceptMap: "care-record-need-groups",
			Timeout: 5 * time.Second, Backoff: time.Millisecond, Retries: -1, Now: func() time.Time { return nvNow }, Observer: s.Metrics()}, st, term)
		require.NoError(t, err)
		s.RegisterTerminology(term)
		require.NoError(t, s.RegisterNavigation(ctx, gateway.NavigationOptions{Terminology: term, NeedGroups: client, DemoDir: "../testdata/protocols"}))
		s.RegisterDelivery(st.(store.Outbox))
	})
	return &nvGateway{testGateway: g, st: st, iss: iss}, srv
}

// scrape reads GET /metrics from the API and parses the exposition.
func scrape(t *testing.T, g *nvGateway) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(strings.TrimSuffix(g.base, "/fhir") + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	m, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return m
}

// find is the series of family name whose labels include the pairs.
func find(t *testing.T, m map[string]*dto.MetricFamily, name string, pairs ...string) *dto.Metric {
	t.Helper()
	f := m[name]
	require.NotNil(t, f, "no metric %s", name)
next:
	for _, mt := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range mt.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(pairs); i += 2 {
			if labels[pairs[i]] != pairs[i+1] {
				continue next
			}
		}
		return mt
	}
	return nil
}

func counter(t *testing.T, m map[string]*dto.MetricFamily, name string, pairs ...string) float64 {
	t.Helper()
	if mt := find(t, m, name, pairs...); mt != nil {
		return mt.GetCounter().GetValue()
	}
	return 0
}

func gauge(t *testing.T, m map[string]*dto.MetricFamily, name string, pairs ...string) float64 {
	t.Helper()
	mt := find(t, m, name, pairs...)
	require.NotNil(t, mt, "no series %s %v", name, pairs)
	return mt.GetGauge().GetValue()
}

func histogramCount(t *testing.T, m map[string]*dto.MetricFamily, name string, pairs ...string) uint64 {
	t.Helper()
	mt := find(t, m, name, pairs...)
	require.NotNil(t, mt, "no series %s %v", name, pairs)
	return mt.GetHistogram().GetSampleCount()
}
