package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestDeliverySurvivesSIGKILL kills the gateway with SIGKILL while the
// practice's clinical system is holding a delivery (it applies it, but the
// answer goes nowhere), restarts it on the same store, and checks that
// every committed decision reaches the receiver and is applied exactly
// once (the re-send after the lease matches its conditional creates and
// updates).
func TestDeliverySurvivesSIGKILL(t *testing.T) {
	bin := signpostBinary(t)
	for _, sc := range processStores {
		t.Run(sc.name, func(t *testing.T) {
			// The stores' runs are independent, and mostly wait out the
			// delivery lease: side by side.
			t.Parallel()
			dbURL, dataDir := sc.open(t)
			rc := newClinicalReceiver(1)
			srv := httptest.NewServer(rc)
			t.Cleanup(srv.Close)
			t.Cleanup(rc.unblock)
			env := []string{"SIGNPOST_DELIVERY_TIMEOUT=1s", "SIGNPOST_DELIVERY_WORKERS=2", "SIGNPOST_DEMO_DIR=../../testdata/protocols"}
			gw := startGateway(t, bin, dbURL, dataDir, env...)
			api := processAPI{t: t, hc: &http.Client{Timeout: 30 * time.Second}}
			api.connectPractice(gw.base, srv.URL)

			const n = 6
			var ids []string
			want := map[string][]string{}
			for i := range n {
				id, alloc := api.navigateNew(gw.base, fmt.Sprintf("kill-%d", i))
				ids = append(ids, id)
				want[markerTaskKey(fmt.Sprintf("kill-%d", i))] = []string{alloc}
			}
			rc.waitHeld(t, 1, time.Minute)
			if err := gw.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if err := gw.wait(t, 10*time.Second); err == nil {
				t.Error("the gateway exited 0 after SIGKILL")
			}
			rc.unblock() // the held delivery is applied; its answer goes nowhere

			again := startGateway(t, bin, dbURL, dataDir, env...)
			api.waitDelivered(again.base, ids, 1, 2*time.Minute)
			rc.verify(t, want)
			t.Logf("%s: %d decisions committed; receiver: %s (one held across SIGKILL)", sc.name, n, rc.counts())
		})
	}
}

// processAPI calls a gateway process's FHIR API (development mode, no
// token), failing the test on anything but a 2xx answer.
type processAPI struct {
	t  *testing.T
	hc *http.Client
}

