package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/signpost-fhir/signpost/internal/loadclient"
	"github.com/signpost-fhir/signpost/internal/machinestat"
)

// loadFunc does one request for worker w. A nil error is a success; any
// other is counted under errorKind(err).
type loadFunc func(ctx context.Context, w int) error

// phaseResult is what one phase measured.
type phaseResult struct {
	Name string
	// Requests counts every request that completed, successes and errors;
	// requests cut short by Ctrl-C are not counted.
	Requests   int64
	Errors     int64
	ErrorKinds map[string]int64
	// WarmupErrors were seen during the warm-up, outside the figures.
	WarmupErrors     int64
	WarmupErrorKinds map[string]int64
	// ErrorSamples holds one message per kind, to say what went wrong.
	ErrorSamples map[string]string
	Elapsed      time.Duration
	// Latency holds successful requests only.
	Latency histogram
	// Skipped says why the phase did not run; Failed, that it should have.
	Skipped string
	Failed  bool
	// CPU is what the machine's cores did during the phase, whatever ran
	// on them (the gateway, the database, bench itself).
	CPU machinestat.Span
	// Procs is the CPU time of the processes bench could tell apart
	// during the phase (procGroup), in the order it was given them.
	Procs []procCPU
	// Offered is the open load's rate (-rate), 0 for a closed loop.
	Offered float64
}

// procGroup is a set of processes whose CPU time bench reports apart:
// the gateway it spawned, the local PostgreSQL server's processes, bench
// itself.
type procGroup struct {
	Name string
	machinestat.Group
}

// procCPU is a procGroup's CPU time over a phase.
type procCPU struct {
	Name    string
	Seconds float64
}

// ProcCPUPerRequest is c's CPU time per successful request of r, in ms.
func (r *phaseResult) ProcCPUPerRequest(c procCPU) float64 {
	if r.OK() <= 0 {
		return 0
	}
	return c.Seconds * 1000 / float64(r.OK())
}

// procCPUOf pairs groups with the seconds machinestat measured for them,
// leaving out those it did not find.
func procCPUOf(groups []procGroup, seconds []float64) []procCPU {
	var out []procCPU
	for i, s := range seconds {
		if i < len(groups) && s >= 0 {
			out = append(out, procCPU{Name: groups[i].Name, Seconds: s})
		}
	}
	return out
}

// groupsOf are the machinestat groups of gs.
func groupsOf(gs []procGroup) []machinestat.Group {
	out := make([]machinestat.Group, len(gs))
	for i, g := range gs {
		out[i] = g.Group
	}
	return out
}

// CPUPerRequest is the machine's CPU time per successful request, in ms;
// 0 when not known.
func (r *phaseResult) CPUPerRequest() float64 { return r.CPU.PerOp(r.OK()) }

// OK is the number of successful requests.
func (r *phaseResult) OK() int64 { return r.Requests - r.Errors }

// RPS is successful requests per second of the phase's wall time.
func (r *phaseResult) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK()) / r.Elapsed.Seconds()
}

// workerTally is one worker's counts; nothing is shared while the load
// runs, so measuring takes no locks.
type workerTally struct {
	requests int64
	kinds    map[string]int64
	samples  map[string]string
	latency  histogram
}

// drive runs do from clients workers until d has passed (no request starts
// after that; those in flight finish and count) or ctx is cancelled (those
// in flight are abandoned and not counted). The CPU time of procs is
// measured over the same span.
//
// With rate above 0 the load is open: request k of client w is due at
// start + (k*clients+w)/rate, a client that is early waits for it, and
// the latency counts from the due time; every request due before the
// deadline is sent, even when the client gets to it after.
func drive(ctx context.Context, clients int, d time.Duration, rate float64, do loadFunc, procs ...procGroup) phaseResult {
	tallies := make([]workerTally, clients)
	var groups []machinestat.Group
	var procTicks machinestat.GroupTicks
	if len(procs) > 0 {
		groups = groupsOf(procs)
		procTicks = machinestat.ReadGroups(groups)
	}
	start, ticks := time.Now(), machinestat.Read()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			t := &tallies[w]
			// Closed load stops starting requests at the deadline; open
			// load sends every request due before it, however late the
			// client gets to it (dropping the late ones would hide the
			// very waits the open loop is there to count).
			for k := 0; ctx.Err() == nil && (rate > 0 || time.Now().Before(deadline)); k++ {
				t0 := time.Now()
				if rate > 0 {
					due := start.Add(time.Duration(float64(k*clients+w) / rate * float64(time.Second)))
					if !due.Before(deadline) {
						return
					}
					if wait := time.Until(due); wait > 0 {
						select {
						case <-time.After(wait):
						case <-ctx.Done():
							return
						}
					}
					t0 = due
				}
				err := do(ctx, w)
				lat := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					kind := errorKind(err)
					if t.kinds == nil {
						t.kinds, t.samples = map[string]int64{}, map[string]string{}
					}
					t.kinds[kind]++
					if _, ok := t.samples[kind]; !ok {
						t.samples[kind] = truncate(err.Error(), 200)
					}
				} else {
					t.latency.Record(lat)
				}
				t.requests++
			}
		})
	}
	wg.Wait()
	r := phaseResult{Elapsed: time.Since(start), CPU: ticks.Since(machinestat.Read()), Offered: rate}
	if len(procs) > 0 {
		r.Procs = procCPUOf(procs, procTicks.Since(machinestat.ReadGroups(groups)))
	}
	for i := range tallies {
		t := &tallies[i]
		r.Requests += t.requests
		r.Latency.Merge(&t.latency)
		for k, n := range t.kinds {
			r.Errors += n
			if r.ErrorKinds == nil {
				r.ErrorKinds, r.ErrorSamples = map[string]int64{}, map[string]string{}
			}
			r.ErrorKinds[k] += n
			if _, ok := r.ErrorSamples[k]; !ok {
				r.ErrorSamples[k] = t.samples[k]
			}
		}
	}
	return r
}

// errorKind groups errors for the report: by status, SQLSTATE or network
// failure, so that a thousand refused connections are one line.
func errorKind(err error) string {
	var se *loadclient.StatusError
	var pe *pgconn.PgError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("HTTP %d", se.Status)
	case errors.As(err, &pe):
		return "SQLSTATE " + pe.Code
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, loadclient.ErrNoLocation):
		return "201 without Location"
	}
	return "other"
}

func truncate(s string, n int) string { return loadclient.Truncate(s, n) }

// idSink collects created ids per worker, merged once the load stops.
type idSink struct{ byWorker [][]string }

func (s *idSink) init(workers int)     { s.byWorker = make([][]string, workers) }
func (s *idSink) add(w int, id string) { s.byWorker[w] = append(s.byWorker[w], id) }
func (s *idSink) all() (ids []string) {
	for _, w := range s.byWorker {
		ids = append(ids, w...)
	}
	return ids
}
