package demo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// kind is a kind of contact: what the patient asks for, in words the
// demo protocol's rules read (testdata/protocols), and how often.
type kind struct {
	weight      int
	requestType string
	adminKind   string
	problem     string
	days        float64 // duration, 0 for none
	trend       string
	// pharmacyFirst: a minor illness the protocol sends to Pharmacy
	// First, which some patients decline.
	pharmacyFirst bool
	// child: only for children under 5; adult: 16 and over.
	child, adult bool
}

var kinds = []kind{
	{weight: 7, requestType: "clinical", problem: "Sore throat for 2 days", days: 2, pharmacyFirst: true, adult: true},
	{weight: 6, requestType: "clinical", problem: "Earache for 3 days", days: 3, pharmacyFirst: true, adult: true},
	{weight: 4, requestType: "clinical", problem: "Sinus pain and a blocked nose", days: 5, pharmacyFirst: true, adult: true},
	{weight: 2, requestType: "clinical", problem: "Insect bite on my arm, red and itchy", days: 1, pharmacyFirst: true, adult: true},
	{weight: 2, requestType: "clinical", problem: "Painful cold sore on my lip", days: 2, pharmacyFirst: true, adult: true},
	{weight: 6, requestType: "clinical", problem: "Back pain for a week after gardening", days: 7, adult: true},
	{weight: 4, requestType: "clinical", problem: "Knee pain since a run last week", days: 8, adult: true},
	{weight: 5, requestType: "clinical", problem: "Low mood and stress at work", days: 21, adult: true},
	{weight: 3, requestType: "clinical", problem: "Feeling anxious all the time", days: 30, adult: true},
	{weight: 3, requestType: "clinical", problem: "I feel lonely since my partner died", adult: true},
	{weight: 2, requestType: "clinical", problem: "Housing problems are making me unwell", adult: true},
	{weight: 2, requestType: "clinical", problem: "Worried about money and my benefits stopped", adult: true},
	{weight: 4, requestType: "clinical", problem: "Need my wound dressing changed"},
	{weight: 4, requestType: "clinical", problem: "Blood pressure check due", adult: true},
	{weight: 3, requestType: "clinical", problem: "Need a blood test the hospital asked for", adult: true},
	{weight: 5, requestType: "clinical", problem: "Tummy pain getting worse", days: 2, trend: "worse"},
	{weight: 6, requestType: "clinical", problem: "Rash on my leg for a week", days: 7},
	{weight: 5, requestType: "clinical", problem: "Cough for three weeks", days: 21},
	{weight: 3, requestType: "clinical", problem: "Dizzy spells on and off", days: 10},
	{weight: 4, requestType: "clinical", problem: "My child has a temperature and a cough", days: 1, child: true},
	{weight: 1, requestType: "clinical", problem: "I have had chest pain and feel sick", days: 0.2, adult: true},
	{weight: 9, requestType: "administrative", adminKind: "repeat-prescription", problem: "Repeat of my regular tablets"},
	{weight: 3, requestType: "administrative", adminKind: "fit-note", problem: "Need a fit note extension"},
	{weight: 4, requestType: "administrative", adminKind: "test-result", problem: "Results of my blood test"},
	{weight: 2, requestType: "administrative", adminKind: "other", problem: "Copy of my hospital letter"},
}

// contact is one generated contact and what the engine made of it.
type contact struct {
	id       string // Task id
	patient  int
	at       time.Time
	route    string
	kind     *kind
	navigate bool
	// allocatedAt is when the navigation was decided; declineAt when
	// the patient declined a Pharmacy First allocation (zero: never).
	allocatedAt, declineAt time.Time
}

