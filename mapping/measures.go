package mapping

import (
	"math"
	"sort"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/snomed"
)

// Success measures (NAVIGATION-API.md, "Success measures"): the pure
// counting over stored navigation Tasks and their allocation
// ServiceRequests. The gateway searches what a period and a set of
// practices need and hands the decoded resources here; nothing here does
// I/O.

// SNOMED CT codes of the allocation ServiceRequest.code the measures
// recognise (the allocation ConceptMap, snomed/definitions.go).
const (
	PharmacyFirstReferralCode     = "2140231000000104" // Referral to Community Pharmacy Pharmacy First Service
	SocialPrescribingReferralCode = "871731000000106"  // Referral to social prescribing service
)

// ReattendanceWindow is how close a second contact about the same problem
// must follow the first to count as a reattendance.
const ReattendanceWindow = 14 * 24 * time.Hour

// MeasureInput is what the measures are counted from.
type MeasureInput struct {
	// Names gives the code systems (the server's canonical base).
	Names NavigationNames
	// Start and End bound the period (End exclusive): a Task counts when
	// authored in it. Tasks authored before Start are read for
	// reattendance only.
	Start, End time.Time
	// Practices, when not empty, keeps Tasks owned by these ODS codes.
	Practices []string
	// Tasks are navigation Tasks (decoded JSON), ServiceRequests the
	// allocations (current versions, any status).
	Tasks           []map[string]any
	ServiceRequests []map[string]any
	// Location is the time zone of weekday and hour (Europe/London when
	// nil).
	Location *time.Location
	// Patients are the patients of the Tasks (decoded Patient
	// resources), for the age band and sex stratifiers; a Task's patient
	// is found by its for.reference ("Patient/[id]") or NHS number.
	Patients []map[string]any
}

// Stratifiers of every measure besides contact route.
const (
	StratAgeBand   = "age-band"
	StratSex       = "sex"
	StratNeedGroup = "need-group"
	// StratWeek is the week of the request: the date of its Monday
	// ("2025-01-06"); StratMonth its calendar month ("2025-01"). Both in
	// the report's time zone: the trend of every measure.
	StratWeek  = "week"
	StratMonth = "month"
	// StratCategory is the navigation-category of the current allocation
	// ("none" for requests without one); StratCategoryWeek and
	// StratCategoryMonth pair it with the week or month ("2025-01-06
	// clinician"): allocations by category over time.
	StratCategory      = "category"
	StratCategoryWeek  = "category-week"
	StratCategoryMonth = "category-month"
)

// Strata are the stratifiers CountMeasures fills, in report order.
var Strata = []string{StratAgeBand, StratSex, StratNeedGroup, StratWeek, StratMonth, StratCategory, StratCategoryWeek, StratCategoryMonth}

// AgeBand is the age band of an age in whole years: 0-4, 5-15, 16-24,
// 25-44, 45-64, 65-74, 75-84, 85+.
func AgeBand(age int) string {
	for _, b := range []struct {
		max  int
		name string
	}{{4, "0-4"}, {15, "5-15"}, {24, "16-24"}, {44, "25-44"}, {64, "45-64"}, {74, "65-74"}, {84, "75-84"}} {
		if age <= b.max {
			return b.name
		}
	}
	return "85+"
}

// MeasureCounts are the figures of the measures, over the requests (Tasks
// authored in the period) and by contact route.
type MeasureCounts struct {
	MeasureTally
	// Routes are the figures of each contact route's requests.
	Routes map[string]*MeasureTally
	// Strata are the figures by StratAgeBand (age at the request;
	// "unknown" without a birth date), StratSex (administrative gender,
	// "unknown" when absent) and StratNeedGroup (the need-group code the
	// allocation's supportingInfo records, "unknown" when none):
	// stratifier -> value -> tally.
	Strata map[string]map[string]*MeasureTally

	ByRoute   map[string]int // requests by contact-route code ("unknown" when absent)
	ByWeekday map[string]int // "Monday"...
	ByHour    map[int]int    // 0..23
	// ByDayHour is the demand heatmap: weekday name -> hour -> requests.
	ByDayHour map[string]map[int]int
	// ByCategory are current allocations by navigation-category.
	ByCategory map[string]int
}

