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
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signpost-fhir/signpost/internal/loadclient"
)

// The practice the test asks for: the demo practice (Y99999,
// Organization/demo-surgery), with its demo history of navigations
// (internal/demo: the eight whole weeks before this one) and the
// navigations the test seeds through the API in the last whole week.
const dashSubject = "Organization/demo-surgery"

// dashPeriod is the period the test asks for: the eight whole weeks
// (Monday to Sunday, UK time) before the current one; lastMonday is the
// Monday of the last of them.
func dashPeriod(now time.Time) (from, to, lastMonday time.Time) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic(err)
	}
	y, m, d := now.In(london).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, london)
	thisMonday := today.AddDate(0, 0, -(int(today.Weekday())+6)%7)
	return thisMonday.AddDate(0, 0, -56), thisMonday.AddDate(0, 0, -1), thisMonday.AddDate(0, 0, -7)
}

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

// dashSeed is one navigation request the test creates: day is the day
// after the last whole week's Monday (-7 and 7: outside the period),
// at the time of day (UTC).
type dashSeed struct {
	day      int
	at       string
	route    string
	navigate bool
}

var dashSeeds = []dashSeed{
	{0, "09:10", "phone", true},
	{0, "09:40", "online", true},
	{0, "09:55", "phone", false},
	{1, "14:05", "walk-in", true},
	{2, "08:30", "online", true},
	{3, "11:00", "phone", false},
	{4, "16:45", "online", true},
	{6, "10:15", "online", true},
	// Outside the period: not counted.
	{-60, "10:00", "phone", true},
	{7, "10:00", "online", false},
}

// seedTime is a seed's authoredOn.
func (sd dashSeed) seedTime(lastMonday time.Time) time.Time {
	d := lastMonday.AddDate(0, 0, sd.day)
	t, err := time.Parse("2006-01-02T15:04Z07:00", d.Format("2006-01-02")+"T"+sd.at+"Z")
	if err != nil {
		panic(err)
	}
	return t
}