// Weekday demand (Monday the busiest) and hour-of-day demand of phone
// and walk-in contacts (the 8am peak), and of online requests.
var (
	dayWeight   = map[time.Weekday]float64{time.Monday: 1.55, time.Tuesday: 1.15, time.Wednesday: 1.0, time.Thursday: 1.0, time.Friday: 0.95, time.Saturday: 0.12, time.Sunday: 0.08}
	phoneHours  = []float64{8: 34, 9: 17, 10: 11, 11: 8, 12: 6, 13: 6, 14: 7, 15: 6, 16: 5, 17: 3, 18: 0}
	onlineHours = []float64{0: 0.3, 1: 0.2, 5: 0.2, 6: 1, 7: 3, 8: 7, 9: 7, 10: 6, 11: 5, 12: 5, 13: 5, 14: 4, 15: 4, 16: 4, 17: 4, 18: 4, 19: 5, 20: 5, 21: 4, 22: 2, 23: 1}
)

// contactsPerWeekday is the mean number of contacts on a Wednesday.
const contactsPerWeekday = 8.5

// day generates the contacts of one day (London midnight), from a
// generator seeded with the date, in time order.
func (g *generator) day(day time.Time) []*contact {
	y, m, d := day.Date()
	r := rand.New(rand.NewPCG(uint64(y*10000+int(m)*100+d), 7))
	weekend := day.Weekday() == time.Saturday || day.Weekday() == time.Sunday
	n := poisson(r, contactsPerWeekday*dayWeight[day.Weekday()])
	var out []*contact
	for i := 0; i < n; i++ {
		c := &contact{}
		switch x := r.IntN(100); {
		case weekend || x < 34:
			c.route = "online"
		case x < 87:
			c.route = "phone"
		default:
			c.route = "walk-in"
		}
		hours := phoneHours
		if c.route == "online" {
			hours = onlineHours
		}
		h := pick(r, hours)
		c.at = day.Add(time.Duration(h)*time.Hour + time.Duration(r.IntN(3600))*time.Second)
		out = append(out, c)
	}
	sortByTime(out)
	for i, c := range out {
		c.id = fmt.Sprintf("demo-history-%04d%02d%02d-%02d", y, m, d, i+1)
		g.choose(r, c)
		c.navigate = r.IntN(100) >= 4 // a few are never navigated
		c.allocatedAt = c.at.Add(g.delay(r, c))
		if c.navigate && c.kind.pharmacyFirst && r.IntN(100) < 22 {
			c.declineAt = c.allocatedAt.Add(time.Duration(20+r.IntN(100)) * time.Minute)
		}
		// Still in the queue: not decided yet.
		if c.allocatedAt.After(g.now) {
			c.navigate = false
		}
		if c.declineAt.After(g.now) {
			c.declineAt = time.Time{}
		}
		g.remember(c)
	}
	return out
}

// choose picks the patient and what they ask for: mostly a new problem,
// sometimes the same problem again within two weeks (a reattendance).
func (g *generator) choose(r *rand.Rand, c *contact) {
	cutoff := c.at.Add(-13 * 24 * time.Hour)
	kept := g.recent[:0]
	for _, rc := range g.recent {
		if rc.at.After(cutoff) {
			kept = append(kept, rc)
		}
	}
	g.recent = kept
	if len(g.recent) > 0 && r.IntN(100) < 5 {
		rc := g.recent[r.IntN(len(g.recent))]
		if c.at.Sub(rc.at) > 24*time.Hour {
			c.patient, c.kind = rc.patient, rc.kind
			return
		}
	}
	for {
		c.patient = r.IntN(len(g.patients))
		c.kind = pickKind(r, c.at)
		age := g.ageAt(c.patient, c.at)
		if (c.kind.child && age >= 5) || (c.kind.adult && age < 16) {
			continue
		}
		return
	}
}

// pickKind picks a kind of contact; minor illnesses for Pharmacy First
// come and go with a 16-week cycle (a function of the date alone).
func pickKind(r *rand.Rand, at time.Time) *kind {
	weeks := float64(at.Unix()) / (7 * 86400)
	boost := 1 + 0.35*math.Sin(2*math.Pi*weeks/16)
	w := make([]float64, len(kinds))
	for i, k := range kinds {
		w[i] = float64(k.weight)
		if k.pharmacyFirst {
			w[i] *= boost
		}
	}
	return &kinds[pick(r, w)]
}

