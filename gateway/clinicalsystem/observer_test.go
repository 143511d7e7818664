package clinicalsystem_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlite"
)

// countingObserver counts attempts by outcome.
type countingObserver struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *countingObserver) DeliveryAttempt(outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n[outcome]++
}

func (o *countingObserver) get(outcome string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[outcome]
}

// TestObserverAndRequestID: each attempt's outcome reaches the Observer
// (task-00's two deliveries: two 503s are retries, then both delivered;
// task-01's 422 is dead), and the request id kept with a delivery is its
// X-Request-ID at the receiver.
func TestObserverAndRequestID(t *testing.T) {
	st, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var mu sync.Mutex
	ids := map[string]bool{}
	fails := 0
	rc := newReceiver()
	rc.answer = func(task string) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(task, "task-01") {
			return http.StatusUnprocessableEntity, `{"resourceType":"OperationOutcome"}`
		}
		if fails < 2 {
			fails++
			return http.StatusServiceUnavailable, ""
		}
		return 0, ""
	}
	recordIDs := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids[r.Header.Get("X-Request-ID")] = true
		mu.Unlock()
		rc.ServeHTTP(w, r)
	})
	addr, _ := serve(t, recordIDs, "127.0.0.1:0")
	practice(t, st, addr)
	enqueue(t, st, "task-00", 0)
	enqueue(t, st, "task-01", 0)
	// Tag the first with a request id (enqueue writes none).
	ds, err := st.Deliveries(context.Background(), "task-00")
	if err != nil || len(ds) != 1 {
		t.Fatal(ds, err)
	}
	if err := st.Enqueue(context.Background(), store.Delivery{Endpoint: ods, TaskID: "task-00", Payload: ds[0].Payload, RequestID: "req-abc"}); err != nil {
		t.Fatal(err)
	}
	obs := &countingObserver{n: map[string]int{}}
	cfg := fast(1)
	cfg.Observer = obs
	run(t, st, cfg)
	waitFor(t, "the outcomes", func() bool {
		return obs.get("delivered") == 2 && obs.get("dead") == 1
	})
	if got := obs.get("retry"); got != 2 {
		t.Fatalf("retries = %d, want 2", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !ids["req-abc"] {
		t.Fatalf("the delivery's request id was not forwarded: %v", ids)
	}
}
