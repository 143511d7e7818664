package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir/store/postgres"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/internal/pgtest"
)

// TestNavigationLoadOutboxLag is the figure of the bar "outbox lag p99
// under 1 s while the engine runs at 300 navigations/s": clients commit
// navigations (POST Task + $navigate) on PostgreSQL, scheduled at
// SIGNPOST_NAVIGATE_LOAD_RATE per second (default 300; one that falls due
// while all clients are busy goes when one is free; the engine may not
// keep up, and the rate it ran at is logged), while the delivery workers
// (the gateway's defaults: 10 s attempt timeout, 200 ms idle poll,
// clinicalsystem.DefaultWorkers workers, or SIGNPOST_OUTBOX_LAG_WORKERS) send each outcome to a loopback clinical system that records
// when each allocation arrived. The lag is the time from the client's
// answer (the commit is before it) to the arrival; also logged from the
// request's start (the commit is after it). It runs with
// SIGNPOST_NAVIGATE_LOAD=1 (SIGNPOST_NAVIGATE_LOAD_SECONDS, default 15)
// and asserts only that every navigation succeeds and every outcome
// arrives, once.
func TestNavigationLoadOutboxLag(t *testing.T) {
	t.Parallel()
	if os.Getenv("SIGNPOST_NAVIGATE_LOAD") == "" {
		t.Skip("set SIGNPOST_NAVIGATE_LOAD=1 to run the navigation load figures")
	}
	asTheBinary(t)
	const clients = 16
	length := envDuration(t, "SIGNPOST_NAVIGATE_LOAD_SECONDS", 15*time.Second)
	rate := envNumber(t, "SIGNPOST_NAVIGATE_LOAD_RATE", 300)
	workers := int(envNumber(t, "SIGNPOST_OUTBOX_LAG_WORKERS", clinicalsystem.DefaultWorkers))
	st, err := postgres.Open(context.Background(), pgtest.URL(t))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	g := newNavGateway(t, st, nvOptions{delivery: true})
	rc := &arrivals{at: map[string]time.Time{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	connectDemoPractice(t, st, srv.URL+"/fhir")
	startDeliverers(t, st, st, clinicalsystem.Config{Workers: workers})

	// The practice's history, analysed, as in TestNavigationLoad.
	seedNavigationHistory(t, st, navHistoryTasks)

	token := g.iss.Token(nvNavigator("expert", "Y99999"))
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * clients}}
	// Navigation i is due at start + (i-1)/rate; one that falls due while
	// every client is busy goes as soon as one is free, so the engine is
	// offered the rate itself (a ticker would drop the ticks it missed).
	start := time.Now()
	deadline := start.Add(length)
	due := func(i int) bool {
		at := start.Add(time.Duration(float64(i-1) * float64(time.Second) / rate))
		if !at.Before(deadline) {
			return false
		}
		time.Sleep(time.Until(at))
		return true
	}
	runs, elapsed, err := loadClients(clients, due,
		// A few contacts per patient, as in a practice's day.
		func(i int) (navTiming, error) { return navigateOnce(hc, g.base, token, nvNHS(i%500)) })
	require.NoError(t, err)

	// Every outcome arrives.
	drainStart := time.Now()
	limit := time.Now().Add(2 * time.Minute)
	for rc.count(runs) < len(runs) && time.Now().Before(limit) {
		time.Sleep(20 * time.Millisecond)
	}
	drained := time.Since(drainStart)
	require.Equal(t, len(runs), rc.count(runs), "outcomes received of those committed")

	var fromAck, fromSent []time.Duration
	rc.mu.Lock()
	for _, nt := range runs {
		at := rc.at[allocationCriteria(nt.allocationID)]
		fromAck = append(fromAck, max(0, at.Sub(nt.acked)))
		fromSent = append(fromSent, at.Sub(nt.sent))
	}
	posts, dup := rc.posts, rc.duplicates
	rc.mu.Unlock()
	require.Zero(t, dup, "allocations received twice")
	sortDurations(fromAck)
	sortDurations(fromSent)
	took := tookOf(runs)
	loadavg, _ := os.ReadFile("/proc/loadavg")
	t.Logf("outbox lag, PostgreSQL, %d clients, navigations scheduled at %.0f/s: ran at %.1f navigations/s (n=%d in %v; $navigate p50 %v, p99 %v); "+
		"lag from the answer p50 %v, p99 %v, max %v; from the request p50 %v, p99 %v; %d POSTs received, %d duplicates; all outcomes in %v after the load ended; %d delivery workers; loadavg %s",
		clients, rate, float64(len(runs))/elapsed.Seconds(), len(runs), elapsed.Round(time.Millisecond), pctMS(took, 50), pctMS(took, 99),
		pctMS(fromAck, 50), pctMS(fromAck, 99), pctMS(fromAck, 100), pctMS(fromSent, 50), pctMS(fromSent, 99),
		posts, dup, drained.Round(time.Millisecond), workers, bytes.TrimSpace(loadavg))
}

// allocationCriteria is the conditional create of an allocation in a
// delivered Bundle (no identifier of its own: <base>/sid/allocation|id).
func allocationCriteria(id string) string {
	return "identifier=" + url.QueryEscape(nvBase+"/sid/allocation|"+id)
}

// arrivals is a clinical system that notes when each allocation first
// arrived (by its conditional create) and answers at once.
type arrivals struct {
	mu         sync.Mutex
	at         map[string]time.Time
	posts      int
	duplicates int
}

func (a *arrivals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	var b struct {
		Entry []struct {
			Request struct{ Method, URL, IfNoneExist string }
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	a.posts++
	for _, e := range b.Entry {
		if e.Request.Method == "POST" && e.Request.URL == "ServiceRequest" {
			if _, seen := a.at[e.Request.IfNoneExist]; seen {
				a.duplicates++
			} else {
				a.at[e.Request.IfNoneExist] = now
			}
		}
	}
	a.mu.Unlock()
	io.WriteString(w, `{"resourceType":"Bundle","type":"transaction-response"}`)
}

// count is how many of runs' allocations have arrived.
func (a *arrivals) count(runs []navTiming) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, nt := range runs {
		if _, ok := a.at[allocationCriteria(nt.allocationID)]; ok {
			n++
		}
	}
	return n
}
