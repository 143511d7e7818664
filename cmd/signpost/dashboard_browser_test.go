package main

// The success-measures dashboard (/dashboard) in a real browser: headless
// Chromium from Debian's chromium package, driven by playwright-core
// (interop/js/dashboard-browser.mjs), against a gateway process with
// navigations seeded through the HTTP API. The figures the page shows
// must equal the MeasureReport that Measure/$evaluate-measure answers for
// the same practice and period; the page must pass basic accessibility
// checks; a screenshot is kept as a test artifact.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The practice and period the test seeds and asks for: the demo practice
// (Y99999, Organization/demo-surgery) over one week, Monday to Sunday.
const (
	dashSubject = "Organization/demo-surgery"
	dashFrom    = "2026-11-16"
	dashTo      = "2026-11-22"
)

// chromiumPath finds Debian's Chromium (CHROMIUM overrides); it skips
// when there is none, except under CI=true, where it fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium is not installed: the dashboard browser test needs Debian's chromium package (apt-get install -y chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: the browser test must run; .ci/run installs it)", msg)
	}
	t.Skip(msg)
	return ""
}

// artifactDir is where the test keeps what it saves: $SIGNPOST_ARTIFACTS,
// ./artifacts at the repository root under CI=true, else a new folder
// under the system's temporary folder, kept (its path is logged).
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SIGNPOST_ARTIFACTS")
	if dir == "" && os.Getenv("CI") == "true" {
		dir = filepath.Join("..", "..", "artifacts")
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "signpost-artifacts-*")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// dashSeed is one navigation request the test creates.
type dashSeed struct {
	at       string // authoredOn, UTC (UK time in November)
	route    string
	navigate bool
}

var dashSeeds = []dashSeed{
	{"2026-11-16T09:10:00Z", "phone", true},
	{"2026-11-16T09:40:00Z", "online", true},
	{"2026-11-16T09:55:00Z", "phone", false},
	{"2026-11-17T14:05:00Z", "walk-in", true},
	{"2026-11-18T08:30:00Z", "online", true},
	{"2026-11-19T11:00:00Z", "phone", false},
	{"2026-11-20T16:45:00Z", "online", true},
	{"2026-11-22T10:15:00Z", "online", true},
	// Outside the period: not counted.
	{"2026-11-10T10:00:00Z", "phone", true},
	{"2026-11-23T10:00:00Z", "online", false},
}