// MeasureTally are the counts of the proportion measures.
type MeasureTally struct {
	Requests  int
	Navigated int // Requests with a current allocation

	// Allocations are the current (not revoked) allocations of the
	// requests; WiderTeam those categorised practice-team.
	Allocations int
	WiderTeam   int
	// PharmacyFirst and SocialPrescribing are current allocations whose
	// code is the referral.
	PharmacyFirst     int
	SocialPrescribing int
	// PharmacyFirstDeclined are Pharmacy First allocations the patient
	// declined (revoked on a declined re-navigation).
	PharmacyFirstDeclined int

	// Urgent are requests decided emergency or same-day, UrgentSameDay
	// those whose allocation was made on the day (Location) of the
	// request.
	Urgent, UrgentSameDay int

	// Reattendances are requests with an earlier request of the same
	// patient about the same problem within ReattendanceWindow.
	Reattendances int

	// ContinuityNeeded are requests with a current allocation whose
	// decision applied safety rule 3 (complex needs: continuity
	// prioritised; a rule output "safety-3-complex-needs: ...");
	// ContinuityMissed those whose allocation does not give continuity:
	// not categorised clinician or practice-team, or without the
	// "Continuity of care" requirement in its orderDetail.
	ContinuityNeeded, ContinuityMissed int

	// Waits are the seconds from contact (Task.authoredOn) to allocation
	// (the current allocation's authoredOn) of the Navigated requests, in
	// no particular order: time from contact to allocation.
	Waits []int64
}

// MedianWaitMinutes is the median of Waits in minutes, rounded to a
// tenth; ok is false without any.
func (t MeasureTally) MedianWaitMinutes() (float64, bool) {
	n := len(t.Waits)
	if n == 0 {
		return 0, false
	}
	w := append([]int64(nil), t.Waits...)
	sort.Slice(w, func(i, j int) bool { return w[i] < w[j] })
	var sec float64
	if n%2 == 1 {
		sec = float64(w[n/2])
	} else {
		sec = float64(w[n/2-1]+w[n/2]) / 2
	}
	return math.Round(sec/6) / 10, true
}

func (t *MeasureTally) add(d MeasureTally) {
	t.Requests += d.Requests
	t.Navigated += d.Navigated
	t.Allocations += d.Allocations
	t.WiderTeam += d.WiderTeam
	t.PharmacyFirst += d.PharmacyFirst
	t.SocialPrescribing += d.SocialPrescribing
	t.PharmacyFirstDeclined += d.PharmacyFirstDeclined
	t.Urgent += d.Urgent
	t.UrgentSameDay += d.UrgentSameDay
	t.Reattendances += d.Reattendances
	t.ContinuityNeeded += d.ContinuityNeeded
	t.ContinuityMissed += d.ContinuityMissed
	t.Waits = append(t.Waits, d.Waits...)
}

type measureTask struct {
	id, practice, route, patient, problem, urgency string
	authored                                       time.Time
	allocation                                     string
	patientRef, nhs                                string
	continuity                                     bool
}

