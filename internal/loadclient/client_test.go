package loadclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestIDFromLocation(t *testing.T) {
	for _, tc := range []struct {
		loc, id string
		ok      bool
	}{
		{"http://127.0.0.1:8080/fhir/Task/abc-1/_history/1", "abc-1", true},
		{"https://gw.example/base/fhir/Task/abc-1/_history/12", "abc-1", true},
		{"/fhir/Task/abc-1", "abc-1", true},
		{"Task/abc-1/_history/1", "abc-1", true},
		{"http://gw/fhir/Patient/abc-1/_history/1", "", false},
		{"http://gw/fhir/Task/_history/1", "", false},
		{"http://gw/fhir/Task/abc-1/extra", "", false},
		{"http://gw/fhir/Task", "", false},
		{"", "", false},
	} {
		id, ok := IDFromLocation(tc.loc, "Task")
		if id != tc.id || ok != tc.ok {
			t.Errorf("IDFromLocation(%q) = %q, %v; want %q, %v", tc.loc, id, ok, tc.id, tc.ok)
		}
	}
}

func TestWaitReady(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) < 3 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	if err := WaitReady(context.Background(), srv.Client(), srv.URL+"/readyz", nil, 10*time.Second); err != nil {
		t.Errorf("ready after two 503s: %v", err)
	}

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	err := WaitReady(context.Background(), down.Client(), down.URL, nil, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("never ready: err = %v, want the last status", err)
	}

	exited := make(chan struct{})
	close(exited)
	err = WaitReady(context.Background(), down.Client(), down.URL, exited, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("process gone: err = %v", err)
	}
}

// The go:embed directive cannot reach the repository's testdata/, so bench carries a
// copy; when the shared fixture exists the two must say the same.
func TestEmbeddedFixtureMatchesTestdata(t *testing.T) {
	shared, err := os.ReadFile(filepath.Join("..", "..", "testdata", "task-navigate.json"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("no testdata/task-navigate.json")
	}
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(shared, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(Fixture, &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Error("internal/loadclient/task-navigate.json differs from testdata/task-navigate.json; copy the shared one over")
	}
}
