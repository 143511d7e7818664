package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"time"
)

// benchReport is everything a run measured; the table and the JSON both
// come from it.
type benchReport struct {
	Target  string
	Spawned bool
	Store   string
	Clients int
	// Rate is the open load's offered rate (-rate), 0 for a closed loop.
	Rate            float64
	DurationSeconds float64
	WarmupSeconds   float64
	Fixture         string
	FixtureBytes    int
	Phases          []phaseResult
	// CreateRaw is create req/s over raw req/s, 0 when either is missing.
	CreateRaw   float64
	Interrupted bool
}

func (r *benchReport) phase(name string) *phaseResult {
	for i := range r.Phases {
		if r.Phases[i].Name == name && r.Phases[i].Skipped == "" {
			return &r.Phases[i]
		}
	}
	return nil
}

// ratio is create req/s over raw req/s, at a closed load only: at an open
// load both run at the rate offered, and the ratio says nothing.
func (r *benchReport) ratio() {
	c, raw := r.phase("create"), r.phase("raw")
	if r.Rate == 0 && c != nil && raw != nil && raw.RPS() > 0 {
		r.CreateRaw = c.RPS() / raw.RPS()
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fmtMS(d time.Duration) string {
	switch v := ms(d); {
	case v < 10:
		return fmt.Sprintf("%.2fms", v)
	case v < 100:
		return fmt.Sprintf("%.1fms", v)
	default:
		return fmt.Sprintf("%.0fms", v)
	}
}

func writeReportTable(w io.Writer, r benchReport) {
	how := "running"
	if r.Spawned {
		how = "spawned, " + r.Store + " store"
	}
	fmt.Fprintf(w, "target %s (%s)\n", r.Target, how)
	fmt.Fprintf(w, "%d clients, %s per phase after %s warm-up; fixture: %s, %d bytes\n\n",
		r.Clients, time.Duration(r.DurationSeconds*float64(time.Second)), time.Duration(r.WarmupSeconds*float64(time.Second)), r.Fixture, r.FixtureBytes)
	if r.Rate > 0 {
		fmt.Fprintf(w, "open load: %.0f requests/s offered; latency counts from when each request was due\n\n", r.Rate)
	}
	fmt.Fprintf(w, "%-7s %9s %7s %9s %9s %9s %9s %9s\n", "phase", "requests", "errors", "req/s", "p50", "p90", "p99", "max")
	for _, p := range r.Phases {
		switch {
		case p.Failed:
			fmt.Fprintf(w, "%-7s failed: %s\n", p.Name, p.Skipped)
			continue
		case p.Skipped != "":
			fmt.Fprintf(w, "%-7s skipped: %s\n", p.Name, p.Skipped)
			continue
		}
		l := &p.Latency
		fmt.Fprintf(w, "%-7s %9d %7d %9.0f %9s %9s %9s %9s\n", p.Name, p.Requests, p.Errors, p.RPS(),
			fmtMS(l.Quantile(0.50)), fmtMS(l.Quantile(0.90)), fmtMS(l.Quantile(0.99)), fmtMS(l.Max()))
	}
	if r.CreateRaw > 0 {
		fmt.Fprintf(w, "\ncreate/raw %.2f: a create runs at %.0f%% of the rate of a bare single-row insert\n", r.CreateRaw, 100*r.CreateRaw)
	}
	if line := cpuLine(r.Phases); line != "" {
		fmt.Fprintln(w, line)
	}
	if line := procLine(r.Phases); line != "" {
		fmt.Fprintln(w, line)
	}
	var notes []string
	for _, p := range r.Phases {
		notes = append(notes, errorNotes(p.Name, p.ErrorKinds, p.ErrorSamples)...)
		notes = append(notes, errorNotes(p.Name+" warm-up", p.WarmupErrorKinds, p.ErrorSamples)...)
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nerrors:")
		for _, n := range notes {
			fmt.Fprintln(w, "  "+n)
		}
	}
	fmt.Fprintln(w, "\nreq/s and latencies count successful requests (201 create, 200 read) only; errors are any other status or failure.")
	if r.Interrupted {
		fmt.Fprintln(w, "interrupted: the figures are partial")
	}
}

// cpuLine is the machine's CPU time per successful request of each phase
// that ran, with the share the hypervisor stole: on a shared virtual
// machine the rates follow the host's load, and these tell a slower host
// from slower code. "" where the counters cannot be read.
func cpuLine(phases []phaseResult) string {
	var parts []string
	var stolen []string
	cores := runtime.NumCPU()
	for i := range phases {
		p := &phases[i]
		if p.Skipped != "" || !p.CPU.OK || p.OK() == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.2f ms", p.Name, p.CPUPerRequest()))
		stolen = append(stolen, fmt.Sprintf("%.1f%%", p.CPU.StolenPercent(p.Elapsed.Seconds(), cores)))
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("machine CPU per request, all %d cores, whatever ran on them: %s (stolen by the hypervisor: %s)",
		cores, strings.Join(parts, ", "), strings.Join(stolen, ", "))
}

// procLine is the CPU time per successful request of the processes bench
// told apart (the gateway it spawned, a local PostgreSQL server, bench
// itself) in each phase: where a request's cost goes. "" where there is
// none.
func procLine(phases []phaseResult) string {
	var parts []string
	for i := range phases {
		p := &phases[i]
		if p.Skipped != "" || len(p.Procs) == 0 || p.OK() == 0 {
			continue
		}
		var each []string
		for _, c := range p.Procs {
			each = append(each, fmt.Sprintf("%s %.2f", c.Name, p.ProcCPUPerRequest(c)))
		}
		parts = append(parts, p.Name+": "+strings.Join(each, ", "))
	}
	if len(parts) == 0 {
		return ""
	}
	return "CPU per request by process, ms: " + strings.Join(parts, "; ")
}

// errorNotes is one line per error kind, most frequent first.
func errorNotes(phase string, kinds map[string]int64, samples map[string]string) []string {
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if kinds[names[i]] != kinds[names[j]] {
			return kinds[names[i]] > kinds[names[j]]
		}
		return names[i] < names[j]
	})
	var notes []string
	for _, k := range names {
		n := fmt.Sprintf("%s: %d x %s", phase, kinds[k], k)
		if s := samples[k]; s != "" && s != k {
			n += " (e.g. " + s + ")"
		}
		notes = append(notes, n)
	}
	return notes
}

type phaseJSON struct {
	Phase        string             `json:"phase"`
	Skipped      string             `json:"skipped,omitempty"`
	Failed       bool               `json:"failed,omitempty"`
	Requests     int64              `json:"requests"`
	Errors       int64              `json:"errors"`
	ErrorKinds   map[string]int64   `json:"error_kinds,omitempty"`
	WarmupErrors int64              `json:"warmup_errors,omitempty"`
	WarmupKinds  map[string]int64   `json:"warmup_error_kinds,omitempty"`
	ErrorSamples map[string]string  `json:"error_samples,omitempty"`
	Seconds      float64            `json:"seconds"`
	RPS          float64            `json:"rps"`
	LatencyMS    map[string]float64 `json:"latency_ms,omitempty"`
	// MachineCPUMS is the machine's CPU time per successful request and
	// StolenPercent the share of its cores' time the hypervisor took
	// (Linux only).
	MachineCPUMS  float64 `json:"machine_cpu_ms_per_request,omitempty"`
	StolenPercent float64 `json:"stolen_percent,omitempty"`
	// ProcessCPUMS is the CPU time per successful request of the
	// processes bench told apart: "gateway" (when bench spawned it),
	// "PostgreSQL" (a server on this machine), "bench" (Linux only).
	ProcessCPUMS map[string]float64 `json:"process_cpu_ms_per_request,omitempty"`
}

type reportJSON struct {
	Target          string      `json:"target"`
	Spawned         bool        `json:"spawned"`
	Store           string      `json:"store,omitempty"`
	Clients         int         `json:"clients"`
	Rate            float64     `json:"offered_per_second,omitempty"`
	DurationSeconds float64     `json:"duration_seconds"`
	WarmupSeconds   float64     `json:"warmup_seconds"`
	Fixture         string      `json:"fixture"`
	FixtureBytes    int         `json:"fixture_bytes"`
	Phases          []phaseJSON `json:"phases"`
	CreateRawRatio  float64     `json:"create_raw_ratio,omitempty"`
	Interrupted     bool        `json:"interrupted,omitempty"`
}

func writeReportJSON(w io.Writer, r benchReport) error {
	out := reportJSON{
		Target: r.Target, Spawned: r.Spawned, Store: r.Store, Clients: r.Clients, Rate: r.Rate,
		DurationSeconds: r.DurationSeconds, WarmupSeconds: r.WarmupSeconds,
		Fixture: r.Fixture, FixtureBytes: r.FixtureBytes,
		CreateRawRatio: r.CreateRaw, Interrupted: r.Interrupted,
	}
	for _, p := range r.Phases {
		pj := phaseJSON{
			Phase: p.Name, Skipped: p.Skipped, Failed: p.Failed, Requests: p.Requests, Errors: p.Errors,
			ErrorKinds: p.ErrorKinds, WarmupErrors: p.WarmupErrors, WarmupKinds: p.WarmupErrorKinds,
			ErrorSamples: p.ErrorSamples,
			Seconds:      p.Elapsed.Seconds(), RPS: p.RPS(),
		}
		if p.CPU.OK {
			pj.MachineCPUMS = p.CPUPerRequest()
			pj.StolenPercent = p.CPU.StolenPercent(p.Elapsed.Seconds(), runtime.NumCPU())
		}
		if p.OK() > 0 {
			for _, c := range p.Procs {
				if pj.ProcessCPUMS == nil {
					pj.ProcessCPUMS = map[string]float64{}
				}
				pj.ProcessCPUMS[c.Name] = p.ProcCPUPerRequest(c)
			}
		}
		if p.Skipped == "" {
			l := &p.Latency
			pj.LatencyMS = map[string]float64{
				"p50": ms(l.Quantile(0.50)), "p90": ms(l.Quantile(0.90)), "p99": ms(l.Quantile(0.99)),
				"max": ms(l.Max()), "mean": ms(l.Mean()),
			}
		}
		out.Phases = append(out.Phases, pj)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