// dashTask is the navigation Task fixture with the seed's time, route and
// contact id.
func dashTask(t *testing.T, i int, sd dashSeed, lastMonday time.Time) []byte {
	t.Helper()
	var task map[string]any
	if err := json.Unmarshal(loadclient.Fixture, &task); err != nil {
		t.Fatal(err)
	}
	task["authoredOn"] = sd.seedTime(lastMonday).Format(time.RFC3339)
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
	// groups are the report's groups by measure code, for the figures
	// by stratum (dashStrata).
	groups map[string]map[string]any
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

// dashScore is an element's measureScore.value, nil without one.
func dashScore(x map[string]any) *float64 {
	ms, ok := x["measureScore"].(map[string]any)
	if !ok {
		return nil
	}
	v, ok := ms["value"].(float64)
	if !ok {
		return nil
	}
	return &v
}

// dashStratum is one stratum of a group as the report has it.
type dashStratum struct {
	pops  map[string]int
	score *float64
}

// dashStrata are a group's strata of the stratifier named name, by value.
func dashStrata(group map[string]any, name string) map[string]dashStratum {
	out := map[string]dashStratum{}
	strs, _ := group["stratifier"].([]any)
	for _, s := range strs {
		sm := s.(map[string]any)
		codes, _ := sm["code"].([]any)
		if len(codes) == 0 {
			continue
		}
		if n, _ := codes[0].(map[string]any)["text"].(string); n != name {
			continue
		}
		strata, _ := sm["stratum"].([]any)
		for _, st := range strata {
			stm := st.(map[string]any)
			v, _ := stm["value"].(map[string]any)["text"].(string)
			out[v] = dashStratum{pops: dashPops(stm["population"]), score: dashScore(stm)}
		}
	}
	return out
}

// The groups the page shows in their own sections rather than as rows of
// the measures table.
const (
	dashDemand      = "navigation-demand"
	dashAllocations = "navigation-allocations"
	dashTime        = "navigation-time-to-allocation"
)

// expectedFigures reads a MeasureReport independently of the page's code.
func expectedFigures(t *testing.T, report map[string]any) dashFigures {
	t.Helper()
	f := dashFigures{numerator: map[string]int{}, denominator: map[string]int{}, score: map[string]*float64{},
		routes: map[string]int{}, cells: map[string]int{}, groups: map[string]map[string]any{}}
	groups, _ := report["group"].([]any)
	if len(groups) == 0 {
		t.Fatalf("the MeasureReport has no group: %v", report)
	}
	for _, g := range groups {
		gm := g.(map[string]any)
		id := dashCode(gm["code"])
		f.groups[id] = gm
		pops := dashPops(gm["population"])
		switch id {
		case dashAllocations, dashTime:
			continue
		case dashDemand:
		default:
			f.numerator[id], f.denominator[id] = pops["numerator"], pops["denominator"]
			f.score[id] = dashScore(gm)
			continue
		}
		f.total = pops["initial-population"]
		for v, st := range dashStrata(gm, "contact-route") {
			f.routes[v] = st.pops["initial-population"]
		}
		for v, st := range dashStrata(gm, "weekday-hour") {
			f.cells[v] = st.pops["initial-population"]
		}
	}
	for _, id := range []string{dashDemand, dashAllocations, dashTime} {
		if f.groups[id] == nil {
			t.Fatalf("the MeasureReport has no %s group", id)
		}
	}
	return f
}

// dashCell is a cell of the table of measures by stratum.
type dashCell struct {
	Share, ND, Text string
}

// shownPage is the JSON dashboard-browser.mjs writes.
type shownPage struct {
	Measures map[string]struct {
		Name, Numerator, Denominator, Share string
	}
	Routes    map[string]string
	AllRoutes *string
	Heatmap   map[string]string
	// Sparklines are the points of each measure's trend line (period ->
	// value drawn), Trends the trend table (measure -> period -> text).
	Sparklines       map[string]map[string]float64
	Trends           map[string]map[string]string
	TimeToAllocation struct {
		Median, Allocated, Requests string
		Chart                       map[string]float64
		Routes                      map[string]struct{ Requests, Allocated, Median string }
	}
	// CategoryTable is category -> period (or "total") -> text;
	// CategoryBars "period category" -> the value a bar segment draws.
	CategoryTable map[string]map[string]string
	CategoryBars  map[string]float64
	Granularity   string
	// Strata is stratifier -> stratum -> measure -> cell.
	Strata         map[string]map[string]map[string]dashCell
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

// checkShare checks a share the page shows ("12.3%" or "no data")
// against a score.
func checkShare(t *testing.T, what, shown string, score *float64) {
	t.Helper()
	if score == nil {
		if shown != "no data" {
			t.Errorf("%s: the page shows %q, the MeasureReport has no score", what, shown)
		}
		return
	}
	pct, err := strconv.ParseFloat(strings.TrimSuffix(shown, "%"), 64)
	if err != nil || !strings.HasSuffix(shown, "%") || math.Abs(pct-*score*100) > 0.05+1e-9 {
		t.Errorf("%s: the page shows %q, the MeasureReport %.4f", what, shown, *score)
	}
}

// checkMinutes checks minutes the page shows (one decimal, or "no
// data") against a score.
func checkMinutes(t *testing.T, what, shown string, score *float64) {
	t.Helper()
	if score == nil {
		if shown != "no data" {
			t.Errorf("%s: the page shows %q, the MeasureReport has no score", what, shown)
		}
		return
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(shown), 64)
	if err != nil || math.Abs(v-*score) > 0.05+1e-9 {
		t.Errorf("%s: the page shows %q, the MeasureReport %v", what, shown, *score)
	}
}

// dashWeeks are the Mondays of the weeks from from to to.
func dashWeeks(from, to time.Time) []string {
	var out []string
	for d := from; !d.After(to); d = d.AddDate(0, 0, 7) {
		out = append(out, d.Format("2006-01-02"))
	}
	return out
}

func TestDashboardInBrowser(t *testing.T) {
	t.Parallel()
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
	from, to, lastMonday := dashPeriod(time.Now())
	dashFrom, dashTo := from.Format("2006-01-02"), to.Format("2006-01-02")
	// The demo content and its history of navigations (asked for: the
	// history is seeded by default only with the README's run command).
	gw := startGateway(t, bin, "", t.TempDir(), "SIGNPOST_DEMO_DIR="+demo, "SIGNPOST_DEMO_HISTORY=on")
	hc := &http.Client{Timeout: 30 * time.Second}

	// Seed through the API: create each Task, and navigate (commit) most.
	for i, sd := range dashSeeds {
		st, body := dashCall(t, hc, http.MethodPost, gw.base+"/Task", dashTask(t, i, sd, lastMonday))
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
		if at := sd.seedTime(lastMonday); !at.Before(from) && at.Before(to.AddDate(0, 0, 1)) {
			inPeriod++
		}
	}
	// The demo history has a few hundred contacts in the eight weeks.
	if want.total < inPeriod+100 {
		t.Fatalf("the MeasureReport counts %d requests: fewer than the %d seeded in the period and the demo history: %s", want.total, inPeriod, body)
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
		checkShare(t, id+" share", row.Share, want.score[id])
	}

	// Trends: eight whole weeks, so by week. Each measure's trend line
	// draws a point for every week the report scores, at the score; the
	// trend table shows every week.
	if got.Granularity != "week" {
		t.Errorf("the page shows trends by %q, want week for an eight-week period", got.Granularity)
	}
	weeks := dashWeeks(from, to)
	if len(weeks) != 8 {
		t.Fatalf("the period %s to %s has %d weeks, want 8", dashFrom, dashTo, len(weeks))
	}
	points := 0
	for id := range want.numerator {
		byWeek := dashStrata(want.groups[id], "week")
		for w := range byWeek {
			if !slices.Contains(weeks, w) {
				t.Errorf("%s: the MeasureReport has a week %s outside the period", id, w)
			}
		}
		line := got.Sparklines[id]
		for _, w := range weeks {
			sc := byWeek[w].score
			v, drawn := line[w]
			switch {
			case sc == nil && drawn:
				t.Errorf("%s trend line: a point %v for week %s, which the MeasureReport does not score", id, v, w)
			case sc != nil && !drawn:
				t.Errorf("%s trend line: no point for week %s, scored %v", id, w, *sc)
			case sc != nil && math.Abs(v-*sc) > 1e-9:
				t.Errorf("%s trend line: week %s drawn at %v, the MeasureReport %v", id, w, v, *sc)
			case sc != nil:
				points++
			}
			checkShare(t, id+" trend table, week "+w, got.Trends[id][w], sc)
		}
	}
	if points == 0 {
		t.Errorf("no trend line has a point")
	}
	for _, id := range []string{dashDemand, dashAllocations} {
		byWeek := dashStrata(want.groups[id], "week")
		sum := 0
		for _, w := range weeks {
			n := byWeek[w].pops["initial-population"]
			sum += n
			if s := got.Trends[id][w]; atoiOr(t, id+" trend "+w, s) != n {
				t.Errorf("%s trend table, week %s: the page shows %q, the MeasureReport %d", id, w, s, n)
			}
		}
		if total := dashPops(want.groups[id]["population"])["initial-population"]; sum != total {
			t.Errorf("%s: the weeks of the MeasureReport add up to %d, its population is %d", id, sum, total)
		}
	}

	// Time from contact to allocation: the median, the counts, the trend
	// line by week, and by contact route.
	tg := want.groups[dashTime]
	tp := dashPops(tg["population"])
	checkMinutes(t, "median time to allocation", got.TimeToAllocation.Median, dashScore(tg))
	if dashScore(tg) == nil {
		t.Errorf("the MeasureReport has no median time to allocation: %v", tg)
	}
	if n := atoiOr(t, "allocated requests", got.TimeToAllocation.Allocated); n != tp["measure-population"] {
		t.Errorf("time to allocation: the page shows %d allocated requests, the MeasureReport %d", n, tp["measure-population"])
	}
	if n := atoiOr(t, "requests", got.TimeToAllocation.Requests); n != tp["initial-population"] || n != want.total {
		t.Errorf("time to allocation: the page shows %d requests, the MeasureReport %d (demand %d)", n, tp["initial-population"], want.total)
	}
	tWeeks := dashStrata(tg, "week")
	for _, w := range weeks {
		sc := tWeeks[w].score
		v, drawn := got.TimeToAllocation.Chart[w]
		if (sc == nil) == drawn || (sc != nil && math.Abs(v-*sc) > 1e-9) {
			t.Errorf("time to allocation chart, week %s: drawn %v (%v), the MeasureReport %v", w, drawn, v, sc)
		}
		checkMinutes(t, "time to allocation trend table, week "+w, got.Trends[dashTime][w], sc)
	}
	tRoutes := dashStrata(tg, "contact-route")
	if len(got.TimeToAllocation.Routes) != len(tRoutes) {
		t.Errorf("time to allocation: the page shows routes %v, the MeasureReport %v", got.TimeToAllocation.Routes, tRoutes)
	}
	for r, st := range tRoutes {
		row := got.TimeToAllocation.Routes[r]
		if atoiOr(t, "time to allocation "+r+" requests", row.Requests) != st.pops["initial-population"] ||
			atoiOr(t, "time to allocation "+r+" allocated", row.Allocated) != st.pops["measure-population"] {
			t.Errorf("time to allocation by route %s: the page shows %+v, the MeasureReport %v", r, row, st.pops)
		}
		checkMinutes(t, "time to allocation by route "+r, row.Median, st.score)
	}

	// Allocations by category over time: every bar segment and table
	// cell equals the category-week stratum; each week's total equals the
	// allocations of the week, each category's total its category stratum.
	ag := want.groups[dashAllocations]
	catWeeks := dashStrata(ag, "category-week")
	cats := dashStrata(ag, "category")
	if len(cats) < 3 {
		t.Errorf("the demo history allocates to only %d categories: %v", len(cats), cats)
	}
	for k, st := range catWeeks {
		w, c, _ := strings.Cut(k, " ")
		n := st.pops["initial-population"]
		if v := got.CategoryBars[k]; v != float64(n) {
			t.Errorf("category chart %s: the bar draws %v, the MeasureReport %d", k, v, n)
		}
		if s := got.CategoryTable[c][w]; atoiOr(t, "category table "+k, s) != n {
			t.Errorf("category table %s: the page shows %q, the MeasureReport %d", k, s, n)
		}
	}
	for k, v := range got.CategoryBars {
		if _, ok := catWeeks[k]; !ok && v != 0 {
			t.Errorf("category chart %s: a bar of %v the MeasureReport does not have", k, v)
		}
	}
	if len(got.CategoryTable) != len(cats)+1 {
		t.Errorf("the category table has rows %v, want the MeasureReport's categories %v and all", got.CategoryTable, cats)
	}
	for c, st := range cats {
		if s := got.CategoryTable[c]["total"]; atoiOr(t, "category total "+c, s) != st.pops["initial-population"] {
			t.Errorf("category %s total: the page shows %q, the MeasureReport %d", c, s, st.pops["initial-population"])
		}
		for _, w := range weeks {
			if _, ok := catWeeks[w+" "+c]; !ok {
				if s := got.CategoryTable[c][w]; s != "0" {
					t.Errorf("category table %s %s: the page shows %q, the MeasureReport has none", w, c, s)
				}
			}
		}
	}
	allocWeeks := dashStrata(ag, "week")
	for _, w := range weeks {
		if s := got.CategoryTable["all"][w]; atoiOr(t, "allocations of week "+w, s) != allocWeeks[w].pops["initial-population"] {
			t.Errorf("allocations of week %s: the page shows %q, the MeasureReport %d", w, s, allocWeeks[w].pops["initial-population"])
		}
	}
	if s := got.CategoryTable["all"]["total"]; atoiOr(t, "all allocations", s) != dashPops(ag["population"])["initial-population"] {
		t.Errorf("all allocations: the page shows %q, the MeasureReport %d", s, dashPops(ag["population"])["initial-population"])
	}

	// The measures by each stratifier.
	for _, name := range []string{"contact-route", "age-band", "sex", "need-group"} {
		rows, ok := got.Strata[name]
		if !ok {
			t.Errorf("the page has no table of the measures by %s", name)
			continue
		}
		values := map[string]bool{}
		for _, g := range want.groups {
			for v := range dashStrata(g, name) {
				values[v] = true
			}
		}
		if len(rows) != len(values) || len(values) < 2 {
			t.Errorf("by %s: the page shows strata %v, the MeasureReport %v", name, slices.Sorted(maps.Keys(rows)), slices.Sorted(maps.Keys(values)))
		}
		for v := range values {
			row := rows[v]
			what := "by " + name + " " + v
			if s := row["requests"].Text; atoiOr(t, what+" requests", s) != dashStrata(want.groups[dashDemand], name)[v].pops["initial-population"] {
				t.Errorf("%s requests: the page shows %q, the MeasureReport %d", what, s, dashStrata(want.groups[dashDemand], name)[v].pops["initial-population"])
			}
			for id := range want.numerator {
				st := dashStrata(want.groups[id], name)[v]
				checkShare(t, what+" "+id, row[id].Share, st.score)
				if nd := fmt.Sprintf("%d/%d", st.pops["numerator"], st.pops["denominator"]); row[id].ND != nd {
					t.Errorf("%s %s: the page shows %q, the MeasureReport %s", what, id, row[id].ND, nd)
				}
			}
			if s := row[dashAllocations].Text; atoiOr(t, what+" allocations", s) != dashStrata(ag, name)[v].pops["initial-population"] {
				t.Errorf("%s allocations: the page shows %q, the MeasureReport %d", what, s, dashStrata(ag, name)[v].pops["initial-population"])
			}
			checkMinutes(t, what+" median time to allocation", row[dashTime].Text, dashStrata(tg, name)[v].score)
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
	t.Logf("the page shows %d measures with %d trend points over %d weeks, %d requests over %d routes, %d heatmap cells, %d category bars and 4 stratifiers, as the MeasureReport",
		len(got.Measures), points, len(weeks), want.total, len(got.Routes), len(got.Heatmap), len(got.CategoryBars))
}