// CountMeasures counts the measures of in.
func CountMeasures(in MeasureInput) MeasureCounts {
	loc := in.Location
	if loc == nil {
		loc = London
	}
	c := MeasureCounts{ByRoute: map[string]int{}, ByWeekday: map[string]int{}, ByHour: map[int]int{},
		ByDayHour: map[string]map[int]int{}, ByCategory: map[string]int{}, Routes: map[string]*MeasureTally{},
		Strata: map[string]map[string]*MeasureTally{}}
	for _, name := range Strata {
		c.Strata[name] = map[string]*MeasureTally{}
	}
	type patientFacts struct {
		birth time.Time
		sex   string
	}
	byRef, byNHS := map[string]patientFacts{}, map[string]patientFacts{}
	for _, p := range in.Patients {
		var f patientFacts
		if b, _ := p["birthDate"].(string); len(b) == 10 {
			f.birth, _ = time.ParseInLocation("2006-01-02", b, London)
		}
		f.sex, _ = p["gender"].(string)
		if id, _ := p["id"].(string); id != "" {
			byRef["Patient/"+id] = f
		}
		for _, e := range jlist(p["identifier"]) {
			m, _ := e.(map[string]any)
			if sys, _ := m["system"].(string); sys == NHSNumberSystem {
				if v, _ := m["value"].(string); v != "" {
					byNHS[v] = f
				}
			}
		}
	}
	keep := map[string]bool{}
	for _, p := range in.Practices {
		keep[strings.ToUpper(p)] = true
	}
	taskSys := in.Names.System(snomed.NavigationTask)
	inputSys := in.Names.System(snomed.NavigationInput)
	outputSys := in.Names.System(snomed.NavigationOutput)
	urgencySys := in.Names.System(snomed.NavigationUrgency)
	catSys := in.Names.System(snomed.NavigationCategory)

	var all []measureTask
	for _, t := range in.Tasks {
		if measureCode(t["code"], taskSys) != "navigate" {
			continue
		}
		if s, _ := t["status"].(string); s == "entered-in-error" {
			continue
		}
		mt := measureTask{}
		mt.id, _ = t["id"].(string)
		if o, _ := t["owner"].(map[string]any); o != nil {
			if id, _ := o["identifier"].(map[string]any); id != nil {
				v, _ := id["value"].(string)
				mt.practice = strings.ToUpper(v)
			}
		}
		if len(keep) > 0 && !keep[mt.practice] {
			continue
		}
		a, _ := t["authoredOn"].(string)
		at, err := time.Parse(time.RFC3339, a)
		if err != nil {
			continue
		}
		mt.authored = at
		if f, _ := t["for"].(map[string]any); f != nil {
			if id, _ := f["identifier"].(map[string]any); id != nil {
				v, _ := id["value"].(string)
				if v != "" {
					mt.patient = "nhs:" + v
					mt.nhs = v
				}
			}
			mt.patientRef, _ = f["reference"].(string)
			if mt.patient == "" {
				r, _ := f["reference"].(string)
				if r != "" {
					mt.patient = "ref:" + r
				}
			}
		}
		for _, e := range jlist(t["input"]) {
			m, _ := e.(map[string]any)
			switch measureCode(m["type"], inputSys) {
			case "contact-route":
				mt.route, _ = m["valueCode"].(string)
			case "problem":
				p, _ := m["valueString"].(string)
				mt.problem = strings.Join(strings.Fields(strings.ToLower(p)), " ")
			}
		}
		for _, e := range jlist(t["output"]) {
			m, _ := e.(map[string]any)
			switch measureCode(m["type"], outputSys) {
			case "allocation":
				if r, _ := m["valueReference"].(map[string]any); r != nil {
					mt.allocation, _ = r["reference"].(string)
				}
			case "urgency":
				mt.urgency = measureCode(m["valueCodeableConcept"], urgencySys)
			case "rule":
				if v, _ := m["valueString"].(string); strings.HasPrefix(v, RuleComplexNeeds+":") {
					mt.continuity = true
				}
			}
		}
		all = append(all, mt)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].authored.Before(all[j].authored) })

	srs := map[string]map[string]any{}
	for _, sr := range in.ServiceRequests {
		id, _ := sr["id"].(string)
		srs["ServiceRequest/"+id] = sr
	}

	// The latest earlier request per practice, patient and problem: the
	// closest one decides whether a request is a reattendance.
	type problemKey struct{ practice, patient, problem string }
	latest := map[problemKey]time.Time{}
	for _, t := range all {
		reattended := false
		if t.patient != "" && t.problem != "" {
			k := problemKey{t.practice, t.patient, t.problem}
			if prev, ok := latest[k]; ok && t.authored.Sub(prev) <= ReattendanceWindow {
				reattended = true
			}
			latest[k] = t.authored
		}
		if t.authored.Before(in.Start) || !t.authored.Before(in.End) {
			continue
		}
		route := t.route
		if route == "" {
			route = "unknown"
		}
		age, sex, need := "unknown", "unknown", "unknown"
		f, ok := byRef[t.patientRef]
		if !ok {
			f, ok = byNHS[t.nhs]
		}
		if ok {
			if !f.birth.IsZero() {
				if a, known := (Patient{BirthDate: f.birth}).AgeAt(t.authored); known && a >= 0 {
					age = AgeBand(a)
				}
			}
			if f.sex != "" {
				sex = f.sex
			}
		}
		if sr := srs[t.allocation]; sr != nil {
			need = measureNeedGroup(sr)
		}
		var d MeasureTally
		lt := t.authored.In(loc)
		cat := func() string {
			d.Requests++
			c.ByRoute[route]++
			day := lt.Weekday().String()
			c.ByWeekday[day]++
			c.ByHour[lt.Hour()]++
			if c.ByDayHour[day] == nil {
				c.ByDayHour[day] = map[int]int{}
			}
			c.ByDayHour[day][lt.Hour()]++
			if reattended {
				d.Reattendances++
			}
			sr := srs[t.allocation]
			if sr == nil {
				return "none"
			}
			// Declined Pharmacy First: an allocation this one replaced (the
			// replaces chain), revoked because the patient declined it.
			seen := map[string]bool{t.allocation: true}
			for prev := sr; ; {
				var next string
				for _, r := range jlist(prev["replaces"]) {
					rm, _ := r.(map[string]any)
					next, _ = rm["reference"].(string)
				}
				old := srs[next]
				if old == nil || seen[next] {
					break
				}
				seen[next] = true
				if declinedPharmacyFirst(old) {
					d.PharmacyFirstDeclined++
				}
				prev = old
			}
			status, _ := sr["status"].(string)
			if status == "revoked" || status == "entered-in-error" {
				return "none"
			}
			d.Navigated++
			d.Allocations++
			var cat string
			for _, cc := range jlist(sr["category"]) {
				if v := measureCode(cc, catSys); v != "" {
					cat = v
				}
			}
			c.ByCategory[cat]++
			if a, _ := sr["authoredOn"].(string); a != "" {
				if st, err := time.Parse(time.RFC3339, a); err == nil {
					d.Waits = append(d.Waits, max(0, int64(st.Sub(t.authored)/time.Second)))
				}
			}
			if cat == string(CategoryPracticeTeam) {
				d.WiderTeam++
			}
			if t.continuity {
				d.ContinuityNeeded++
				if (cat != string(CategoryClinician) && cat != string(CategoryPracticeTeam)) || !continuityRequired(sr) {
					d.ContinuityMissed++
				}
			}
			switch measureCode(sr["code"], snomed.System) {
			case PharmacyFirstReferralCode:
				d.PharmacyFirst++
			case SocialPrescribingReferralCode:
				d.SocialPrescribing++
			}
			if t.urgency == "emergency" || t.urgency == "same-day" {
				d.Urgent++
				a, _ := sr["authoredOn"].(string)
				if st, err := time.Parse(time.RFC3339, a); err == nil {
					y1, m1, d1 := st.In(loc).Date()
					y2, m2, d2 := lt.Date()
					if y1 == y2 && m1 == m2 && d1 == d2 {
						d.UrgentSameDay++
					}
				}
			}
			if cat == "" {
				return "unknown"
			}
			return cat
		}()
		c.MeasureTally.add(d)
		if c.Routes[route] == nil {
			c.Routes[route] = &MeasureTally{}
		}
		c.Routes[route].add(d)
		week := lt.AddDate(0, 0, -((int(lt.Weekday()) + 6) % 7)).Format("2006-01-02")
		month := lt.Format("2006-01")
		for k, v := range map[string]string{StratAgeBand: age, StratSex: sex, StratNeedGroup: need,
			StratWeek: week, StratMonth: month,
			StratCategory: cat, StratCategoryWeek: week + " " + cat, StratCategoryMonth: month + " " + cat} {
			if c.Strata[k][v] == nil {
				c.Strata[k][v] = &MeasureTally{}
			}
			c.Strata[k][v].add(d)
		}
	}
	return c
}

