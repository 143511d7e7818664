package clinicalsystem_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/postgres"
	"github.com/signpost-fhir/signpost/fhir/store/sqlite"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const (
	base  = "https://signpost.example/fhir"
	ods   = "A81001"
	token = "Bearer s3cret"
)

// receiver is a clinical system on loopback: it applies transaction
// Bundles the way a FHIR server does (a conditional update creates or
// replaces the one match, a conditional create that matches applies
// nothing), and as docs/delivery.md asks, refuses a Bundle whose Task
// version (the _history of Task.meta.source) is older than the one it
// holds, applying nothing of it. It counts.
type receiver struct {
	mu sync.Mutex
	// state is what it holds, by conditional URL (Type?criteria).
	state map[string]map[string]any
	// version is the Task version held, by the Task's conditional URL.
	version map[string]int
	// order is the allocation ids each Task received, in order applied.
	order map[string][]string
	// receipts counts successful POSTs per delivery (from X-Request-ID).
	receipts map[string]int
	// answer, when set, decides the status of a request before it is
	// applied (0: apply); lostAnswers applies but answers 503.
	answer      func(task string) (int, string)
	lostAnswers int
	posts       int
	// stale counts Bundles refused for an older Task version.
	stale int
}

func newReceiver() *receiver {
	return &receiver{state: map[string]map[string]any{}, version: map[string]int{}, order: map[string][]string{}, receipts: map[string]int{}}
}

// sourceVersion is the version in a Task's meta.source
// (.../Task/id/_history/n), or -1.
func sourceVersion(task map[string]any) int {
	meta, _ := task["meta"].(map[string]any)
	src, _ := meta["source"].(string)
	i := strings.LastIndex(src, "/_history/")
	if i < 0 {
		return -1
	}
	n, err := strconv.Atoi(src[i+len("/_history/"):])
	if err != nil {
		return -1
	}
	return n
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != token {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var b struct {
		Type  string `json:"type"`
		Entry []struct {
			Resource map[string]any `json:"resource"`
			Request  struct {
				Method, URL, IfNoneExist string
			} `json:"request"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Type != "transaction" || len(b.Entry) < 3 {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	task := b.Entry[0].Request.URL
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.posts++
	if rc.answer != nil {
		if code, oo := rc.answer(task); code != 0 {
			w.WriteHeader(code)
			io.WriteString(w, oo)
			return
		}
	}
	v := sourceVersion(b.Entry[0].Resource)
	if held, ok := rc.version[task]; ok && v < held {
		rc.stale++
		w.WriteHeader(http.StatusConflict)
		io.WriteString(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"conflict","diagnostics":"a later version of the Task is held"}]}`)
		return
	}
	rc.version[task] = v
	var alloc string
	for _, e := range b.Entry {
		key := e.Request.URL
		if e.Request.Method == "POST" {
			key += "?" + e.Request.IfNoneExist
			if rc.state[key] != nil {
				continue // ifNoneExist matched: nothing new
			}
		}
		rc.state[key] = e.Resource
		if strings.HasPrefix(key, "ServiceRequest") && e.Resource["status"] == "active" {
			alloc = key
		}
	}
	if alloc != "" {
		rc.order[task] = append(rc.order[task], alloc)
	}
	if rc.lostAnswers > 0 {
		rc.lostAnswers--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	rc.receipts[r.Header.Get("X-Request-ID")[:strings.LastIndex(r.Header.Get("X-Request-ID"), "-")]]++
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, `{"resourceType":"Bundle","type":"transaction-response"}`)
}

// serve starts rc on addr ("127.0.0.1:0" for any port).
func serve(t testing.TB, rc http.Handler, addr string) (string, func()) {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; ; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil || i > 50 {
			break
		}
		time.Sleep(20 * time.Millisecond) // the port of a closed server may linger
	}
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: rc}
	go hs.Serve(ln)
	stop := func() { hs.Close() }
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

