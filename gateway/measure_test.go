package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/gateway"
	"github.com/signpost-fhir/signpost/mapping"
)

// Success measures over HTTP, on both stores: navigations are seeded
// through the API (POST Task, $navigate commit, a declined Pharmacy First
// re-navigated), and the MeasureReport of $evaluate-measure is compared
// with figures the test counts itself from what it seeded and what
// $navigate answered.

// msSeed is one seeded request and what became of it.
type msSeed struct {
	scenario string
	route    string
	authored time.Time
	nhs      string
	problem  string
	navigate bool
	decline  bool
	// From the $navigate answer (the last one).
	category, code, urgency, status string
	declinedPF                      bool
	// The patient as seeded: age band and sex ("unknown" without a
	// Patient), need group ("unknown" unless an allocation was made for
	// a patient with a need-group Observation).
	ageBand, sex, needGroup string
	// Continuity: the decision applied safety rule 3; missed when the
	// allocation is not to the practice's clinicians or team with the
	// continuity requirement.
	continuity, continuityMissed bool
}

// msAgeBand is the age band of an age (the bands of docs/measures.md).
func msAgeBand(age int) string {
	switch {
	case age < 5:
		return "0-4"
	case age < 16:
		return "5-15"
	case age < 25:
		return "16-24"
	case age < 45:
		return "25-44"
	case age < 65:
		return "45-64"
	case age < 75:
		return "65-74"
	case age < 85:
		return "75-84"
	}
	return "85+"
}

func TestEvaluateMeasureAgainstAnIndependentCount(t *testing.T) {
	t.Parallel()
	var f nvScenarioFile
	b, err := os.ReadFile("../testdata/protocols/scenarios/scenarios.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &f))
	byName := map[string]nvScenario{}
	for _, sc := range f.Scenarios {
		byName[sc.Name] = sc
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			s := st.open(t)
			term := seededTerminology(t, s)
			iss, v := trustedIssuer(t)
			tg := newGateway(t, gateway.Options{Store: s, Verifier: v, Now: func() time.Time { return nvNow }}, func(srv *gateway.Server) {
				srv.RegisterTerminology(term)
				require.NoError(t, srv.RegisterNavigation(ctx, gateway.NavigationOptions{Terminology: term, DemoDir: "../testdata/protocols"}))
				require.NoError(t, srv.RegisterMeasures(ctx))
				srv.ServeDashboard()
			})
			g := &nvGateway{testGateway: tg, st: s, iss: iss}
			msRun(t, g, byName)
		})
	}
}

