package mapping

import (
	"math"
	"sort"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
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

// MeasureFacts are what CountMeasureFacts counts: the facts of the
// navigation Tasks, allocations and Patients (see TaskFactOf).
type MeasureFacts struct {
	// Start, End, Practices and Location as in MeasureInput.
	Start, End time.Time
	Practices  []string
	Location   *time.Location
	// Tasks authored before Start are read for reattendance only.
	Tasks       []TaskFact
	Allocations []AllocationFact
	Patients    []PatientFact
}

// CountMeasures counts the measures of in: the facts of its resources,
// counted by CountMeasureFacts.
func CountMeasures(in MeasureInput) MeasureCounts {
	f := MeasureFacts{Start: in.Start, End: in.End, Practices: in.Practices, Location: in.Location}
	for _, t := range in.Tasks {
		if tf, ok := TaskFactOf(in.Names, t); ok {
			f.Tasks = append(f.Tasks, tf)
		}
	}
	for _, sr := range in.ServiceRequests {
		if af, ok := AllocationFactOf(in.Names, sr); ok {
			f.Allocations = append(f.Allocations, af)
		}
	}
	for _, p := range in.Patients {
		f.Patients = append(f.Patients, PatientFactOf(p))
	}
	return CountMeasureFacts(f)
}

// CountMeasureFacts counts the measures of in.
func CountMeasureFacts(in MeasureFacts) MeasureCounts {
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
	byRef, byNHS := map[string]PatientFact{}, map[string]PatientFact{}
	for _, p := range in.Patients {
		if p.ID != "" {
			byRef["Patient/"+p.ID] = p
		}
		for _, v := range p.NHS {
			byNHS[v] = p
		}
	}
	keep := map[string]bool{}
	for _, p := range in.Practices {
		keep[strings.ToUpper(p)] = true
	}
	all := make([]TaskFact, 0, len(in.Tasks))
	for _, t := range in.Tasks {
		if t.Status == "entered-in-error" || (len(keep) > 0 && !keep[t.Practice]) {
			continue
		}
		all = append(all, t)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Authored.Before(all[j].Authored) })

	srs := make(map[string]*AllocationFact, len(in.Allocations))
	for i := range in.Allocations {
		srs["ServiceRequest/"+in.Allocations[i].ID] = &in.Allocations[i]
	}

	// The latest earlier request per practice, patient and problem: the
	// closest one decides whether a request is a reattendance.
	type problemKey struct{ practice, patient, problem string }
	latest := map[problemKey]time.Time{}
	for _, t := range all {
		reattended := false
		if t.Patient != "" && t.Problem != "" {
			k := problemKey{t.Practice, t.Patient, t.Problem}
			if prev, ok := latest[k]; ok && t.Authored.Sub(prev) <= ReattendanceWindow {
				reattended = true
			}
			latest[k] = t.Authored
		}
		if t.Authored.Before(in.Start) || !t.Authored.Before(in.End) {
			continue
		}
		route := t.Route
		if route == "" {
			route = "unknown"
		}
		age, sex, need := "unknown", "unknown", "unknown"
		f, ok := byRef[t.PatientRef]
		if !ok && t.NHS != "" {
			f, ok = byNHS[t.NHS]
		}
		if ok {
			if !f.Birth.IsZero() {
				if a, known := (Patient{BirthDate: f.Birth}).AgeAt(t.Authored); known && a >= 0 {
					age = AgeBand(a)
				}
			}
			if f.Sex != "" {
				sex = f.Sex
			}
		}
		if sr := srs[t.Allocation]; sr != nil {
			need = sr.NeedGroup
		}
		var d MeasureTally
		lt := t.Authored.In(loc)
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
			sr := srs[t.Allocation]
			if sr == nil {
				return "none"
			}
			// Declined Pharmacy First: an allocation this one replaced (the
			// replaces chain), revoked because the patient declined it.
			seen := map[string]bool{t.Allocation: true}
			for prev := sr; ; {
				next := prev.Replaces
				old := srs[next]
				if old == nil || seen[next] {
					break
				}
				seen[next] = true
				if old.DeclinedPharmacyFirst {
					d.PharmacyFirstDeclined++
				}
				prev = old
			}
			if sr.Status == "revoked" || sr.Status == "entered-in-error" {
				return "none"
			}
			d.Navigated++
			d.Allocations++
			cat := sr.Category
			c.ByCategory[cat]++
			if !sr.Authored.IsZero() {
				d.Waits = append(d.Waits, max(0, int64(sr.Authored.Sub(t.Authored)/time.Second)))
			}
			if cat == string(CategoryPracticeTeam) {
				d.WiderTeam++
			}
			if t.Continuity {
				d.ContinuityNeeded++
				if (cat != string(CategoryClinician) && cat != string(CategoryPracticeTeam)) || !sr.ContinuityRequired {
					d.ContinuityMissed++
				}
			}
			switch sr.Code {
			case PharmacyFirstReferralCode:
				d.PharmacyFirst++
			case SocialPrescribingReferralCode:
				d.SocialPrescribing++
			}
			if t.Urgency == "emergency" || t.Urgency == "same-day" {
				d.Urgent++
				if !sr.Authored.IsZero() {
					y1, m1, d1 := sr.Authored.In(loc).Date()
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
// (its References) records ("Patient need group 5 (...)",
// mapping/decision.go), or "unknown".
func measureNeedGroup(supportingInfo []any) string {
	for _, e := range supportingInfo {
		s := viewReference(e).Display
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

// continuityRequired reports whether an allocation's orderDetail (its
// CodeableConcepts) carries the continuity requirement ("Continuity of
// care: ...", mapping/allocate.go).
func continuityRequired(orderDetail []any) bool {
	for _, e := range orderDetail {
		if s := fhir.Str(object(e)["text"]); strings.HasPrefix(s, "Continuity of care") {
			return true
		}
	}
	return false
}

// declinedPharmacyFirst reports whether an allocation (its status, its
// SNOMED CT code and its notes) is a Pharmacy First referral revoked
// because the patient declined it, or the service turned the patient
// away (mapping/decision.go writes the revocation note).
func declinedPharmacyFirst(status, code string, notes []any) bool {
	if status != "revoked" || code != PharmacyFirstReferralCode {
		return false
	}
	for _, n := range notes {
		if s := fhir.Str(object(n)["text"]); strings.Contains(s, "declined by the patient") || strings.Contains(s, "turned away by the service") {
			return true
		}
	}
	return false
}