func create(t testing.TB, st store.Store, js string) {
	t.Helper()
	r, err := fhir.ParseResource([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Create(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

// practice stores the practice Organization and its Endpoint at address.
func practice(t testing.TB, st store.Store, address string) {
	create(t, st, `{"resourceType":"Endpoint","id":"ep1","status":"active",
		"connectionType":{"system":"http://terminology.hl7.org/CodeSystem/endpoint-connection-type","code":"hl7-fhir-rest"},
		"payloadType":[{"text":"FHIR"}],"address":"http://`+address+`/fhir","header":["Authorization: `+token+`"]}`)
	create(t, st, `{"resourceType":"Organization","id":"org1","identifier":[{"system":"`+clinicalsystem.ODSSystem+`","value":"`+ods+`"}],
		"name":"Practice A","endpoint":[{"reference":"Endpoint/ep1"}]}`)
}

// enqueue adds the n-th decision of task.
func enqueue(t testing.TB, st store.Store, task string, n int) {
	t.Helper()
	taskJS := fmt.Sprintf(`{"resourceType":"Task","id":%q,"status":"completed","intent":"order","meta":{"versionId":"%d"},"description":"decision %d"}`, task, n+1, n)
	alloc := fmt.Sprintf(`{"resourceType":"ServiceRequest","id":"%s-%03d","status":"active","intent":"order","subject":{"reference":"Patient/p"},"basedOn":[{"reference":"Task/%s"}]}`, task, n, task)
	prov := fmt.Sprintf(`{"resourceType":"Provenance","id":"prov-%s-%03d","recorded":"2026-01-01T00:00:00Z","target":[{"reference":"ServiceRequest/%s-%03d"}],"agent":[{"who":{"display":"x"}}]}`, task, n, task, n)
	payload, err := clinicalsystem.OutcomeBundle(base, []byte(taskJS), []byte(alloc), []byte(prov))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Enqueue(context.Background(), store.Delivery{Endpoint: ods, TaskID: task, Payload: payload}); err != nil {
		t.Fatal(err)
	}
}

func fast(workers int) clinicalsystem.Config {
	return clinicalsystem.Config{Workers: workers, Timeout: 2 * time.Second, Poll: 5 * time.Millisecond, Batch: 4,
		Backoff: store.Backoff{Base: 5 * time.Millisecond, Max: 50 * time.Millisecond, MaxAttempts: 10000}}
}

func run(t *testing.T, st store.Store, cfg clinicalsystem.Config) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { clinicalsystem.New(st, st.(store.Outbox), cfg).Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitFor polls until cond holds, failing after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func allDelivered(t *testing.T, st store.Store, tasks []string) func() bool {
	return func() bool {
		for _, task := range tasks {
			ds, err := st.(store.Outbox).Deliveries(context.Background(), task)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				if d.Status != store.DeliveryDelivered {
					return false
				}
			}
		}
		return true
	}
}

// check verifies every decision was applied once, in order per Task, and
// (when exact) each delivery answered successfully once.
func (rc *receiver) check(t *testing.T, tasks []string, per int, exact bool) {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, task := range tasks {
		key := "Task?identifier=" + url.QueryEscape(base+"/sid/task|"+task)
		var got []string
		seen := map[string]bool{}
		for _, a := range rc.order[key] {
			if !seen[a] { // a re-send after a lost answer arrives again, changing nothing
				seen[a] = true
				got = append(got, a)
			}
		}
		if len(got) != per {
			t.Errorf("Task %s: %d decisions arrived, want %d", task, len(got), per)
		}
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Errorf("Task %s: out of order: %s after %s", task, got[i], got[i-1])
			}
		}
		// The receiver ends with the latest decision.
		if d := rc.state[key]["description"]; d != fmt.Sprintf("decision %d", per-1) {
			t.Errorf("Task %s ends on %v at the receiver, want decision %d", task, d, per-1)
		}
	}
	if exact {
		for k, n := range rc.receipts {
			if n != 1 {
				t.Errorf("delivery %s received %d times", k, n)
			}
		}
	}
	t.Logf("receiver: %d POSTs, %d successful receipts, %d resources held, %d stale Bundles refused", rc.posts, len(rc.receipts), len(rc.state), rc.stale)
}

func taskNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("task-%02d", i)
	}
	return out
}