func (g *generator) ageAt(i int, at time.Time) int {
	b, _ := time.ParseInLocation("2006-01-02", g.patients[i].birth, mapping.London)
	a, _ := (mapping.Patient{BirthDate: b}).AgeAt(at)
	return a
}

// delay is the time from contact to allocation: a navigator on the
// phone or at the desk decides within minutes; an online request waits
// in the queue, until the next working morning when it came in out of
// hours.
func (g *generator) delay(r *rand.Rand, c *contact) time.Duration {
	switch c.route {
	case "phone":
		return time.Duration(3*60+r.IntN(12*60)) * time.Second
	case "walk-in":
		return time.Duration(2*60+r.IntN(9*60)) * time.Second
	}
	t := c.at
	open := func(t time.Time) bool {
		wd := t.Weekday()
		return wd != time.Saturday && wd != time.Sunday && t.Hour() >= 8 && (t.Hour() < 18 || (t.Hour() == 18 && t.Minute() < 30))
	}
	if !open(t) {
		next := midnight(t)
		if t.Hour() >= 8 {
			next = next.AddDate(0, 0, 1)
		}
		for next.Weekday() == time.Saturday || next.Weekday() == time.Sunday {
			next = next.AddDate(0, 0, 1)
		}
		t = next.Add(8*time.Hour + 15*time.Minute)
	}
	return t.Sub(c.at) + time.Duration(5+r.IntN(60))*time.Minute
}

// remember adds a contact to the patient's history and, when clinical,
// to the recent ones.
func (g *generator) remember(c *contact) {
	g.earlier[c.patient] = append(g.earlier[c.patient], mapping.EarlierContact{TaskID: c.id, AuthoredOn: c.at, Problem: c.kind.problem})
	if c.kind.requestType == "clinical" {
		g.recent = append(g.recent, recentContact{patient: c.patient, at: c.at, kind: c.kind})
	}
}