func msRun(t *testing.T, g *nvGateway, byName map[string]nvScenario) {
	nav := nvNavigator("expert", "Y99999")
	day := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, mapping.London) }
	pick := []string{
		"age 16: Pharmacy First",
		"loneliness to social prescribing",
		"back pain to first contact physiotherapy",
		"wound dressing to the practice nurse",
		"fit note: 7 days",
		"red flag: chest pain, coded",
		"low mood to the mental health practitioner",
		// On the day of nvNow, before it: allocated the same day.
		"getting worse: same-day clinician",
	}
	routes := []string{"phone", "online", "walk-in"}
	var seeds []*msSeed
	for i, name := range pick {
		_, ok := byName[name]
		require.True(t, ok, "scenario %q", name)
		// Spread over the week before nvNow (Monday 23 November), two on
		// the day itself.
		at := day(16+i%8, 8+i, 5*i)
		if i == 7 {
			at = day(23, 8, 15)
		}
		seeds = append(seeds, &msSeed{scenario: name, route: routes[i%3], authored: at, nhs: nvNHS(500 + i), navigate: true})
	}
	// A declined Pharmacy First, re-navigated (Friday afternoon).
	seeds = append(seeds, &msSeed{scenario: "declined Pharmacy First is re-navigated and counted", route: "online", authored: day(20, 15, 30), nhs: nvNHS(520), navigate: true, decline: true})
	// Reattendances: the same patient and problem 6 days apart (the first
	// before the period), and two in the period 2 days apart; a third
	// patient comes back after 20 days (not one).
	seeds = append(seeds,
		&msSeed{scenario: "back pain to first contact physiotherapy", route: "phone", authored: day(12, 9, 0), nhs: nvNHS(530), problem: "Same back pain"},
		&msSeed{scenario: "back pain to first contact physiotherapy", route: "phone", authored: day(18, 9, 0), nhs: nvNHS(530), problem: "Same back pain", navigate: true},
		&msSeed{scenario: "back pain to first contact physiotherapy", route: "online", authored: day(17, 20, 0), nhs: nvNHS(531), problem: "Sore knee"},
		&msSeed{scenario: "back pain to first contact physiotherapy", route: "walk-in", authored: day(19, 11, 0), nhs: nvNHS(531), problem: "sore knee", navigate: true},
		&msSeed{scenario: "back pain to first contact physiotherapy", route: "phone", authored: day(1, 10, 0), nhs: nvNHS(532), problem: "Old problem"},
		&msSeed{scenario: "back pain to first contact physiotherapy", route: "phone", authored: day(21, 10, 0), nhs: nvNHS(532), problem: "Old problem"},
	)
	// Complex needs: continuity given (frailty to the practice's first
	// contact physiotherapist, with the continuity requirement) and not
	// given (a high-need patient signposted away, held for review).
	seeds = append(seeds,
		&msSeed{scenario: "frailty: continuity, first contact physio, expert navigator", route: "phone", authored: day(17, 11, 30), nhs: nvNHS(550), navigate: true},
		&msSeed{scenario: "high need directed away goes to clinician review", route: "online", authored: day(19, 16, 0), nhs: nvNHS(551), navigate: true},
	)
	for _, sd := range seeds {
		sd.ageBand, sd.sex, sd.needGroup = "unknown", "unknown", "unknown"
		if sd.scenario == "" {
			continue
		}
		sc := byName[sd.scenario]
		require.NotEmpty(t, sc.Name, sd.scenario)
		sc.Inputs.Route = sd.route
		if sd.problem != "" {
			sc.Inputs.Problem = sd.problem
		}
		sd.problem = sc.Inputs.Problem
		patientRef := ""
		if sc.Patient != nil {
			// Born Age years and 100 days before nvNow: Age at every
			// request of the period.
			sd.ageBand, sd.sex = msAgeBand(sc.Patient.Age), sc.Patient.Sex
			if sd.sex == "" {
				sd.sex = "unknown"
			}
			born := time.Date(nvNow.Year()-sc.Patient.Age, nvNow.Month(), nvNow.Day(), 0, 0, 0, 0, mapping.London).AddDate(0, 0, -100)
			search := g.as(nav, "GET", "/Patient?identifier="+mapping.NHSNumberSystem+"|"+sd.nhs, "")
			require.Equal(t, 200, search.status, "%s", search.body)
			if entries := listAny(search.json(t)["entry"]); len(entries) > 0 {
				patientRef = "Patient/" + entries[0].(map[string]any)["resource"].(map[string]any)["id"].(string)
			} else {
				id := g.created(t, nav, "Patient", map[string]any{"resourceType": "Patient",
					"identifier": []any{map[string]any{"system": mapping.NHSNumberSystem, "value": sd.nhs}},
					"gender":     sc.Patient.Sex, "birthDate": born.Format("2006-01-02")})
				patientRef = "Patient/" + id
			}
		}
		if patientRef != "" && sc.NeedGroup != "" {
			g.created(t, nav, "Observation", map[string]any{"resourceType": "Observation", "status": "final",
				"code": map[string]any{"text": "Patient need group"}, "subject": map[string]any{"reference": patientRef},
				"effectiveDateTime":    nvNow.AddDate(0, -1, 0).Format("2006-01-02"),
				"valueCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": nvBase + "/CodeSystem/patient-need-group", "code": sc.NeedGroup}}}})
		}
		taskID := g.created(t, nav, "Task", nvTask(sc, "Y99999", sd.nhs, patientRef, sd.authored))
		if !sd.navigate {
			continue
		}
		res := nvNavigate(t, g, nav, taskID, nil)
		require.Equal(t, http.StatusOK, res.status, "%s: %s", sd.scenario, res.raw)
		if sd.decline {
			require.Equal(t, "2140231000000104", msCode(res.allocation["code"]), "the first decision is Pharmacy First")
			cur := g.as(nav, "GET", "/Task/"+taskID, "")
			task := cur.json(t)
			task["businessStatus"] = map[string]any{"coding": []any{map[string]any{"system": nvBase + "/CodeSystem/navigation-status", "code": "declined"}}}
			task["statusReason"] = map[string]any{"text": "Would rather see the GP"}
			body, _ := json.Marshal(task)
			up := g.as(nav, "PUT", "/Task/"+taskID, string(body), "If-Match", cur.header.Get("ETag"))
			require.Equal(t, http.StatusOK, up.status, "%s", up.body)
			sd.declinedPF = true
			res = nvNavigate(t, g, nav, taskID, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
		}
		for _, c := range listAny(res.allocation["category"]) {
			sd.category = msCode(c)
		}
		sd.code = msCode(res.allocation["code"])
		sd.urgency = res.coded("urgency")
		sd.status, _ = res.allocation["status"].(string)
		if patientRef != "" && sc.NeedGroup != "" {
			sd.needGroup = sc.NeedGroup
		}
		for _, rule := range res.rules() {
			if rule == "safety-3-complex-needs" {
				sd.continuity = true
			}
		}
		if sd.continuity {
			withTeam := sd.category == "clinician" || sd.category == "practice-team"
			required := false
			for _, od := range listAny(res.allocation["orderDetail"]) {
				if txt, _ := od.(map[string]any)["text"].(string); strings.Contains(txt, "Continuity of care") {
					required = true
				}
			}
			sd.continuityMissed = !withTeam || !required
		}
	}
	// A Task of another practice in the period does not count.
	other := nvNavigator("expert", "B82002")
	sc := byName["getting worse: same-day clinician"]
	g.created(t, other, "Task", nvTask(sc, "B82002", nvNHS(540), "", day(18, 10, 0)))

	// The independent count.
	start, end := day(16, 0, 0), day(24, 0, 0)
	type exp struct{ requests, navigated, pf, pfDeclined, social, wider, urgent, urgentSameDay, reattend int }
	var e exp
	byRoute := map[string]int{}
	byDay := map[string]int{}
	byHour := map[string]int{}
	byDayHour := map[string]int{}
	navByRoute := map[string]int{}
	// Requests and navigated requests by age band, sex and need group.
	byStrat := map[string]map[string]int{"age-band": {}, "sex": {}, "need-group": {}}
	navByStrat := map[string]map[string]int{"age-band": {}, "sex": {}, "need-group": {}}
	contNeeded, contMissed := 0, 0
	contMissedByNeed := map[string]int{}
	for i, sd := range seeds {
		if sd.authored.Before(start) || !sd.authored.Before(end) {
			continue
		}
		e.requests++
		byRoute[sd.route]++
		byDay[sd.authored.Weekday().String()]++
		byHour[fmt.Sprintf("%02d", sd.authored.Hour())]++
		byDayHour[fmt.Sprintf("%s %02d", sd.authored.Weekday(), sd.authored.Hour())]++
		for j, o := range seeds {
			if j != i && o.nhs == sd.nhs && o.authored.Before(sd.authored) && sd.authored.Sub(o.authored) <= 14*24*time.Hour &&
				o.problem != "" && msSameProblem(o.problem, sd.problem) {
				e.reattend++
				break
			}
		}
		if sd.declinedPF {
			e.pfDeclined++
		}
		byStrat["age-band"][sd.ageBand]++
		byStrat["sex"][sd.sex]++
		if !sd.navigate {
			byStrat["need-group"]["unknown"]++
			continue
		}
		byStrat["need-group"][sd.needGroup]++
		navByStrat["age-band"][sd.ageBand]++
		navByStrat["sex"][sd.sex]++
		navByStrat["need-group"][sd.needGroup]++
		if sd.continuity {
			contNeeded++
			if sd.continuityMissed {
				contMissed++
				contMissedByNeed[sd.needGroup]++
			}
		}
		e.navigated++
		navByRoute[sd.route]++
		if sd.code == "2140231000000104" {
			e.pf++
		}
		if sd.code == "871731000000106" {
			e.social++
		}
		if sd.category == "practice-team" {
			e.wider++
		}
		if sd.urgency == "same-day" || sd.urgency == "emergency" {
			e.urgent++
			// Allocations are made at nvNow (Monday 23 November).
			if sd.authored.Year() == nvNow.Year() && sd.authored.YearDay() == nvNow.YearDay() {
				e.urgentSameDay++
			}
		}
	}
	require.Equal(t, 2, e.reattend, "the seeding has two reattendances")
	require.Equal(t, 1, e.pfDeclined)
	require.Greater(t, e.pf, 0)
	require.Greater(t, e.social, 0)
	require.Greater(t, e.urgent, e.urgentSameDay, "some urgent requests were not allocated the same day")
	require.Greater(t, e.urgentSameDay, 0)

	// The summary Measure, for the practice.
	q := "/Measure/$evaluate-measure?measure=navigation-success-measures&periodStart=2026-11-16&periodEnd=2026-11-23&subject=Organization/demo-surgery"
	r := g.as(nav, "GET", q, "")
	require.Equal(t, 200, r.status, "%s", r.body)
	report := msReport(t, r)
	assert.Equal(t, "complete", report["status"])
	assert.Equal(t, "summary", report["type"])
	groups := msGroups(report)
	check := func(id string, num, den int) {
		t.Helper()
		grp := groups[id]
		require.NotNil(t, grp, id)
		pops := msPops(grp)
		assert.Equal(t, den, pops["denominator"], "%s denominator", id)
		assert.Equal(t, num, pops["numerator"], "%s numerator", id)
		assert.Equal(t, e.requests, pops["initial-population"], "%s initial population", id)
		if den > 0 {
			ms, _ := grp["measureScore"].(map[string]any)
			require.NotNil(t, ms, "%s measureScore", id)
			got, _ := ms["value"].(json.Number).Float64()
			assert.InDelta(t, float64(num)/float64(den), got, 1e-9, id)
		} else {
			assert.Nil(t, grp["measureScore"], id)
		}
	}
	check("navigation-requests-navigated", e.navigated, e.requests)
	check("navigation-pharmacy-first", e.pf, e.navigated)
	check("navigation-pharmacy-first-declined", e.pfDeclined, e.pf+e.pfDeclined)
	check("navigation-social-prescribing", e.social, e.navigated)
	check("navigation-wider-team", e.wider, e.navigated)
	check("navigation-reattendance", e.reattend, e.requests)
	check("navigation-urgent-same-day", e.urgentSameDay, e.urgent)
	require.Greater(t, len(byStrat["need-group"]), 2, "several need groups were seeded: %v", byStrat["need-group"])
	require.Greater(t, len(byStrat["age-band"]), 2, "several age bands were seeded: %v", byStrat["age-band"])
	require.Equal(t, 2, contNeeded, "two requests need continuity")
	require.Equal(t, 1, contMissed, "one of them did not get it")
	check("navigation-continuity-missed", contMissed, contNeeded)
	// Age band, sex and need group: initial populations and navigated
	// numerators of every stratum.
	for _, name := range []string{"age-band", "sex", "need-group"} {
		assert.Equal(t, byStrat[name], msStrata(groups["navigation-demand"])[name], "demand by %s", name)
		assert.Equal(t, navByStrat[name], msNumerators(groups["navigation-requests-navigated"], name), "navigated by %s", name)
	}
	assert.Equal(t, contMissedByNeed, msNumerators(groups["navigation-continuity-missed"], "need-group"), "continuity missed by need group")
	demand := groups["navigation-demand"]
	require.NotNil(t, demand)
	assert.Equal(t, e.requests, msPops(demand)["initial-population"])
	strata := msStrata(demand)
	assert.Equal(t, byRoute, strata["contact-route"])
	assert.Equal(t, byDay, strata["weekday"])
	assert.Equal(t, byHour, strata["hour"])
	assert.Equal(t, byDayHour, strata["weekday-hour"])
	// Navigated by route: the numerators of the route strata.
	navStrata := map[string]int{}
	for _, s := range listAny(listAny(groups["navigation-requests-navigated"]["stratifier"])[0].(map[string]any)["stratum"]) {
		sm := s.(map[string]any)
		for _, p := range listAny(sm["population"]) {
			pm := p.(map[string]any)
			if msCode(pm["code"]) == "numerator" {
				n, _ := pm["count"].(json.Number).Int64()
				if n > 0 {
					navStrata[sm["value"].(map[string]any)["text"].(string)] = int(n)
				}
			}
		}
	}
	assert.Equal(t, navByRoute, navStrata)

	// Allocations by category, and by category per week; the week and
	// month trend strata; the time from contact to allocation. Counted
	// here by walking the calendar and sorting, not with the gateway's
	// code.
	mondayOf := func(at time.Time) string {
		d := time.Date(at.Year(), at.Month(), at.Day(), 12, 0, 0, 0, mapping.London)
		for d.Weekday() != time.Monday {
			d = d.Add(-24 * time.Hour)
		}
		return d.Format("2006-01-02")
	}
	byCat, byCatWeek, byWeek := map[string]int{}, map[string]int{}, map[string]int{}
	var waits []float64
	for _, sd := range seeds {
		if sd.authored.Before(start) || !sd.authored.Before(end) {
			continue
		}
		byWeek[mondayOf(sd.authored)]++
		if !sd.navigate || sd.status == "revoked" {
			continue
		}
		byCat[sd.category]++
		byCatWeek[mondayOf(sd.authored)+" "+sd.category]++
		// Every allocation of this gateway is made at nvNow.
		waits = append(waits, nvNow.Sub(sd.authored).Minutes())
	}
	require.Len(t, byWeek, 2, "the period spans two weeks: %v", byWeek)
	assert.Equal(t, byWeek, strata["week"], "requests by week")
	assert.Equal(t, map[string]int{"2026-11": e.requests}, strata["month"], "requests by month")
	allocs := groups["navigation-allocations"]
	require.NotNil(t, allocs)
	assert.Equal(t, e.navigated, msPops(allocs)["initial-population"], "current allocations")
	assert.Equal(t, byCat, msStrata(allocs)["category"], "allocations by category")
	assert.Equal(t, byCatWeek, msStrata(allocs)["category-week"], "allocations by category and week")
	sort.Float64s(waits)
	median := waits[len(waits)/2]
	if len(waits)%2 == 0 {
		median = (waits[len(waits)/2-1] + waits[len(waits)/2]) / 2
	}
	tta := groups["navigation-time-to-allocation"]
	require.NotNil(t, tta)
	assert.Equal(t, e.requests, msPops(tta)["initial-population"])
	assert.Equal(t, e.navigated, msPops(tta)["measure-population"])
	ms, _ := tta["measureScore"].(map[string]any)
	require.NotNil(t, ms, "time to allocation has a score")
	assert.Equal(t, "min", ms["code"])
	got, _ := ms["value"].(json.Number).Float64()
	assert.InDelta(t, median, got, 0.05, "median minutes from contact to allocation")

	// One measure by canonical URL, with POST Parameters and a Group of
	// practices as the subject: the same figures.
	grp := g.created(t, nvAdmin("Y99999"), "Group", map[string]any{"resourceType": "Group", "type": "practitioner", "actual": true,
		"member": []any{map[string]any{"entity": map[string]any{"reference": "Organization/demo-surgery"}}}})
	body := mustJSON(t, map[string]any{"resourceType": "Parameters", "parameter": []any{
		map[string]any{"name": "measure", "valueString": nvBase + "/Measure/navigation-wider-team"},
		map[string]any{"name": "periodStart", "valueDate": "2026-11-16"},
		map[string]any{"name": "periodEnd", "valueDate": "2026-11-23"},
		map[string]any{"name": "subject", "valueString": "Group/" + grp},
	}})
	r = g.as(nav, "POST", "/Measure/$evaluate-measure", body)
	require.Equal(t, 200, r.status, "%s", r.body)
	one := msGroups(msReport(t, r))
	require.Len(t, one, 1)
	assert.Equal(t, e.wider, msPops(one["navigation-wider-team"])["numerator"])
	// Instance level.
	r = g.as(nav, "GET", "/Measure/navigation-reattendance/$evaluate-measure?periodStart=2026-11-16&periodEnd=2026-11-23&subject=Organization/demo-surgery", "")
	require.Equal(t, 200, r.status, "%s", r.body)
	assert.Equal(t, e.reattend, msPops(msGroups(msReport(t, r))["navigation-reattendance"])["numerator"])

	// The Measures are resources.
	r = g.as(nav, "GET", "/Measure/navigation-demand", "")
	assert.Equal(t, 200, r.status, "%s", r.body)

	// The CapabilityStatement lists the operation once for Measure.
	r = g.as(nav, "GET", "/metadata", "")
	require.Equal(t, 200, r.status)
	listed := 0
	for _, rest := range listAny(r.json(t)["rest"]) {
		for _, res := range listAny(rest.(map[string]any)["resource"]) {
			rm := res.(map[string]any)
			for _, op := range listAny(rm["operation"]) {
				if rm["type"] == "Measure" && op.(map[string]any)["name"] == "evaluate-measure" {
					listed++
				}
			}
		}
	}
	assert.Equal(t, 1, listed)

	// The dashboard page and its assets, embedded.
	r = g.do("GET", g.srv.URL+"/dashboard", "")
	require.Equal(t, 200, r.status, "%s", r.body)
	assert.Contains(t, r.header.Get("Content-Type"), "text/html")
	assert.Contains(t, r.header.Get("Content-Security-Policy"), "script-src 'self'")
	for _, id := range []string{"subject", "periodStart", "periodEnd", "token"} {
		assert.Contains(t, string(r.body), `<label for="`+id+`">`, "every filter has a label")
	}
	r = g.do("GET", g.srv.URL+"/dashboard/app.js", "")
	require.Equal(t, 200, r.status)
	assert.Contains(t, string(r.body), "$evaluate-measure")
	r = g.do("GET", g.srv.URL+"/dashboard/style.css", "")
	require.Equal(t, 200, r.status)
	assert.Contains(t, r.header.Get("Content-Type"), "text/css")

	// Tenancy: another practice's navigator gets nothing of Y99999.
	r = g.as(other, "GET", q, "")
	assert.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
	// Missing and bad parameters.
	r = g.as(nav, "GET", "/Measure/$evaluate-measure?periodStart=2026-11-16&periodEnd=2026-11-23", "")
	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	r = g.as(nav, "GET", "/Measure/$evaluate-measure?measure=navigation-demand&periodStart=soon&periodEnd=2026-11-23", "")
	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	r = g.as(nav, "GET", "/Measure/$evaluate-measure?measure=navigation-demand&periodStart=2026-11-16&periodEnd=2026-11-23&subject=Patient/x", "")
	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	// A publisher (no patient data) may not evaluate.
	pub := map[string]any{"scope": "system/*.cruds", "role": "publisher", "publisher": "Y99999", "sub": "pub", "client_id": "test-app"}
	r = g.as(pub, "GET", q, "")
	assert.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
}