func (a processAPI) call(base, method, path string, body []byte) []byte {
	a.t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	if method == http.MethodPatch {
		req.Header.Set("Content-Type", "application/json-patch+json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		a.t.Fatalf("%s %s: %d %.300s", method, path, resp.StatusCode, out)
	}
	return out
}

// connectPractice registers the receiver at receiverURL as the demo
// practice's clinical system (an Endpoint the Organization lists).
func (a processAPI) connectPractice(base, receiverURL string) {
	a.t.Helper()
	a.call(base, "PUT", "/Endpoint/surgery-system", []byte(`{"resourceType":"Endpoint","id":"surgery-system","status":"active",
		"connectionType":{"system":"http://terminology.hl7.org/CodeSystem/endpoint-connection-type","code":"hl7-fhir-rest"},
		"payloadType":[{"text":"FHIR"}],"address":"`+receiverURL+`/fhir","header":["Authorization: Bearer practice-token"]}`))
	var org map[string]any
	if err := json.Unmarshal(a.call(base, "GET", "/Organization/demo-surgery", nil), &org); err != nil {
		a.t.Fatal(err)
	}
	org["endpoint"] = []any{map[string]any{"reference": "Endpoint/surgery-system"}}
	b, _ := json.Marshal(org)
	a.call(base, "PUT", "/Organization/demo-surgery", b)
}

// navigateNew creates a navigation Task identified by marker and commits
// its $navigate; it returns the Task's id and the receiver's key of the
// allocation.
func (a processAPI) navigateNew(base, marker string) (id, alloc string) {
	a.t.Helper()
	var task struct{ ID string }
	if err := json.Unmarshal(a.call(base, "POST", "/Task", taskWithMarker(marker)), &task); err != nil {
		a.t.Fatal(err)
	}
	return task.ID, a.navigate(base, task.ID)
}

// navigate commits $navigate on Task id and returns the receiver's key of
// the allocation it made.
func (a processAPI) navigate(base, id string) string {
	a.t.Helper()
	var out struct {
		Parameter []struct {
			Name     string
			Resource struct{ ID string }
		}
	}
	if err := json.Unmarshal(a.call(base, "POST", "/Task/"+id+"/$navigate", []byte(`{"resourceType":"Parameters"}`)), &out); err != nil {
		a.t.Fatal(err)
	}
	for _, p := range out.Parameter {
		if p.Name == "allocation" && p.Resource.ID != "" {
			return allocationKey(p.Resource.ID)
		}
	}
	a.t.Fatalf("$navigate on Task/%s answered without an allocation", id)
	return ""
}

// renavigate records that the patient declined the allocation and
// navigates Task id again: the earlier allocation is revoked and a new one
// replaces it (docs/navigation.md). It returns the new allocation's key.
func (a processAPI) renavigate(base, id string) string {
	a.t.Helper()
	a.call(base, "PATCH", "/Task/"+id, []byte(`[{"op":"replace","path":"/businessStatus","value":{"coding":[
		{"system":"https://signpost.example/fhir/CodeSystem/navigation-status","code":"declined"}]}},
		{"op":"add","path":"/statusReason","value":{"text":"the patient declined"}}]`))
	return a.navigate(base, id)
}

// waitDelivered polls $delivery-status until each Task has per deliveries
// delivered, failing the test after limit.
func (a processAPI) waitDelivered(base string, ids []string, per int, limit time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		done := 0
		for _, id := range ids {
			if strings.Count(string(a.call(base, "GET", "/Task/"+id+"/$delivery-status", nil)), `"valueCode":"delivered"`) >= per {
				done++
			}
		}
		if done == len(ids) {
			return
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("%d of %d Tasks have their %d decisions delivered after %s", done, len(ids), per, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// markerTaskKey is how the receiver names the Task made by
// taskWithMarker(marker): the conditional update of its delivery.
func markerTaskKey(marker string) string {
	return "Task?identifier=" + url.QueryEscape("https://signpost.example/fhir/sid/test-marker|"+marker)
}

// allocationKey is how the receiver names an allocation ServiceRequest
// (it has no identifier of its own, so the delivery gives it
// <canonical base>/sid/allocation|<id>).
func allocationKey(id string) string {
	return "ServiceRequest?identifier=" + url.QueryEscape("https://signpost.example/fhir/sid/allocation|"+id)
}

// clinicalReceiver is a practice's clinical system on loopback. It applies
// delivered transaction Bundles the way a FHIR server does: a conditional
// create whose criteria match applies nothing (a suppressed duplicate), a
// conditional update creates when nothing matches and replaces the match
// otherwise. It records, per Task, the allocations in the order they were
// created, and a revocation of an allocation it has
// not got yet (an outcome overtaking an earlier one of the same Task). Its
// first hold requests wait for unblock before being applied.
type clinicalReceiver struct {
	mu sync.Mutex
	// applied counts the creates per business key; each must end at 1.
	applied map[string]int
	// allocations are the allocation keys per Task key, in applied order.
	allocations map[string][]string
	// overtaken names revocations that came before their allocation.
	overtaken []string
	// perRequest counts POSTs per X-Request-ID (one per decision).
	perRequest map[string]int
	posts      int
	suppressed int
	taskPuts   int

	hold, heldNow int
	release       chan struct{}
	once          sync.Once
}

func newClinicalReceiver(hold int) *clinicalReceiver {
	return &clinicalReceiver{applied: map[string]int{}, allocations: map[string][]string{}, perRequest: map[string]int{},
		hold: hold, release: make(chan struct{})}
}

func (rc *clinicalReceiver) unblock() { rc.once.Do(func() { close(rc.release) }) }

// waitHeld waits until n requests are being held at once.
func (rc *clinicalReceiver) waitHeld(t *testing.T, n int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		rc.mu.Lock()
		held := rc.heldNow
		rc.mu.Unlock()
		if held >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries held at the receiver after %s, want %d", held, limit, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (rc *clinicalReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer practice-token" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var b struct {
		Type  string
		Entry []struct {
			Resource struct{ ResourceType, Status string }
			Request  struct{ Method, URL, IfNoneExist string }
		}
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Type != "transaction" || len(b.Entry) == 0 {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.posts++
	rc.perRequest[r.Header.Get("X-Request-ID")]++
	held := rc.hold > 0
	if held {
		rc.hold--
		rc.heldNow++
	}
	rc.mu.Unlock()
	if held {
		<-rc.release
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if held {
		rc.heldNow--
	}
	task := b.Entry[0].Request.URL
	for _, e := range b.Entry {
		switch e.Request.Method {
		case "POST":
			key := e.Request.URL + "?" + e.Request.IfNoneExist
			if e.Request.IfNoneExist != "" && rc.applied[key] > 0 {
				rc.suppressed++
				continue
			}
			rc.applied[key]++
		case "PUT":
			// A conditional update: a create when nothing matches, else
			// a replacement of the one match (no new resource).
			key := e.Request.URL
			switch {
			case e.Resource.ResourceType == "Task":
				rc.taskPuts++
			case e.Resource.Status == "revoked":
				if rc.applied[key] == 0 {
					rc.overtaken = append(rc.overtaken, key)
				}
			case rc.applied[key] > 0:
				rc.suppressed++
			default:
				rc.applied[key]++
				if e.Resource.ResourceType == "ServiceRequest" {
					rc.allocations[task] = append(rc.allocations[task], key)
				}
			}
		}
	}
	io.WriteString(w, `{"resourceType":"Bundle","type":"transaction-response"}`)
}

// verify checks the receiver against what was committed: want is, per
// Task key, its allocation keys in commit order. Every allocation must
// have been applied once, in that order, none missing and none extra.
func (rc *clinicalReceiver) verify(t *testing.T, want map[string][]string) {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for key, count := range rc.applied {
		if count != 1 {
			t.Errorf("%s applied %d times", key, count)
		}
	}
	for task, allocs := range want {
		if got := rc.allocations[task]; !reflect.DeepEqual(got, allocs) {
			t.Errorf("%s: allocations applied %q, committed %q", task, got, allocs)
		}
	}
	var extra []string
	for task := range rc.allocations {
		if _, ok := want[task]; !ok {
			extra = append(extra, task)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("allocations applied for Tasks never navigated: %q", extra)
	}
	if len(rc.overtaken) > 0 {
		t.Errorf("revocations applied before their allocation (out of order): %q", rc.overtaken)
	}
}

// counts summarises what the receiver got, for the test log.
func (rc *clinicalReceiver) counts() string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	allocs := 0
	for _, a := range rc.allocations {
		allocs += len(a)
	}
	return fmt.Sprintf("%d POSTs for %d decisions (%d re-sends), %d allocations and %d resources created, %d Task updates, %d duplicate creates suppressed",
		rc.posts, len(rc.perRequest), rc.resendsLocked(), allocs, len(rc.applied), rc.taskPuts, rc.suppressed)
}

// resends counts the POSTs beyond the first of each decision.
func (rc *clinicalReceiver) resends() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.resendsLocked()
}

func (rc *clinicalReceiver) resendsLocked() int {
	n := 0
	for _, c := range rc.perRequest {
		n += c - 1
	}
	return n
}