func poisson(r *rand.Rand, mean float64) int {
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// pick is an index drawn with the weights w.
func pick(r *rand.Rand, w []float64) int {
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	x := r.Float64() * sum
	for i, v := range w {
		if x < v {
			return i
		}
		x -= v
	}
	for i := len(w) - 1; i >= 0; i-- {
		if w[i] > 0 {
			return i
		}
	}
	return 0
}

func sortByTime(l []*contact) {
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && l[j].at.Before(l[j-1].at); j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
}

// task is the navigation Task of a contact, as an integrator sends it.
func (g *generator) task(c *contact) map[string]any {
	p := g.patients[c.patient]
	in := func(code string, key string, v any) any {
		return map[string]any{"type": map[string]any{"coding": []any{map[string]any{"system": g.names.System(snomed.NavigationInput), "code": code}}}, key: v}
	}
	inputs := []any{
		in(mapping.InputContactRoute, "valueCode", c.route),
		in(mapping.InputRequestType, "valueCode", c.kind.requestType),
		in(mapping.InputProblem, "valueString", c.kind.problem),
		in(mapping.InputAutomatedConsent, "valueBoolean", true),
	}
	if c.kind.adminKind != "" {
		inputs = append(inputs, in(mapping.InputAdminKind, "valueCode", c.kind.adminKind))
	}
	if c.kind.days > 0 {
		inputs = append(inputs, in(mapping.InputDuration, "valueDuration", map[string]any{"value": c.kind.days, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}))
	}
	if c.kind.trend != "" {
		inputs = append(inputs, in(mapping.InputTrend, "valueCode", c.kind.trend))
	}
	display := p.given + " " + p.family
	return map[string]any{
		"resourceType": "Task", "id": c.id, "meta": g.label()(),
		"identifier": []any{map[string]any{"system": g.o.Base + "/sid/contact-id", "value": "c-" + c.id}},
		"status":     "requested", "intent": "order", "priority": "routine",
		"code":        map[string]any{"coding": []any{map[string]any{"system": g.names.System(snomed.NavigationTask), "code": "navigate", "display": "Navigate a patient contact"}}},
		"description": fmt.Sprintf("Demo %s contact: %s", c.route, c.kind.problem),
		"for": map[string]any{"type": "Patient", "reference": "Patient/" + p.id,
			"identifier": map[string]any{"system": mapping.NHSNumberSystem, "value": p.nhs}, "display": display},
		"owner":      map[string]any{"identifier": map[string]any{"system": mapping.ODSSystem, "value": Practice}, "display": "Signpost Demo Surgery"},
		"authoredOn": c.at.UTC().Format(fhir.InstantFormat),
		"input":      inputs,
	}
}

// decider is who decided: the care navigator on the phone or at the desk,
// the online consultation tool for online requests (the protocol
// decides; the tool invoked it).
func decider(c *contact) mapping.Decider {
	if c.route == "online" {
		return mapping.Decider{System: "urn:signpost:demo", Value: "online-consultation-tool", Display: "Demo online consultation tool", Type: "Device"}
	}
	return mapping.Decider{System: "urn:signpost:demo", Value: "care-navigator", Display: "Demo care navigator", Type: "Practitioner", Tier: "enhanced"}
}

// decide runs the engine on a Task at a time; prior is the allocation a
// decline replaces.
func (g *generator) decide(c *contact, task, prior map[string]any, declined *mapping.Declined, now time.Time, suffix string) (*mapping.Records, error) {
	req, issues := mapping.ParseNavigationTask(task, g.names)
	for _, is := range issues {
		if is.Severity == fhir.SeverityError || is.Severity == fhir.SeverityFatal {
			return nil, fmt.Errorf("the Task breaks the navigation contract: %s", is.Diagnostics)
		}
	}
	p := g.patients[c.patient]
	birth, _ := time.ParseInLocation("2006-01-02", p.birth, mapping.London)
	pt := mapping.Patient{BirthDate: birth, Sex: p.gender}
	need := mapping.NeedGroup{Known: true, Code: p.need, Source: "stored Observation", Date: time.Date(2026, 1, 5, 0, 0, 0, 0, mapping.London),
		Observation: "Observation/" + needObservation(p.id)}
	var earlier []mapping.EarlierContact
	for _, e := range g.earlier[c.patient] {
		if e.TaskID != c.id && e.AuthoredOn.Before(c.at) && e.AuthoredOn.After(c.at.Add(-28*24*time.Hour)) {
			earlier = append(earlier, e)
		}
	}
	a := mapping.Assess(mapping.AssessInput{Request: req, Patient: pt, Need: need, Earlier: earlier, Lists: g.lists, Now: now})
	dec := decider(c)
	d, err := g.engine.Decide(mapping.DecideInput{Assessment: a, Protocol: g.protocol, Candidates: g.cands, Decider: dec,
		AllocationMap: g.cmap, Declined: declined, Now: now})
	if err != nil {
		return nil, err
	}
	return g.engine.Records(mapping.RecordInput{Decision: d, Task: task, Prior: prior,
		AllocationID: "demo-allocation-" + c.id[len("demo-history-"):] + suffix,
		ProvenanceID: "demo-provenance-" + c.id[len("demo-history-"):] + suffix,
		ReviewID:     "demo-review-" + c.id[len("demo-history-"):] + suffix,
		Now:          now, Caller: dec, EngineIdentifierSystem: g.o.Base + "/Id/device"})
}

// store writes a contact in one transaction unless its Task is stored
// already: the Task as sent (version 1), and when navigated the Task as
// decided, the allocation, its Provenance and any review Task; a decline
// then re-navigates it (the Task marked declined, the Pharmacy First
// allocation revoked, the new allocation and its Provenance).
func (g *generator) store(ctx context.Context, c *contact) (bool, error) {
	if _, err := g.st.Read(ctx, "Task", c.id); err == nil || errors.Is(err, fhir.ErrDeleted) {
		return false, nil
	} else if !errors.Is(err, fhir.ErrNotFound) {
		return false, err
	}
	task := g.task(c)
	type write struct {
		obj    map[string]any
		strict bool
		update bool
	}
	writes := []write{{obj: task}}
	if c.navigate {
		t1 := fhir.CloneObject(task)
		t1["meta"].(map[string]any)["versionId"] = "1"
		rec, err := g.decide(c, t1, nil, nil, c.allocatedAt, "")
		if err != nil {
			return false, err
		}
		writes = append(writes, write{obj: rec.Task, update: true}, write{obj: rec.Allocation, strict: true}, write{obj: rec.Provenance, strict: true})
		if rec.Review != nil {
			writes = append(writes, write{obj: rec.Review, strict: true})
		}
		if !c.declineAt.IsZero() && isPharmacyFirst(rec.Allocation) {
			t2 := fhir.CloneObject(rec.Task)
			meta, _ := t2["meta"].(map[string]any)
			if meta == nil {
				meta = g.label()()
				t2["meta"] = meta
			}
			meta["versionId"] = "3"
			t2["businessStatus"] = map[string]any{"coding": []any{map[string]any{"system": g.names.System(snomed.NavigationStatus), "code": "declined"}}}
			t2["statusReason"] = map[string]any{"text": "Would rather see someone at the surgery"}
			declined := &mapping.Declined{Allocation: "ServiceRequest/" + fhir.Str(rec.Allocation["id"]), Reason: "Would rather see someone at the surgery",
				Display: "ServiceRequest/" + fhir.Str(rec.Allocation["id"])}
			for _, x := range fhir.List(rec.Allocation["performer"]) {
				xm, _ := x.(map[string]any)
				if r := fhir.Str(xm["reference"]); len(r) > len("HealthcareService/") && r[:len("HealthcareService/")] == "HealthcareService/" {
					declined.Reference, declined.Display = r, fhir.Str(xm["display"])
				}
			}
			// The Task update that records the decline, then the
			// re-navigation.
			writes = append(writes, write{obj: fhir.CloneObject(t2), update: true})
			t2["meta"].(map[string]any)["versionId"] = "3"
			prior := fhir.CloneObject(rec.Allocation)
			rec2, err := g.decide(c, t2, prior, declined, c.declineAt, "-2")
			if err != nil {
				return false, err
			}
			writes = append(writes, write{obj: rec2.Task, update: true}, write{obj: rec2.Allocation, strict: true}, write{obj: rec2.Provenance, strict: true})
			if rec2.Review != nil {
				writes = append(writes, write{obj: rec2.Review, strict: true})
			}
			if rec2.Revoked != nil {
				writes = append(writes, write{obj: rec2.Revoked, update: true})
			}
		}
	}
	var rs []*fhir.Resource
	for _, w := range writes {
		w.obj["meta"] = mergeLabel(w.obj["meta"], g.label()())
		r, err := validated(w.obj, w.strict)
		if err != nil {
			return false, err
		}
		rs = append(rs, r)
	}
	err := g.st.Transaction(ctx, func(tx store.Tx) error {
		for i, r := range rs {
			var err error
			if writes[i].update {
				_, err = tx.Update(ctx, r.Clone(), store.Precondition{})
			} else {
				_, err = tx.Create(ctx, r.Clone())
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Another process seeding the same history got there first.
		if _, rerr := g.st.Read(ctx, "Task", c.id); rerr == nil {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

func isPharmacyFirst(sr map[string]any) bool {
	code, _ := sr["code"].(map[string]any)
	for _, x := range fhir.List(code["coding"]) {
		xm, _ := x.(map[string]any)
		if fhir.Str(xm["system"]) == snomed.System && fhir.Str(xm["code"]) == mapping.PharmacyFirstReferralCode {
			return true
		}
	}
	return false
}

// mergeLabel keeps meta's elements other than versionId and
// lastUpdated (the store writes those) and sets the practice label.
func mergeLabel(meta any, label map[string]any) map[string]any {
	m, _ := meta.(map[string]any)
	out := map[string]any{}
	for k, v := range m {
		if k != "versionId" && k != "lastUpdated" && k != "security" {
			out[k] = v
		}
	}
	out["security"] = label["security"]
	return out
}

// decode is a stored body as a JSON object.
var decode = fhir.DecodeObject