// msNumerators are the non-zero numerators of a stratifier's strata.
func msNumerators(grp map[string]any, stratifier string) map[string]int {
	out := map[string]int{}
	for _, st := range listAny(grp["stratifier"]) {
		stm := st.(map[string]any)
		if listAny(stm["code"])[0].(map[string]any)["text"] != stratifier {
			continue
		}
		for _, s := range listAny(stm["stratum"]) {
			sm := s.(map[string]any)
			for _, p := range listAny(sm["population"]) {
				pm := p.(map[string]any)
				if msCode(pm["code"]) == "numerator" {
					if n, _ := pm["count"].(json.Number).Int64(); n > 0 {
						out[sm["value"].(map[string]any)["text"].(string)] = int(n)
					}
				}
			}
		}
	}
	return out
}

func msSameProblem(a, b string) bool {
	norm := func(s string) string {
		out := []rune{}
		for _, r := range s {
			if r >= 'A' && r <= 'Z' {
				r += 'a' - 'A'
			}
			out = append(out, r)
		}
		return string(out)
	}
	return norm(a) == norm(b)
}

func msCode(cc any) string {
	m, _ := cc.(map[string]any)
	for _, c := range listAny(m["coding"]) {
		s, _ := c.(map[string]any)["code"].(string)
		return s
	}
	return ""
}

