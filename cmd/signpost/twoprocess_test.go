package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/signpost-fhir/signpost/internal/pgtest"
)

// TestTwoProcessesShareOnePostgresOutbox runs two signpost processes on
// one PostgreSQL database, both with delivery workers, and commits
// decisions through both: each of a number of Tasks is navigated, then
// declined and navigated again (the second decision revokes the first
// allocation, so order matters). While the clinical system holds the
// first deliveries of all four workers, process B is killed with SIGKILL;
// A and a restarted B finish the work. Every committed decision must be
// applied at the receiver exactly once (conditional creates on business
// identifiers), in order per Task, none lost.
func TestTwoProcessesShareOnePostgresOutbox(t *testing.T) {
	t.Parallel()
	bin := signpostBinary(t)
	dbURL := pgtest.URL(t)
	const workers = 2
	rc := newClinicalReceiver(2 * workers)
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	t.Cleanup(rc.unblock)
	// A 3 s attempt timeout makes the lease 11 s: B's claims come back
	// that long after it dies.
	env := []string{"SIGNPOST_DELIVERY_TIMEOUT=3s", fmt.Sprintf("SIGNPOST_DELIVERY_WORKERS=%d", workers), "SIGNPOST_DEMO_DIR=../../testdata/protocols"}
	a := startGateway(t, bin, dbURL, "", env...)
	b := startGateway(t, bin, dbURL, "", env...)
	api := processAPI{t: t, hc: &http.Client{Timeout: 30 * time.Second}}
	api.connectPractice(a.base, srv.URL)

	const tasks = 16
	ids := make([]string, tasks)
	want := map[string][]string{}
	var mu sync.Mutex
	// each runs f for Tasks from..to-1, four at a time, alternating the
	// processes given, and records the allocation each commits.
	each := func(from, to int, f func(i int, base string) string, bases ...string) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4)
		for i := from; i < to; i++ {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				alloc := f(i, bases[i%len(bases)])
				key := markerTaskKey(fmt.Sprintf("two-%d", i))
				mu.Lock()
				want[key] = append(want[key], alloc)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	start := time.Now()
	each(0, tasks, func(i int, base string) string {
		id, alloc := api.navigateNew(base, fmt.Sprintf("two-%d", i))
		ids[i] = id
		return alloc
	}, a.base, b.base)
	committed := tasks

	// Both processes are sending: the receiver holds one delivery of each
	// of the four workers, so B dies with two in flight (applied at the
	// receiver after B is gone: their answers go nowhere).
	rc.waitHeld(t, 2*workers, time.Minute)
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := b.wait(t, 10*time.Second); err == nil {
		t.Error("gateway B exited 0 after SIGKILL")
	}
	rc.unblock()

	// The second decisions: through A alone while B is down, then through
	// A and a restarted B.
	again := func(i int, base string) string { return api.renavigate(base, ids[i]) }
	each(0, tasks/2, again, a.base)
	b2 := startGateway(t, bin, dbURL, "", env...)
	each(tasks/2, tasks, again, a.base, b2.base)
	committed += tasks

	api.waitDelivered(a.base, ids, 2, 2*time.Minute)
	elapsed := time.Since(start)
	rc.verify(t, want)
	// Each worker sends one request at a time, so the four held were
	// B's two (never answered: re-sent once their lease ran out) and A's,
	// or requests whose sender gave up on them and sent them again.
	if n := rc.resends(); n < workers {
		t.Errorf("%d re-sends: B's deliveries held across SIGKILL were not sent again", n)
	}
	t.Logf("two processes on one PostgreSQL (B killed with SIGKILL holding %d deliveries, then restarted): %d decisions committed on %d Tasks; receiver: %s; all delivered %v after the first commit",
		workers, committed, tasks, rc.counts(), elapsed.Round(time.Millisecond))
}