// dashTask is the navigation Task fixture with the seed's time, route and
// contact id.
func dashTask(t *testing.T, i int, sd dashSeed) []byte {
	t.Helper()
	var task map[string]any
	if err := json.Unmarshal(defaultFixture, &task); err != nil {
		t.Fatal(err)
	}
	task["authoredOn"] = sd.at
	task["identifier"] = []any{map[string]any{"system": "https://signpost.example/fhir/sid/contact-id", "value": fmt.Sprintf("c-dashboard-%d", i)}}
	for _, in := range task["input"].([]any) {
		m := in.(map[string]any)
		if code := m["type"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"]; code == "contact-route" {
			m["valueCode"] = sd.route
		}
	}
	b, err := json.Marshal(task)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dashCall(t *testing.T, hc *http.Client, method, u string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/fhir+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// dashFigures is what the page shows, or what the MeasureReport says it
// should show: per measure numerator and denominator (and the score), per
// contact route and per weekday-hour cell the number of requests.
type dashFigures struct {
	numerator, denominator map[string]int
	score                  map[string]*float64
	routes, cells          map[string]int
	total                  int
}

func dashCode(cc any) string {
	m, _ := cc.(map[string]any)
	cs, _ := m["coding"].([]any)
	if len(cs) == 0 {
		return ""
	}
	c, _ := cs[0].(map[string]any)["code"].(string)
	return c
}

func dashPops(list any) map[string]int {
	out := map[string]int{}
	l, _ := list.([]any)
	for _, p := range l {
		pm := p.(map[string]any)
		n, _ := pm["count"].(float64)
		out[dashCode(pm["code"])] = int(n)
	}
	return out
}

// expectedFigures reads a MeasureReport independently of the page's code.
func expectedFigures(t *testing.T, report map[string]any) dashFigures {
	t.Helper()
	f := dashFigures{numerator: map[string]int{}, denominator: map[string]int{}, score: map[string]*float64{},
		routes: map[string]int{}, cells: map[string]int{}}
	groups, _ := report["group"].([]any)
	if len(groups) == 0 {
		t.Fatalf("the MeasureReport has no group: %v", report)
	}
	for _, g := range groups {
		gm := g.(map[string]any)
		id := dashCode(gm["code"])
		pops := dashPops(gm["population"])
		if id != "navigation-demand" {
			f.numerator[id], f.denominator[id] = pops["numerator"], pops["denominator"]
			if ms, ok := gm["measureScore"].(map[string]any); ok {
				v, _ := ms["value"].(float64)
				f.score[id] = &v
			} else {
				f.score[id] = nil
			}
			continue
		}
		f.total = pops["initial-population"]
		strs, _ := gm["stratifier"].([]any)
		for _, s := range strs {
			sm := s.(map[string]any)
			codes, _ := sm["code"].([]any)
			if len(codes) == 0 {
				continue
			}
			name, _ := codes[0].(map[string]any)["text"].(string)
			var into map[string]int
			switch name {
			case "contact-route":
				into = f.routes
			case "weekday-hour":
				into = f.cells
			default:
				continue
			}
			strata, _ := sm["stratum"].([]any)
			for _, st := range strata {
				stm := st.(map[string]any)
				v, _ := stm["value"].(map[string]any)["text"].(string)
				into[v] = dashPops(stm["population"])["initial-population"]
			}
		}
	}
	return f
}

// shownPage is the JSON dashboard-browser.mjs writes.
type shownPage struct {
	Measures map[string]struct {
		Name, Numerator, Denominator, Share string
	}
	Routes         map[string]string
	AllRoutes      *string
	Heatmap        map[string]string
	Status         string
	FocusAfterLoad struct {
		ID      string
		Visible bool
	}
	Problems      []string
	ConsoleErrors []string
}

func atoiOr(t *testing.T, what, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Errorf("%s shows %q, not a number", what, s)
		return -1
	}
	return n
}

func TestDashboardInBrowser(t *testing.T) {
	browser := chromiumPath(t)
	node, dir := interopJS(t)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err != nil {
		skipOrFailCI(t, "interop/js/node_modules has no playwright-core: run npm ci --prefix interop/js")
	}
	bin := signpostBinary(t)
	demo, err := filepath.Abs(filepath.Join("..", "..", "testdata", "protocols"))
	if err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, bin, "", t.TempDir(), "SIGNPOST_DEMO_DIR="+demo)
	hc := &http.Client{Timeout: 30 * time.Second}

	// Seed through the API: create each Task, and navigate (commit) most.
	for i, sd := range dashSeeds {
		st, body := dashCall(t, hc, http.MethodPost, gw.base+"/Task", dashTask(t, i, sd))
		if st != http.StatusCreated {
			t.Fatalf("POST Task %d: %d %s", i, st, body)
		}
		var created struct{ ID string }
		if err := json.Unmarshal(body, &created); err != nil || created.ID == "" {
			t.Fatalf("POST Task %d: no id in %s", i, body)
		}
		if !sd.navigate {
			continue
		}
		st, body = dashCall(t, hc, http.MethodPost, gw.base+"/Task/"+created.ID+"/$navigate", nil)
		if st != http.StatusOK {
			t.Fatalf("$navigate Task %d: %d %s", i, st, body)
		}
	}

	// The MeasureReport straight from the API.
	q := url.Values{"measure": {"navigation-success-measures"}, "periodStart": {dashFrom}, "periodEnd": {dashTo}, "subject": {dashSubject}}
	st, body := dashCall(t, hc, http.MethodGet, gw.base+"/Measure/$evaluate-measure?"+q.Encode(), nil)
	if st != http.StatusOK {
		t.Fatalf("$evaluate-measure: %d %s", st, body)
	}
	var report map[string]any
	if err := json.Unmarshal(body, &report); err != nil {
		t.Fatal(err)
	}
	want := expectedFigures(t, report)
	inPeriod := 0
	for _, sd := range dashSeeds {
		if sd.at >= dashFrom && sd.at < "2026-11-23" {
			inPeriod++
		}
	}
	if want.total < inPeriod {
		t.Fatalf("the MeasureReport counts %d requests, fewer than the %d seeded in the period: %s", want.total, inPeriod, body)
	}

	// The page in Chromium.
	art := artifactDir(t)
	shot := filepath.Join(art, "dashboard.png")
	out := filepath.Join(t.TempDir(), "shown.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "dashboard-browser.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"SIGNPOST_ROOT="+gw.root, "CHROMIUM="+browser,
		"DASHBOARD_SUBJECT="+dashSubject, "DASHBOARD_FROM="+dashFrom, "DASHBOARD_TO="+dashTo,
		"DASHBOARD_SCREENSHOT="+shot, "DASHBOARD_OUT="+out,
		"NO_COLOR=1", "FORCE_COLOR=0")
	cmd.WaitDelay = 10 * time.Second
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("dashboard-browser.mjs did not finish in time:\n%s", log.String())
		}
		t.Fatalf("dashboard-browser.mjs failed (%v):\n%s", err, log.String())
	}
	t.Logf("%s", strings.TrimSpace(log.String()))
	t.Logf("screenshot of the dashboard: %s", shot)
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got shownPage
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}

	// Accessibility.
	for _, p := range got.Problems {
		t.Errorf("accessibility: %s", p)
	}
	for _, e := range got.ConsoleErrors {
		t.Errorf("browser console error: %s", e)
	}
	if got.FocusAfterLoad.ID != "figures" || !got.FocusAfterLoad.Visible {
		t.Errorf("after loading, the focus is on %q (visible %v), want the figures, visibly", got.FocusAfterLoad.ID, got.FocusAfterLoad.Visible)
	}

	// The measures table equals the MeasureReport.
	if len(got.Measures) != len(want.numerator) {
		t.Errorf("the page shows %d measures, the MeasureReport has %d", len(got.Measures), len(want.numerator))
	}
	for id, num := range want.numerator {
		row, ok := got.Measures[id]
		if !ok {
			t.Errorf("measure %s is not on the page", id)
			continue
		}
		if n := atoiOr(t, id+" numerator", row.Numerator); n != num {
			t.Errorf("%s numerator: the page shows %d, the MeasureReport %d", id, n, num)
		}
		if n := atoiOr(t, id+" denominator", row.Denominator); n != want.denominator[id] {
			t.Errorf("%s denominator: the page shows %d, the MeasureReport %d", id, n, want.denominator[id])
		}
		if sc := want.score[id]; sc == nil {
			if row.Share != "no data" {
				t.Errorf("%s share: the page shows %q, the MeasureReport has no score", id, row.Share)
			}
		} else {
			pct, err := strconv.ParseFloat(strings.TrimSuffix(row.Share, "%"), 64)
			if err != nil || !strings.HasSuffix(row.Share, "%") || math.Abs(pct-*sc*100) > 0.05+1e-9 {
				t.Errorf("%s share: the page shows %q, the MeasureReport %.4f", id, row.Share, *sc)
			}
		}
	}

	// Demand by route and the heatmap equal the MeasureReport's strata.
	if got.AllRoutes == nil || atoiOr(t, "all routes", *got.AllRoutes) != want.total {
		t.Errorf("all routes: the page shows %v, the MeasureReport %d", got.AllRoutes, want.total)
	}
	if len(got.Routes) != len(want.routes) {
		t.Errorf("the page shows routes %v, the MeasureReport %v", got.Routes, want.routes)
	}
	for r, n := range want.routes {
		if s, ok := got.Routes[r]; !ok || atoiOr(t, "route "+r, s) != n {
			t.Errorf("route %s: the page shows %q, the MeasureReport %d", r, s, n)
		}
	}
	if len(got.Heatmap) != 7*24 {
		t.Errorf("the heatmap has %d cells, want 7×24", len(got.Heatmap))
	}
	sum := 0
	for cell, s := range got.Heatmap {
		n := atoiOr(t, "heatmap "+cell, s)
		sum += n
		if n != want.cells[cell] {
			t.Errorf("heatmap %s: the page shows %d, the MeasureReport %d", cell, n, want.cells[cell])
		}
	}
	for cell, n := range want.cells {
		if _, ok := got.Heatmap[cell]; !ok && n != 0 {
			t.Errorf("heatmap %s: %d in the MeasureReport, no such cell on the page", cell, n)
		}
	}
	if sum != want.total {
		t.Errorf("the heatmap's cells add up to %d, the MeasureReport counts %d requests", sum, want.total)
	}
	t.Logf("the page shows %d measures, %d requests over %d routes and %d heatmap cells, as the MeasureReport", len(got.Measures), want.total, len(got.Routes), len(got.Heatmap))
}
