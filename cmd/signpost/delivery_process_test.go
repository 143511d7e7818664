package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
// once (the re-send after the lease matches its conditional creates).
func TestDeliverySurvivesSIGKILL(t *testing.T) {
	bin := signpostBinary(t)
	for _, sc := range processStores {
		t.Run(sc.name, func(t *testing.T) {
			dbURL, dataDir := sc.open(t)
			rc := &holdingReceiver{applied: map[string]int{}, arrived: make(chan struct{}), release: make(chan struct{})}
			srv := httptest.NewServer(rc)
			t.Cleanup(srv.Close)
			t.Cleanup(rc.unblock)
			env := []string{"SIGNPOST_DELIVERY_TIMEOUT=1s", "SIGNPOST_DELIVERY_WORKERS=2", "SIGNPOST_DEMO_DIR=../../testdata/protocols"}
			gw := startGateway(t, bin, dbURL, dataDir, env...)
			hc := &http.Client{Timeout: 30 * time.Second}
			call := func(base, method, path string, body []byte) []byte {
				t.Helper()
				req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/fhir+json")
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				out, _ := io.ReadAll(resp.Body)
				if resp.StatusCode >= 300 {
					t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
				}
				return out
			}
			call(gw.base, "PUT", "/Endpoint/surgery-system", []byte(`{"resourceType":"Endpoint","id":"surgery-system","status":"active",
				"connectionType":{"system":"http://terminology.hl7.org/CodeSystem/endpoint-connection-type","code":"hl7-fhir-rest"},
				"payloadType":[{"text":"FHIR"}],"address":"`+srv.URL+`/fhir","header":["Authorization: Bearer practice-token"]}`))
			var org map[string]any
			if err := json.Unmarshal(call(gw.base, "GET", "/Organization/demo-surgery", nil), &org); err != nil {
				t.Fatal(err)
			}
			org["endpoint"] = []any{map[string]any{"reference": "Endpoint/surgery-system"}}
			b, _ := json.Marshal(org)
			call(gw.base, "PUT", "/Organization/demo-surgery", b)

			const n = 6
			var ids []string
			for i := range n {
				var task struct{ ID string }
				if err := json.Unmarshal(call(gw.base, "POST", "/Task", taskWithMarker(fmt.Sprintf("kill-%d", i))), &task); err != nil {
					t.Fatal(err)
				}
				call(gw.base, "POST", "/Task/"+task.ID+"/$navigate", []byte(`{"resourceType":"Parameters"}`))
				ids = append(ids, task.ID)
			}
			select {
			case <-rc.arrived:
			case <-time.After(time.Minute):
				t.Fatal("no delivery reached the receiver")
			}
			if err := gw.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if err := gw.wait(t, 10*time.Second); err == nil {
				t.Error("the gateway exited 0 after SIGKILL")
			}
			rc.unblock() // the held delivery is applied; its answer goes nowhere

			again := startGateway(t, bin, dbURL, dataDir, env...)
			deadline := time.Now().Add(2 * time.Minute)
			for {
				delivered := 0
				for _, id := range ids {
					if strings.Contains(string(call(again.base, "GET", "/Task/"+id+"/$delivery-status", nil)), `"valueCode":"delivered"`) {
						delivered++
					}
				}
				if delivered == n {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d decisions delivered after the restart", delivered, n)
				}
				time.Sleep(100 * time.Millisecond)
			}
			rc.mu.Lock()
			defer rc.mu.Unlock()
			allocations := 0
			for key, count := range rc.applied {
				if strings.HasPrefix(key, "ServiceRequest?") {
					allocations++
				}
				if count != 1 {
					t.Errorf("%s applied %d times", key, count)
				}
			}
			if allocations != n {
				t.Errorf("%d allocations applied, want %d", allocations, n)
			}
			t.Logf("%s: %d decisions, %d POSTs received (one held across SIGKILL), each applied once", sc.name, n, rc.posts)
		})
	}
}

// holdingReceiver is a clinical system that applies conditional creates
// (a match applies nothing) and holds its first request until released.
type holdingReceiver struct {
	mu      sync.Mutex
	applied map[string]int
	posts   int
	held    bool
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

func (rc *holdingReceiver) unblock() { rc.once.Do(func() { close(rc.release) }) }

func (rc *holdingReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer practice-token" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var b struct {
		Entry []struct {
			Request struct{ Method, URL, IfNoneExist string }
		}
	}
	if err := json.Unmarshal(body, &b); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.posts++
	first := !rc.held
	rc.held = true
	rc.mu.Unlock()
	if first {
		close(rc.arrived)
		<-rc.release
	}
	rc.mu.Lock()
	for _, e := range b.Entry {
		key := e.Request.URL + "?" + e.Request.IfNoneExist
		if e.Request.Method == "POST" && rc.applied[key] > 0 {
			continue
		}
		if e.Request.Method == "POST" {
			rc.applied[key]++
		}
	}
	rc.mu.Unlock()
	io.WriteString(w, `{"resourceType":"Bundle","type":"transaction-response"}`)
}
