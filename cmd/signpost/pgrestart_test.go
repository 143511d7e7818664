package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signpost-fhir/signpost/internal/cli"
	"github.com/signpost-fhir/signpost/internal/loadclient"
	"github.com/signpost-fhir/signpost/internal/pgtest"
)

// TestPostgresRestartUnderLoad runs the gateway on a PostgreSQL server of
// its own and restarts that server (pg_ctl stop -m fast, then later -m
// immediate) while clients create Patients and Tasks and commit
// navigations, with the practice's clinical system holding deliveries
// from before each outage until after it. While the server is down,
// /readyz answers 503 and every write is refused with a 500 or 503
// OperationOutcome saying so, with a Retry-After (none hangs past the
// request timeout, the process keeps running; the delivery workers log
// the outage once, not at every poll); once it is back, writes succeed again, every write
// answered 2xx reads back as sent, every committed navigation reaches the
// clinical system once, and the log holds no request body.
func TestPostgresRestartUnderLoad(t *testing.T) {
	t.Parallel()
	bin := signpostBinary(t)
	cl := pgtest.NewCluster(t)
	rc := newClinicalReceiver(0)
	gate := &receiverGate{next: rc}
	srv := httptest.NewServer(gate)
	t.Cleanup(srv.Close)
	t.Cleanup(gate.open)
	env := []string{"SIGNPOST_DELIVERY_TIMEOUT=2s", "SIGNPOST_DELIVERY_WORKERS=2",
		"SIGNPOST_DEMO_DIR=../../testdata/protocols", "SIGNPOST_REQUEST_TIMEOUT=10s"}
	gw := startGateway(t, bin, cl.URL, "", env...)
	api := processAPI{t: t, hc: &http.Client{Timeout: 30 * time.Second}}
	api.connectPractice(gw.base, srv.URL)

	// The client gives a request far longer than the gateway's request
	// timeout: a request it cuts off has hung.
	ld := &restartLoad{t: t, base: gw.base, hc: loadclient.NewHTTPClient(restartClients), navigated: map[string]string{}, uncertain: map[string]bool{}}
	ld.hc.Timeout = 40 * time.Second
	probe := &readyProbe{url: gw.root + "/readyz", hc: &http.Client{Timeout: 10 * time.Second}}
	probe.start()
	defer probe.stop()

	for _, mode := range []string{"fast", "immediate"} {
		// Deliveries wait at the clinical system from now until the
		// server is back, so decisions committed before the outage are
		// still in the outbox across it.
		gate.close()
		begun := time.Now()
		ld.start()
		ld.waitFor(begun, 8, 2*time.Minute, "before the outage")

		stopping := time.Now()
		cl.Stop(t, mode)
		down := time.Now()
		time.Sleep(3 * time.Second) // the outage, under load
		starting := time.Now()
		cl.Start(t)
		up := time.Now()

		if err := loadclient.WaitReady(context.Background(), probe.hc, probe.url, gw.done, time.Minute); err != nil {
			t.Fatalf("pg_ctl stop -m %s: /readyz after the server came back: %v", mode, err)
		}
		ready := time.Now()
		gate.open()
		ld.waitFor(up, 4, time.Minute, "after the server came back")
		ld.stop()

		refused, acked := ld.between(down, starting)
		if refused == 0 {
			t.Errorf("pg_ctl stop -m %s: no write was refused while the server was down: the load was not running", mode)
		}
		if acked > 0 {
			t.Errorf("pg_ctl stop -m %s: %d writes answered 2xx while the server was down", mode, acked)
		}
		notReady, readyAnswers := probe.between(down, starting)
		if notReady == 0 {
			t.Errorf("pg_ctl stop -m %s: /readyz was never probed while the server was down", mode)
		}
		if readyAnswers > 0 {
			t.Errorf("pg_ctl stop -m %s: /readyz answered 200 %d times while the server was down", mode, readyAnswers)
		}
		first := ld.firstSuccessAfter(up)
		t.Logf("pg_ctl stop -m %s: outage %s (stop took %s, start %s); %d writes refused while down, %d /readyz 503s; "+
			"after the server accepted connections: /readyz 200 in %s, first acknowledged write in %s",
			mode, up.Sub(stopping).Round(time.Millisecond), down.Sub(stopping).Round(time.Millisecond), up.Sub(starting).Round(time.Millisecond),
			refused, notReady, ready.Sub(up).Round(time.Millisecond), first.Sub(up).Round(time.Millisecond))
	}
	select {
	case <-gw.done:
		t.Fatalf("the gateway exited during the test: %v", cli.ExitDescription(gw.waitErr))
	default:
	}
	for i, f := range ld.failures {
		if i == 10 {
			t.Errorf("... and %d more answers like these", len(ld.failures)-i)
			break
		}
		t.Error(f)
	}

	// Every acknowledged write is there, as sent.
	lost, differ := 0, 0
	for _, w := range ld.acked {
		status, got := ld.read(w.path)
		if status != http.StatusOK {
			lost++
			t.Errorf("%s was acknowledged but reads back %d: %.300s", w.path, status, got)
			continue
		}
		want, err1 := withoutServerElements(w.body)
		have, err2 := withoutServerElements(got)
		if err := errors.Join(err1, err2); err != nil || w.changed && !reflect.DeepEqual(want["identifier"], have["identifier"]) ||
			!w.changed && !reflect.DeepEqual(want, have) {
			differ++
			t.Errorf("%s reads back different from what was sent (%v), in %v", w.path, err, differentElements(want, have))
		}
	}

	// Every committed navigation reaches the clinical system, once.
	api.waitDelivered(gw.base, ld.navIDs, 1, 2*time.Minute)
	undelivered := rc.verifyAcked(t, ld.navigated, ld.uncertain)

	logText := gw.log.String()
	for _, w := range ld.acked {
		if strings.Contains(logText, w.marker) {
			t.Errorf("the gateway's log holds %q, from a request body", w.marker)
			break
		}
	}
	if strings.Contains(logText, "panic") {
		t.Error("the gateway's log mentions a panic")
	}
	if n := strings.Count(logText, "delivery claim failed"); n > 2*restartWorkers {
		t.Errorf("the delivery workers logged %d failed claims over 2 outages, want at most one per worker and outage", n)
	}
	t.Logf("%d writes acknowledged (%d navigations committed, %d navigations refused with an unknown outcome), %d lost, %d different; "+
		"deliveries: %d committed navigations not at the clinical system; receiver: %s; gateway log: %d lines at warn or above",
		len(ld.acked), len(ld.navigated), len(ld.uncertain), lost, differ, undelivered, rc.counts(), strings.Count(logText, "\n"))
}

