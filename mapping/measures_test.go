package mapping

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/signpost-fhir/signpost/snomed"
)

func TestCountMeasuresHandBuilt(t *testing.T) {
	n := NewNavigationNames("https://x.example/fhir")
	cc := func(sys, code string) map[string]any {
		return map[string]any{"coding": []any{map[string]any{"system": sys, "code": code}}}
	}
	task := func(id, practice, nhs, route, problem, authored, alloc, urgency string) map[string]any {
		in := []any{
			map[string]any{"type": cc(n.System(snomed.NavigationInput), "contact-route"), "valueCode": route},
			map[string]any{"type": cc(n.System(snomed.NavigationInput), "problem"), "valueString": problem},
		}
		var out []any
		if alloc != "" {
			out = append(out,
				map[string]any{"type": cc(n.System(snomed.NavigationOutput), "allocation"), "valueReference": map[string]any{"reference": "ServiceRequest/" + alloc}},
				map[string]any{"type": cc(n.System(snomed.NavigationOutput), "urgency"), "valueCodeableConcept": cc(n.System(snomed.NavigationUrgency), urgency)})
		}
		return map[string]any{"resourceType": "Task", "id": id, "status": "in-progress",
			"code":       cc(n.System(snomed.NavigationTask), "navigate"),
			"owner":      map[string]any{"identifier": map[string]any{"system": ODSSystem, "value": practice}},
			"for":        map[string]any{"identifier": map[string]any{"system": NHSNumberSystem, "value": nhs}},
			"authoredOn": authored, "input": in, "output": out}
	}
	sr := func(id, task, status, cat, code, authored string, notes ...string) map[string]any {
		var nl []any
		for _, s := range notes {
			nl = append(nl, map[string]any{"text": s})
		}
		return map[string]any{"resourceType": "ServiceRequest", "id": id, "status": status,
			"category": []any{cc(n.System(snomed.NavigationCategory), cat)}, "code": cc(snomed.System, code),
			"authoredOn": authored, "supportingInfo": []any{map[string]any{"reference": "Task/" + task}}, "note": nl}
	}
	in := MeasureInput{Names: n,
		Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		Practices: []string{"Y99999"},
		Tasks: []map[string]any{
			// Before the period: only for reattendance.
			task("t0", "Y99999", "1", "phone", "Sore throat", "2026-10-25T09:00:00Z", "", ""),
			// Monday 2 November 2026, 09:xx London (GMT).
			task("t1", "Y99999", "1", "phone", "sore  throat", "2026-11-02T09:10:00Z", "s1", "same-day"),
			task("t2", "Y99999", "2", "online", "Back pain", "2026-11-02T09:40:00Z", "s2", "routine"),
			task("t3", "Y99999", "3", "walk-in", "Lonely", "2026-11-03T14:00:00Z", "s3", "routine"),
			task("t4", "Y99999", "4", "online", "Earache", "2026-11-04T10:00:00Z", "s5", "same-day"),
			task("t5", "Y99999", "5", "phone", "Rash", "2026-11-05T10:00:00Z", "", ""),
			// Another practice, and after the period.
			task("t6", "B82002", "6", "phone", "Cough", "2026-11-05T10:00:00Z", "s6", "routine"),
			task("t7", "Y99999", "7", "phone", "Cough", "2026-12-05T10:00:00Z", "", ""),
		},
		ServiceRequests: []map[string]any{
			sr("s1", "t1", "active", "clinician", "1", "2026-11-02T09:20:00Z"),
			sr("s2", "t2", "active", "practice-team", "2", "2026-11-02T09:45:00Z"),
			sr("s3", "t3", "active", "practice-team", SocialPrescribingReferralCode, "2026-11-03T14:05:00Z"),
			sr("s4", "t4", "revoked", "external-referral", PharmacyFirstReferralCode, "2026-11-04T10:01:00Z", "Revoked: declined by the patient; replaced by ServiceRequest/s5"),
			withReplaces(sr("s5", "t4", "active", "clinician", "1", "2026-11-05T08:00:00Z"), "ServiceRequest/s4"),
			sr("s6", "t6", "active", "external-referral", PharmacyFirstReferralCode, "2026-11-05T10:01:00Z"),
		},
	}
	c := CountMeasures(in)
	assert.Equal(t, 5, c.Requests)
	assert.Equal(t, 4, c.Navigated)
	assert.Equal(t, map[string]int{"phone": 2, "online": 2, "walk-in": 1}, c.ByRoute)
	assert.Equal(t, map[string]int{"Monday": 2, "Tuesday": 1, "Wednesday": 1, "Thursday": 1}, c.ByWeekday)
	assert.Equal(t, map[int]int{9: 2, 14: 1, 10: 2}, c.ByHour)
	assert.Equal(t, 2, c.WiderTeam)
	assert.Equal(t, 1, c.SocialPrescribing)
	assert.Equal(t, 0, c.PharmacyFirst)
	assert.Equal(t, 1, c.PharmacyFirstDeclined)
	assert.Equal(t, 2, c.Urgent)
	assert.Equal(t, 1, c.UrgentSameDay, "t4's allocation came the next day")
	assert.Equal(t, 1, c.Reattendances, "t1 follows t0 within two weeks about the same problem")

	// Time from contact to allocation: t1 10 min, t2 5 min, t3 5 min, t4
	// (its current allocation s5, the next morning) 22 h = 1320 min.
	assert.ElementsMatch(t, []int64{600, 300, 300, 79200}, c.Waits)
	m, ok := c.MedianWaitMinutes()
	assert.True(t, ok)
	assert.Equal(t, 7.5, m, "the median of 5, 5, 10 and 1320 minutes")
	_, ok = MeasureTally{}.MedianWaitMinutes()
	assert.False(t, ok)

	// Trend and category strata: every request of the period falls in
	// the week of Monday 2 November and in November.
	assert.Equal(t, 5, c.Strata[StratWeek]["2026-11-02"].Requests)
	assert.Len(t, c.Strata[StratWeek], 1)
	assert.Equal(t, 5, c.Strata[StratMonth]["2026-11"].Requests)
	cats := map[string]int{}
	for v, tally := range c.Strata[StratCategory] {
		cats[v] = tally.Allocations
	}
	assert.Equal(t, map[string]int{"clinician": 2, "practice-team": 2, "none": 0}, cats)
	assert.Equal(t, 2, c.Strata[StratCategoryWeek]["2026-11-02 clinician"].Allocations)
	assert.Equal(t, 2, c.Strata[StratCategoryMonth]["2026-11 practice-team"].Allocations)
	assert.Equal(t, 1, c.Strata[StratCategoryMonth]["2026-11 none"].Requests, "t5 was not navigated")
}