func openPostgres(t testing.TB, dbURL string) *postgres.Store {
	s, err := postgres.Open(context.Background(), dbURL, postgres.WithMaxConns(8))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestTwoPoolsShareOnePostgresOutbox: two stores (as two gateway
// processes) on one database, each with its worker pool, drain one
// outbox: every delivery is sent and answered exactly once, in order per
// Task.
func TestTwoPoolsShareOnePostgresOutbox(t *testing.T) {
	dbURL := pgtest.URL(t)
	a, b := openPostgres(t, dbURL), openPostgres(t, dbURL)
	rc := newReceiver()
	addr, _ := serve(t, rc, "127.0.0.1:0")
	practice(t, a, addr)
	tasks := taskNames(20)
	const per = 10
	for n := range per {
		for _, task := range tasks {
			enqueue(t, a, task, n)
		}
	}
	run(t, a, fast(4))
	run(t, b, fast(4))
	waitFor(t, "every delivery", allDelivered(t, a, tasks))
	rc.check(t, tasks, per, true)
	if len(rc.receipts) != len(tasks)*per {
		t.Errorf("%d deliveries received, want %d", len(rc.receipts), len(tasks)*per)
	}
}

// TestReceiverDownThenUp: the receiver's port refuses connections, then
// the receiver applies but its answers are lost (503), then it is well:
// every decision arrives, is applied once, in order per Task.
func TestReceiverDownThenUp(t *testing.T) {
	for _, kind := range []string{"postgres", "sqlite"} {
		t.Run(kind, func(t *testing.T) {
			var st store.Store
			if kind == "postgres" {
				st = openPostgres(t, pgtest.URL(t))
			} else {
				s, err := sqlite.Open(context.Background(), t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				st = s
			}
			// A port with nothing listening: connection refused.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			practice(t, st, addr)
			tasks := taskNames(5)
			const per = 6
			for n := range per {
				for _, task := range tasks {
					enqueue(t, st, task, n)
				}
			}
			run(t, st, fast(3))
			waitFor(t, "attempts against the dead receiver", func() bool {
				ds, _ := st.(store.Outbox).Deliveries(context.Background(), tasks[0])
				return len(ds) > 0 && ds[0].Attempts >= 3 && strings.Contains(ds[0].LastError, "Endpoint/ep1")
			})
			rc := newReceiver()
			rc.lostAnswers = 7
			serve(t, rc, addr)
			waitFor(t, "every delivery", allDelivered(t, st, tasks))
			rc.check(t, tasks, per, false)
		})
	}
}

// TestRefusalIsDeadLetteredThenRedelivered: a 4xx is a dead letter at
// once, with the receiver's OperationOutcome kept; later deliveries of the
// Task wait behind it; requeued, it and they arrive in order.
func TestRefusalIsDeadLetteredThenRedelivered(t *testing.T) {
	st := openPostgres(t, pgtest.URL(t))
	ob := store.Outbox(st)
	rc := newReceiver()
	var refuse sync.Mutex
	refusing := true
	rc.answer = func(task string) (int, string) {
		refuse.Lock()
		defer refuse.Unlock()
		if refusing && strings.Contains(task, "task-00") {
			return http.StatusUnprocessableEntity, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"business-rule","diagnostics":"unknown patient"}]}`
		}
		return 0, ""
	}
	addr, _ := serve(t, rc, "127.0.0.1:0")
	practice(t, st, addr)
	tasks := taskNames(2)
	for n := range 3 {
		for _, task := range tasks {
			enqueue(t, st, task, n)
		}
	}
	run(t, st, fast(2))
	var dead []store.Delivery
	waitFor(t, "the dead letter and the other Task", func() bool {
		var err error
		dead, err = ob.DeadLetters(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(dead) == 1 && allDelivered(t, st, tasks[1:])()
	})
	if d := dead[0]; d.TaskID != "task-00" || d.Seq != 1 || d.Attempts != 1 || !strings.Contains(d.LastError, "HTTP 422") || !strings.Contains(d.LastError, "business-rule") || strings.Contains(d.LastError, "unknown patient") {
		t.Fatalf("dead letter %+v", d)
	}
	ds, err := ob.Deliveries(context.Background(), "task-00")
	if err != nil {
		t.Fatal(err)
	}
	if ds[1].Status != store.DeliveryPending || ds[1].Attempts != 0 {
		t.Fatalf("the next delivery of the Task did not wait: %+v", ds[1])
	}
	refuse.Lock()
	refusing = false
	refuse.Unlock()
	if err := ob.Requeue(context.Background(), dead[0].ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every delivery", allDelivered(t, st, tasks))
	rc.check(t, tasks, 3, true)
}

// TestNoEndpointIsDeadLettered: a practice without an Endpoint gets a
// dead letter saying so, not retries.
func TestNoEndpointIsDeadLettered(t *testing.T) {
	s, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	enqueue(t, s, "task-00", 0)
	run(t, s, fast(1))
	waitFor(t, "the dead letter", func() bool {
		dead, err := s.DeadLetters(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(dead) == 1 && strings.HasPrefix(dead[0].LastError, "no endpoint") && dead[0].Attempts == 1
	})
}

// TestDeadWorkersClaimIsTakenOver: a worker that claimed a delivery and
// died (its claim is left in flight) holds it only until its lease runs
// out; then another worker delivers it, once.
func TestDeadWorkersClaimIsTakenOver(t *testing.T) {
	st := openPostgres(t, pgtest.URL(t))
	rc := newReceiver()
	addr, _ := serve(t, rc, "127.0.0.1:0")
	practice(t, st, addr)
	enqueue(t, st, "task-00", 0)
	enqueue(t, st, "task-00", 1)
	claimed, err := st.Claim(context.Background(), time.Now(), 10, 300*time.Millisecond)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim = %v, %v", claimed, err)
	}
	// The claimer dies here.
	run(t, st, fast(2))
	waitFor(t, "every delivery", allDelivered(t, st, []string{"task-00"}))
	rc.check(t, []string{"task-00"}, 2, true)
	ds, err := st.Deliveries(context.Background(), "task-00")
	if err != nil {
		t.Fatal(err)
	}
	if ds[0].Attempts != 2 {
		t.Errorf("the taken-over delivery has %d attempts, want 2", ds[0].Attempts)
	}
}

// TestReceiverFailingAtRandom: two worker pools on one PostgreSQL outbox
// against a receiver that answers 500 or 429 at random, or applies and
// then answers too late (past the attempt timeout): every decision is
// applied exactly once, in order per Task.
func TestReceiverFailingAtRandom(t *testing.T) {
	dbURL := pgtest.URL(t)
	a, b := openPostgres(t, dbURL), openPostgres(t, dbURL)
	rc := newReceiver()
	var late sync.WaitGroup
	rc.answer = func(string) (int, string) {
		switch n := rand.IntN(10); {
		case n < 2:
			return http.StatusInternalServerError, ""
		case n < 3:
			return http.StatusTooManyRequests, ""
		}
		return 0, ""
	}
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rand.IntN(10) == 0 {
			// Applied, but the answer comes after the worker gave up.
			late.Add(1)
			defer late.Done()
			rec := httptest.NewRecorder()
			rc.ServeHTTP(rec, r)
			time.Sleep(400 * time.Millisecond)
			w.WriteHeader(rec.Code)
			return
		}
		rc.ServeHTTP(w, r)
	})
	addr, _ := serve(t, slow, "127.0.0.1:0")
	practice(t, a, addr)
	tasks := taskNames(10)
	const per = 8
	for n := range per {
		for _, task := range tasks {
			enqueue(t, a, task, n)
		}
	}
	cfg := fast(3)
	cfg.Timeout = 150 * time.Millisecond
	run(t, a, cfg)
	run(t, b, cfg)
	waitFor(t, "every delivery", allDelivered(t, a, tasks))
	late.Wait()
	rc.check(t, tasks, per, false)
}

// openStore opens the kind of store named ("postgres" or "sqlite").
func openStore(t *testing.T, kind string) store.Store {
	t.Helper()
	if kind == "postgres" {
		return openPostgres(t, pgtest.URL(t))
	}
	s, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestHangingReceiverPastTheLease: for its first seconds the receiver
// holds every request longer than the lease before applying it (the
// worker has given up by then: a late apply), so each worker's batch of
// eight outlives its lease. No delivery is sent under a claim its worker
// no longer holds (checked against the outbox as each request arrives),
// every Task's decisions are applied in order, and the receiver, refusing
// Bundles older than the Task version it holds, ends with the latest
// decision of every Task.
func TestHangingReceiverPastTheLease(t *testing.T) {
	for _, kind := range []string{"postgres", "sqlite"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel() // most of its time is the receiver's hang
			st := openStore(t, kind)
			ob := st.(store.Outbox)
			rc := newReceiver()
			const (
				timeout = 600 * time.Millisecond
				lease   = 1500 * time.Millisecond
				hang    = 2 * time.Second // past the lease
				window  = 3 * time.Second // of hanging answers
			)
			var (
				late      sync.WaitGroup
				fenceMu   sync.Mutex
				unfenced  []string
				hangUntil = time.Now().Add(time.Hour) // set when the workers start
				hung      int
			)
			receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				now := time.Now()
				// The fence, seen from the receiver: the request comes from
				// the worker holding a live claim on that very attempt.
				id, attempt := deliveryOf(t, r.Header.Get("X-Request-ID"))
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(strings.NewReader(string(body)))
				var task struct {
					Entry []struct {
						Request struct{ URL string }
					}
				}
				json.Unmarshal(body, &task)
				held := false
				if len(task.Entry) > 0 {
					raw, _ := url.QueryUnescape(strings.TrimPrefix(task.Entry[0].Request.URL, "Task?identifier="))
					ds, err := ob.Deliveries(context.Background(), strings.TrimPrefix(raw, base+"/sid/task|"))
					if err != nil {
						t.Error(err)
					}
					for _, d := range ds {
						if d.ID == id {
							held = d.Status == store.DeliveryInFlight && d.Attempts == attempt && d.NextAttemptAt.After(now)
						}
					}
				}
				fenceMu.Lock()
				if !held {
					unfenced = append(unfenced, r.Header.Get("X-Request-ID"))
				}
				hanging := now.Before(hangUntil)
				if hanging {
					hung++
				}
				fenceMu.Unlock()
				if hanging {
					// Applied after the worker gave up on it.
					late.Add(1)
					defer late.Done()
					time.Sleep(hang)
					rc.ServeHTTP(httptest.NewRecorder(), r)
					return
				}
				rc.ServeHTTP(w, r)
			})
			addr, _ := serve(t, receiver, "127.0.0.1:0")
			practice(t, st, addr)
			tasks := taskNames(24)
			const per = 3
			for n := range per {
				for _, task := range tasks {
					enqueue(t, st, task, n)
				}
			}
			cfg := fast(3)
			cfg.Batch, cfg.Timeout, cfg.Lease = 8, timeout, lease
			fenceMu.Lock()
			hangUntil = time.Now().Add(window)
			fenceMu.Unlock()
			run(t, st, cfg)
			waitFor(t, "every delivery", allDelivered(t, st, tasks))
			late.Wait()
			fenceMu.Lock()
			defer fenceMu.Unlock()
			if len(unfenced) > 0 {
				t.Errorf("%d requests sent under a claim the worker no longer held, e.g. %v", len(unfenced), unfenced[0])
			}
			if hung == 0 {
				t.Fatal("no request was held past the lease: the test proved nothing")
			}
			t.Logf("%d requests held past the lease", hung)
			rc.check(t, tasks, per, false)
		})
	}
}

// deliveryOf reads the delivery id and attempt from the X-Request-ID the
// workers send for deliveries enqueued without a request id.
func deliveryOf(t *testing.T, rid string) (int64, int) {
	var id int64
	var attempt int
	if _, err := fmt.Sscanf(rid, "signpost-delivery-%d-%d", &id, &attempt); err != nil {
		t.Errorf("X-Request-ID %q: %v", rid, err)
	}
	return id, attempt
}

// lockedBuffer is a log destination safe for the workers' goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLostClaimIsLoggedOnceAndNotSent: while a worker's first send of a
// batch of two is held by the receiver, another claimer takes both
// deliveries. The worker says once that the first claim was lost (not
// that it will retry, nor that it delivered), and does not send the
// second at all.
func TestLostClaimIsLoggedOnceAndNotSent(t *testing.T) {
	for _, kind := range []string{"postgres", "sqlite"} {
		t.Run(kind, func(t *testing.T) {
			st := openStore(t, kind)
			ob := st.(store.Outbox)
			rc := newReceiver()
			arrived, release := make(chan struct{}, 10), make(chan struct{})
			var requests sync.WaitGroup
			held := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				defer requests.Done()
				arrived <- struct{}{}
				<-release
				rc.ServeHTTP(w, r)
			})
			addr, _ := serve(t, held, "127.0.0.1:0")
			practice(t, st, addr)
			enqueue(t, st, "task-00", 0)
			enqueue(t, st, "task-01", 0)
			var logs lockedBuffer
			cfg := fast(1)
			cfg.Batch, cfg.Timeout = 2, 30*time.Second
			cfg.Log = slog.New(slog.NewTextHandler(&logs, nil))
			run(t, st, cfg)
			<-arrived
			// Another process, its clock past the lease, takes both.
			stolen, err := ob.Claim(context.Background(), time.Now().Add(2*time.Hour), 10, time.Hour)
			if err != nil || len(stolen) != 2 {
				t.Fatalf("the other claim = %v, %v", stolen, err)
			}
			close(release)
			waitFor(t, "the lost claims logged", func() bool {
				return strings.Contains(logs.String(), "claim lost before sending")
			})
			requests.Wait()
			out := logs.String()
			if n := strings.Count(out, "claim lost before the result was recorded"); n != 1 {
				t.Errorf("the lost claim of the sent delivery logged %d times:\n%s", n, out)
			}
			if n := strings.Count(out, "claim lost before sending"); n != 1 {
				t.Errorf("the lost claim of the unsent delivery logged %d times:\n%s", n, out)
			}
			for _, s := range []string{"will retry", "msg=delivered", "dead letter"} {
				if strings.Contains(out, s) {
					t.Errorf("the log says %q of a lost claim:\n%s", s, out)
				}
			}
			if rc.posts != 1 {
				t.Errorf("the receiver got %d requests, want 1 (the second delivery's claim was lost before sending)", rc.posts)
			}
		})
	}
}