// msReport decodes a MeasureReport and checks it is valid R4, strictly.
func msReport(t *testing.T, r reply) map[string]any {
	t.Helper()
	obj := r.json(t)
	require.Equal(t, "MeasureReport", obj["resourceType"])
	res, err := fhir.ResourceFromObject(obj)
	require.NoError(t, err)
	for _, is := range fhir.Validate(res, fhir.ValidateOptions{Strict: true}) {
		assert.NotEqual(t, fhir.SeverityError, is.Severity, "R4: %v", is)
	}
	return obj
}

func msGroups(report map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, g := range listAny(report["group"]) {
		gm := g.(map[string]any)
		out[msCode(gm["code"])] = gm
	}
	return out
}

func msPops(grp map[string]any) map[string]int {
	out := map[string]int{}
	for _, p := range listAny(grp["population"]) {
		pm := p.(map[string]any)
		n, _ := pm["count"].(json.Number).Int64()
		out[msCode(pm["code"])] = int(n)
	}
	return out
}

// msStrata are the initial-population counts of a group's strata by
// stratifier.
func msStrata(grp map[string]any) map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, s := range listAny(grp["stratifier"]) {
		sm := s.(map[string]any)
		name := listAny(sm["code"])[0].(map[string]any)["text"].(string)
		out[name] = map[string]int{}
		for _, st := range listAny(sm["stratum"]) {
			stm := st.(map[string]any)
			out[name][stm["value"].(map[string]any)["text"].(string)] = msPops(stm)["initial-population"]
		}
	}
	return out
}