func withReplaces(sr map[string]any, ref string) map[string]any {
	sr["replaces"] = []any{map[string]any{"reference": ref}}
	return sr
}

// BenchmarkCountMeasures60k is the counting alone over a year of a
// 10,000-patient practice (about 60,000 navigations), already decoded.
func BenchmarkCountMeasures60k(b *testing.B) {
	n := NewNavigationNames("https://x.example/fhir")
	cc := func(sys, code string) map[string]any {
		return map[string]any{"coding": []any{map[string]any{"system": sys, "code": code}}}
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in := MeasureInput{Names: n, Start: start, End: start.AddDate(1, 0, 0), Practices: []string{"Y99999"}}
	routes := []string{"phone", "online", "walk-in"}
	for i := range 60000 {
		id := strconv.Itoa(i)
		in.Tasks = append(in.Tasks, map[string]any{"resourceType": "Task", "id": id, "status": "in-progress",
			"code":       cc(n.System(snomed.NavigationTask), "navigate"),
			"owner":      map[string]any{"identifier": map[string]any{"system": ODSSystem, "value": "Y99999"}},
			"for":        map[string]any{"identifier": map[string]any{"system": NHSNumberSystem, "value": strconv.Itoa(i % 10000)}},
			"authoredOn": start.Add(time.Duration(i) * 525 * time.Second).Format(time.RFC3339),
			"input": []any{
				map[string]any{"type": cc(n.System(snomed.NavigationInput), "contact-route"), "valueCode": routes[i%3]},
				map[string]any{"type": cc(n.System(snomed.NavigationInput), "problem"), "valueString": "problem " + strconv.Itoa(i%37)},
			},
			"output": []any{
				map[string]any{"type": cc(n.System(snomed.NavigationOutput), "allocation"), "valueReference": map[string]any{"reference": "ServiceRequest/s" + id}},
				map[string]any{"type": cc(n.System(snomed.NavigationOutput), "urgency"), "valueCodeableConcept": cc(n.System(snomed.NavigationUrgency), "same-day")},
			}})
		in.ServiceRequests = append(in.ServiceRequests, map[string]any{"resourceType": "ServiceRequest", "id": "s" + id, "status": "active",
			"category": []any{cc(n.System(snomed.NavigationCategory), "practice-team")}, "code": cc(snomed.System, SocialPrescribingReferralCode),
			"authoredOn": start.Add(time.Duration(i)*525*time.Second + time.Minute).Format(time.RFC3339)})
	}
	b.ResetTimer()
	for b.Loop() {
		c := CountMeasures(in)
		if c.Requests != 60000 {
			b.Fatal(c.Requests)
		}
	}
}

func TestCountMeasuresStrataAndContinuity(t *testing.T) {
	n := NewNavigationNames("https://x.example/fhir")
	cc := func(sys, code string) map[string]any {
		return map[string]any{"coding": []any{map[string]any{"system": sys, "code": code}}}
	}
	task := func(id string, forRef map[string]any, authored string, complex bool) map[string]any {
		out := []any{map[string]any{"type": cc(n.System(snomed.NavigationOutput), "allocation"), "valueReference": map[string]any{"reference": "ServiceRequest/s" + id}},
			map[string]any{"type": cc(n.System(snomed.NavigationOutput), "rule"), "valueString": "safety-7-safety-netting: advice given"}}
		if complex {
			out = append(out, map[string]any{"type": cc(n.System(snomed.NavigationOutput), "rule"), "valueString": RuleComplexNeeds + ": complex needs (frailty): continuity prioritised"})
		}
		return map[string]any{"resourceType": "Task", "id": id, "status": "in-progress",
			"code":       cc(n.System(snomed.NavigationTask), "navigate"),
			"owner":      map[string]any{"identifier": map[string]any{"system": ODSSystem, "value": "Y99999"}},
			"for":        forRef,
			"authoredOn": authored, "output": out}
	}
	sr := func(id, cat, need string, continuity bool) map[string]any {
		support := []any{map[string]any{"display": "Patient need group unknown (treated as unknown, never as low)"}}
		if need != "" {
			support = []any{map[string]any{"reference": "Observation/n" + id, "display": "Patient need group " + need + " (x), from stored Observation"}}
		}
		m := map[string]any{"resourceType": "ServiceRequest", "id": "s" + id, "status": "active",
			"category": []any{cc(n.System(snomed.NavigationCategory), cat)}, "code": cc(snomed.System, "1"),
			"authoredOn": "2026-11-10T10:00:00Z", "supportingInfo": support}
		if continuity {
			m["orderDetail"] = []any{map[string]any{"text": "Continuity of care: with the patient's usual clinician or small team"}}
		}
		return m
	}
	byRef := func(id string) map[string]any { return map[string]any{"reference": "Patient/" + id} }
	byNHS := func(v string) map[string]any {
		return map[string]any{"identifier": map[string]any{"system": NHSNumberSystem, "value": v}}
	}
	in := MeasureInput{Names: n,
		Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		Tasks: []map[string]any{
			task("1", byRef("p1"), "2026-11-10T09:00:00Z", true),  // 84 on 11 November: 75-84; continuity given
			task("2", byRef("p2"), "2026-11-10T09:00:00Z", true),  // 85+; signposted away: missed
			task("3", byNHS("999"), "2026-11-10T09:00:00Z", true), // clinician without the requirement: missed
			task("4", byRef("p9"), "2026-11-10T09:00:00Z", false), // no Patient: unknown
		},
		ServiceRequests: []map[string]any{sr("1", "practice-team", "11", true), sr("2", "signpost", "10", true), sr("3", "clinician", "", false), sr("4", "clinician", "3", false)},
		Patients: []map[string]any{
			{"resourceType": "Patient", "id": "p1", "birthDate": "1941-11-11", "gender": "female"},
			{"resourceType": "Patient", "id": "p2", "birthDate": "1940-01-01", "gender": "male"},
			{"resourceType": "Patient", "id": "p3", "birthDate": "2024-05-05", "identifier": []any{map[string]any{"system": NHSNumberSystem, "value": "999"}}},
		},
	}
	c := CountMeasures(in)
	assert.Equal(t, 3, c.ContinuityNeeded)
	assert.Equal(t, 2, c.ContinuityMissed)
	counts := func(name string) map[string]int {
		out := map[string]int{}
		for k, v := range c.Strata[name] {
			out[k] = v.Requests
		}
		return out
	}
	assert.Equal(t, map[string]int{"75-84": 1, "85+": 1, "0-4": 1, "unknown": 1}, counts(StratAgeBand))
	assert.Equal(t, map[string]int{"female": 1, "male": 1, "unknown": 2}, counts(StratSex))
	assert.Equal(t, map[string]int{"11": 1, "10": 1, "3": 1, "unknown": 1}, counts(StratNeedGroup))
	assert.Equal(t, 1, c.Strata[StratNeedGroup]["10"].ContinuityMissed)
	assert.Equal(t, 0, c.Strata[StratNeedGroup]["11"].ContinuityMissed)
	for age, band := range map[int]string{0: "0-4", 4: "0-4", 5: "5-15", 15: "5-15", 16: "16-24", 25: "25-44", 45: "45-64", 65: "65-74", 75: "75-84", 85: "85+", 101: "85+"} {
		assert.Equal(t, band, AgeBand(age), "%d", age)
	}
}