// measureNeedGroup is the need-group code an allocation's supportingInfo
// records ("Patient need group 5 (...)", mapping/decision.go), or
// "unknown".
func measureNeedGroup(sr map[string]any) string {
	for _, e := range jlist(sr["supportingInfo"]) {
		m, _ := e.(map[string]any)
		s, _ := m["display"].(string)
		rest, ok := strings.CutPrefix(s, "Patient need group ")
		if !ok {
			continue
		}
		code, _, _ := strings.Cut(rest, " ")
		if code == "" || code == "unknown" {
			return "unknown"
		}
		return code
	}
	return "unknown"
}

// continuityRequired reports whether an allocation carries the continuity
// requirement (orderDetail "Continuity of care: ...", mapping/allocate.go).
func continuityRequired(sr map[string]any) bool {
	for _, e := range jlist(sr["orderDetail"]) {
		m, _ := e.(map[string]any)
		if s, _ := m["text"].(string); strings.HasPrefix(s, "Continuity of care") {
			return true
		}
	}
	return false
}

// declinedPharmacyFirst reports whether an allocation is a Pharmacy First
// referral revoked because the patient declined it (mapping/decision.go
// writes the revocation note).
func declinedPharmacyFirst(sr map[string]any) bool {
	if s, _ := sr["status"].(string); s != "revoked" {
		return false
	}
	if measureCode(sr["code"], snomed.System) != PharmacyFirstReferralCode {
		return false
	}
	for _, n := range jlist(sr["note"]) {
		nm, _ := n.(map[string]any)
		if s, _ := nm["text"].(string); strings.Contains(s, "declined by the patient") {
			return true
		}
	}
	return false
}

// measureCode is the code of the first coding of system in a
// CodeableConcept held as JSON, or "" (codeOf without its allocations: the
// measures read it hundreds of thousands of times).
func measureCode(cc any, system string) string {
	m, _ := cc.(map[string]any)
	list, _ := m["coding"].([]any)
	for _, e := range list {
		c, _ := e.(map[string]any)
		if sys, _ := c["system"].(string); sys == system {
			code, _ := c["code"].(string)
			return code
		}
	}
	return ""
}