const (
	restartClients = 6
	restartWorkers = 2 // SIGNPOST_DELIVERY_WORKERS
)

// receiverGate holds the clinical system's answers while closed: a request
// waits until it opens, or is dropped unapplied when its sender gives up.
type receiverGate struct {
	next http.Handler
	mu   sync.Mutex
	ch   chan struct{} // nil when open
}

func (g *receiverGate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch == nil {
		g.ch = make(chan struct{})
	}
}

func (g *receiverGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch != nil {
		close(g.ch)
		g.ch = nil
	}
}

func (g *receiverGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	ch := g.ch
	g.mu.Unlock()
	if ch != nil {
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
	}
	g.next.ServeHTTP(w, r)
}

// readyProbe asks /readyz every 100 ms and keeps the answers.
type readyProbe struct {
	url     string
	hc      *http.Client
	mu      sync.Mutex
	answers []probeAnswer
	quit    chan struct{}
	wg      sync.WaitGroup
}

type probeAnswer struct {
	at     time.Time // when the probe was sent
	status int       // 0: no answer
}

func (p *readyProbe) start() {
	p.quit = make(chan struct{})
	p.wg.Go(func() {
		for {
			at := time.Now()
			status := 0
			if resp, err := p.hc.Get(p.url); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			}
			p.mu.Lock()
			p.answers = append(p.answers, probeAnswer{at, status})
			p.mu.Unlock()
			select {
			case <-p.quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

func (p *readyProbe) stop() {
	close(p.quit)
	p.wg.Wait()
}

// between counts the probes sent in [from, to]: answered 503, and
// answered 200 (anything else fails the test).
func (p *readyProbe) between(from, to time.Time) (notReady, ready int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.answers {
		if a.at.Before(from) || a.at.After(to) {
			continue
		}
		switch a.status {
		case http.StatusServiceUnavailable:
			notReady++
		case http.StatusOK:
			ready++
		default:
			ready++ // counted as wrong: only 503 says "not ready"
		}
	}
	return notReady, ready
}

// restartLoad is the clients' side: creates of Patients and Tasks, and
// Tasks navigated, each with a marker identifier of its own.
type restartLoad struct {
	t    *testing.T
	base string
	hc   *http.Client
	seq  atomic.Int64

	mu        sync.Mutex
	acked     []ackedWrite
	events    []writeEvent
	navigated map[string]string // Task key → allocation key, $navigate answered 2xx
	navIDs    []string
	// uncertain are Tasks whose $navigate was refused: it may have been
	// committed all the same (the answer to a commit can be lost), so
	// their allocation may or may not reach the clinical system.
	uncertain map[string]bool
	failures  []string

	quit chan struct{}
	wg   sync.WaitGroup
}

type ackedWrite struct {
	path, marker string
	body         []byte
	// changed: a navigation was asked for since (the Task's status and
	// output are then the gateway's), so only its identifier must match.
	changed bool
}

type writeEvent struct {
	start, end time.Time
	ok, nav    bool
}

func (l *restartLoad) start() {
	l.quit = make(chan struct{})
	for range restartClients {
		l.wg.Go(func() {
			for {
				select {
				case <-l.quit:
					return
				default:
				}
				if !l.once() {
					// A refused client waits a little, as a real one would.
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
}

func (l *restartLoad) stop() {
	close(l.quit)
	l.wg.Wait()
}

// once makes one write (a third of them Patients, a third Tasks, a third
// Tasks then navigated) and reports whether every step succeeded.
func (l *restartLoad) once() bool {
	n := l.seq.Add(1)
	marker := fmt.Sprintf("restart-%d", n)
	if n%3 == 0 {
		body := []byte(`{"resourceType":"Patient","identifier":[{"system":"https://signpost.example/fhir/sid/test-marker","value":"` + marker + `"}],` +
			`"name":[{"family":"Example","given":["Restart"]}],"birthDate":"1970-01-01"}`)
		_, ok := l.create("Patient", marker, body)
		return ok
	}
	id, ok := l.create("Task", marker, taskWithMarker(marker))
	if !ok || n%3 == 1 {
		return ok
	}
	start := time.Now()
	l.mu.Lock()
	l.acked[len(l.acked)-1].changed = true // by the navigation, committed or not
	l.mu.Unlock()
	status, hdr, out, err := l.post("/Task/"+id+"/$navigate", []byte(`{"resourceType":"Parameters"}`))
	ok = l.judge("$navigate", start, status, hdr, out, err, true)
	key := markerTaskKey(marker)
	if !ok {
		l.mu.Lock()
		l.uncertain[key] = true
		l.mu.Unlock()
		return false
	}
	var res struct {
		Parameter []struct {
			Name     string
			Resource struct{ ID string }
		}
	}
	alloc := ""
	if json.Unmarshal(out, &res) == nil {
		for _, p := range res.Parameter {
			if p.Name == "allocation" && p.Resource.ID != "" {
				alloc = allocationKey(p.Resource.ID)
			}
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if alloc == "" {
		l.failures = append(l.failures, fmt.Sprintf("$navigate on Task/%s answered %d without an allocation", id, status))
		return false
	}
	l.navigated[key] = alloc
	l.navIDs = append(l.navIDs, id)
	return true
}

// create POSTs a resource and, when acknowledged, remembers it.
func (l *restartLoad) create(typ, marker string, body []byte) (string, bool) {
	start := time.Now()
	status, hdr, out, err := l.post("/"+typ, body)
	if !l.judge("create "+typ, start, status, hdr, out, err, false) {
		return "", false
	}
	var head struct{ ID string }
	if json.Unmarshal(out, &head) != nil || head.ID == "" {
		l.mu.Lock()
		l.failures = append(l.failures, fmt.Sprintf("create %s answered %d without an id", typ, status))
		l.mu.Unlock()
		return "", false
	}
	l.mu.Lock()
	l.acked = append(l.acked, ackedWrite{path: "/" + typ + "/" + head.ID, marker: marker, body: body})
	l.mu.Unlock()
	return head.ID, true
}

// judge records an answer: 2xx is acknowledged, a 503 transient
// OperationOutcome with a Retry-After is a refusal, anything else (no
// answer within the client's timeout, another status, another body) is a
// failure.
func (l *restartLoad) judge(what string, start time.Time, status int, hdr http.Header, out []byte, err error, nav bool) bool {
	ok := err == nil && status >= 200 && status < 300
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, writeEvent{start: start, end: time.Now(), ok: ok, nav: nav})
	switch {
	case ok:
	case err != nil:
		l.failures = append(l.failures, fmt.Sprintf("%s: no answer: %v", what, err))
	case status != http.StatusServiceUnavailable:
		l.failures = append(l.failures, fmt.Sprintf("%s: answered %d, want 2xx, or 503 while the database is away: %.300s", what, status, out))
	case !bytes.Contains(out, []byte(`"resourceType":"OperationOutcome"`)) || !bytes.Contains(out, []byte(`"code":"transient"`)):
		l.failures = append(l.failures, fmt.Sprintf("%s: answered %d without a transient OperationOutcome: %.300s", what, status, out))
	case hdr.Get("Retry-After") == "":
		l.failures = append(l.failures, fmt.Sprintf("%s: answered %d without Retry-After", what, status))
	}
	return ok
}

func (l *restartLoad) post(path string, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, l.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := l.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out, err
}

func (l *restartLoad) read(path string) (int, []byte) {
	resp, err := l.hc.Get(l.base + path)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// waitFor waits until n navigations begun after since were committed, or
// fails the test after limit.
func (l *restartLoad) waitFor(since time.Time, n int, limit time.Duration, when string) {
	l.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		l.mu.Lock()
		got := 0
		for _, e := range l.events {
			if e.ok && e.nav && !e.start.Before(since) {
				got++
			}
		}
		l.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			l.stop()
			l.t.Fatalf("%d navigations committed %s within %s, want %d; failures: %q", got, when, limit, n, l.failures)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// between counts the writes begun and answered within [from, to]:
// refused, and acknowledged.
func (l *restartLoad) between(from, to time.Time) (refused, acked int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.start.Before(from) || e.end.After(to) {
			continue
		}
		if e.ok {
			acked++
		} else {
			refused++
		}
	}
	return refused, acked
}

// firstSuccessAfter is when the first write begun at or after t was
// acknowledged.
func (l *restartLoad) firstSuccessAfter(t time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for _, e := range l.events {
		if e.ok && !e.start.Before(t) && (first.IsZero() || e.end.Before(first)) {
			first = e.end
		}
	}
	return first
}

// verifyAcked checks the receiver against the navigations acknowledged
// (Task key → allocation key): each allocation applied once, nothing
// applied twice, no revocation before its allocation. Tasks in uncertain
// may have their allocation or none; any other Task must have none. It
// returns how many acknowledged allocations are missing.
func (rc *clinicalReceiver) verifyAcked(t *testing.T, acked map[string]string, uncertain map[string]bool) int {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for key, count := range rc.applied {
		if count != 1 {
			t.Errorf("%s applied %d times", key, count)
		}
	}
	missing := 0
	for task, alloc := range acked {
		if got := rc.allocations[task]; !reflect.DeepEqual(got, []string{alloc}) {
			missing++
			t.Errorf("%s: allocations applied %q, committed %q", task, got, alloc)
		}
	}
	var extra []string
	for task, allocs := range rc.allocations {
		if _, ok := acked[task]; ok {
			continue
		}
		if !uncertain[task] || len(allocs) > 1 {
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
	return missing
}
