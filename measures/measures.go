package measures

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// The success measures of NAVIGATION-API.md as FHIR: a Measure resource
// per measure (seeded as shipped content) and Measure/$evaluate-measure,
// which counts stored navigation Tasks and allocation ServiceRequests
// (mapping.CountMeasures) for a practice or a Group of practices and a
// period, under the caller's tenancy.

// measureDef is one success measure.
type measureDef struct {
	id, title, description string
	// proportion measures have a numerator and denominator; the others
	// are a cohort (initial population only).
	proportion bool
	num, den   func(c mapping.MeasureTally) int
	// demand measures carry weekday and hour stratifiers.
	demand bool
	// continuous measures (continuous-variable) score the median time
	// from contact to allocation over the measure population.
	continuous bool
	// categories measures carry the category stratifiers.
	categories bool
}

var measureDefs = []measureDef{
	{id: "navigation-requests-navigated", title: "Share of requests navigated",
		description: "Requests (navigation Tasks authored in the period) that received a committed allocation.",
		proportion:  true, num: func(c mapping.MeasureTally) int { return c.Navigated }, den: func(c mapping.MeasureTally) int { return c.Requests }},
	{id: "navigation-pharmacy-first", title: "Referrals to Pharmacy First",
		description: "Current allocations of the period's requests that are referrals to the Community Pharmacy Pharmacy First Service, among all current allocations.",
		proportion:  true, num: func(c mapping.MeasureTally) int { return c.PharmacyFirst }, den: func(c mapping.MeasureTally) int { return c.Allocations }},
	{id: "navigation-pharmacy-first-declined", title: "Pharmacy First recommendations declined",
		description: "Pharmacy First allocations the patient declined, or the service turned the patient away from (revoked on re-navigation), among all Pharmacy First allocations of the period's requests.",
		proportion:  true, num: func(c mapping.MeasureTally) int { return c.PharmacyFirstDeclined },
		den: func(c mapping.MeasureTally) int { return c.PharmacyFirst + c.PharmacyFirstDeclined }},
	{id: "navigation-social-prescribing", title: "Social prescribing referrals",
		description: "Current allocations that are referrals to social prescribing, among all current allocations.",
		proportion:  true, num: func(c mapping.MeasureTally) int { return c.SocialPrescribing }, den: func(c mapping.MeasureTally) int { return c.Allocations }},
	{id: "navigation-wider-team", title: "Allocations to the wider team, not GPs",
		description: "Current allocations categorised practice-team (wider practice or PCN team), among all current allocations.",
		proportion:  true, num: func(c mapping.MeasureTally) int { return c.WiderTeam }, den: func(c mapping.MeasureTally) int { return c.Allocations }},
	{id: "navigation-reattendance", title: "Reattendances within 2 weeks for the same issue",
		description: "Requests with an earlier request of the same patient at the same practice about the same problem within 14 days, among all requests.",
		proportion:  true, num: func(c mapping.MeasureTally) int { return c.Reattendances }, den: func(c mapping.MeasureTally) int { return c.Requests }},
	{id: "navigation-urgent-same-day", title: "Urgent requests allocated the same day",
		description: "Requests decided emergency or same-day whose allocation was made on the day of the request (Europe/London), among those requests.",
		proportion:  true, num: func(c mapping.MeasureTally) int { return c.UrgentSameDay }, den: func(c mapping.MeasureTally) int { return c.Urgent }},
	{id: "navigation-continuity-missed", title: "Patients needing continuity who did not get it",
		description: "Allocated requests whose decision applied safety rule 3 (complex needs: continuity prioritised) but whose current allocation is not to the practice's clinicians or team with the continuity requirement (usual or preferred clinician, or small team), among allocated requests needing continuity.",
		proportion:  true, num: func(c mapping.MeasureTally) int { return c.ContinuityMissed }, den: func(c mapping.MeasureTally) int { return c.ContinuityNeeded }},
	{id: "navigation-allocations", title: "Allocations by category",
		description: "Current allocations of the period's requests, stratified by navigation category, and by category per week and per month (allocations over time).",
		num:         func(c mapping.MeasureTally) int { return c.Allocations }, categories: true},
	{id: "navigation-time-to-allocation", title: "Time from contact to allocation",
		description: "Minutes from the contact (the navigation Task's authoredOn) to its current allocation (the allocation ServiceRequest's authoredOn): the median over the period's allocated requests.",
		continuous:  true, num: func(c mapping.MeasureTally) int { return c.Navigated }},
	{id: "navigation-demand", title: "Demand by contact route, weekday and hour",
		description: "Requests (navigation Tasks authored in the period), stratified by contact route, weekday and hour (Europe/London).",
		num:         func(c mapping.MeasureTally) int { return c.Requests }, demand: true},
}

// measureSummaryID is the Measure holding every measure as a group.
const measureSummaryID = "navigation-success-measures"

const measurePopulationSystem = "http://terminology.hl7.org/CodeSystem/measure-population"

// Measures evaluates the success measures over one store.
type Measures struct {
	st             store.Store
	base           string
	practiceSystem string
	odsOf          func(identifiers []any) string
	now            func() time.Time
	names          mapping.NavigationNames
}

// Config is what New needs.
type Config struct {
	Store store.Store
	// CanonicalBase is the base of the Measures' and code systems' URLs.
	CanonicalBase string
	// PracticeSystem is the code system of the practice labels
	// (meta.security) that tenancy stamps.
	PracticeSystem string
	// ODSOf is the ODS code among an Organization's identifiers, "" if
	// none.
	ODSOf func(identifiers []any) string
	Now   func() time.Time
}

// New is the measures of cfg.Store.
func New(cfg Config) *Measures {
	return &Measures{st: cfg.Store, base: cfg.CanonicalBase, practiceSystem: cfg.PracticeSystem, odsOf: cfg.ODSOf, now: cfg.Now,
		names: mapping.NewNavigationNames(cfg.CanonicalBase)}
}

// Resources are the Measure resources to seed: one per measure and the
// summary, valid R4, marked as shipped content.
func (m *Measures) Resources() ([]*fhir.Resource, error) {
	var resources []*fhir.Resource
	for _, obj := range m.definitions() {
		r, err := fhir.ResourceFromObject(obj)
		if err != nil {
			return nil, err
		}
		if err := r.Validate(fhir.ValidateOptions{Strict: true}); err != nil {
			return nil, fmt.Errorf("measures: Measure/%s: %w", r.ID(), err)
		}
		if err := snomed.MarkShipped(r, "measures-3"); err != nil {
			return nil, err
		}
		resources = append(resources, r)
	}
	return resources, nil
}

// Request is one Measure/$evaluate-measure.
type Request struct {
	// ID is the Measure's id at instance level, "" at type level (the
	// measure parameter names it).
	ID        string
	Params    *fhir.Parameters
	Principal *auth.Principal
	// Tx reads under the caller's tenancy.
	Tx store.Tx
	// Authorize checks that the caller may do action on typ.
	Authorize func(typ string, action auth.Action) error
}

// definitions are the Measure resources: one per measure and the summary.
func (m *Measures) definitions() []map[string]any {
	base := m.base
	group := func(d measureDef) map[string]any {
		pop := func(code, text string) any {
			// The criteria are Signpost's counting (mapping.CountMeasures),
			// described in words.
			return map[string]any{"code": map[string]any{"coding": []any{map[string]any{"system": measurePopulationSystem, "code": code}}}, "description": text,
				"criteria": map[string]any{"language": "text/plain", "description": text, "expression": d.id + "#" + code}}
		}
		g := map[string]any{"code": map[string]any{"coding": []any{map[string]any{"system": base + "/CodeSystem/navigation-measure", "code": d.id, "display": d.title}}, "text": d.title},
			"description": d.description}
		switch {
		case d.proportion:
			g["population"] = []any{pop("initial-population", "Navigation requests of the practices in the period"), pop("denominator", d.description), pop("numerator", d.title)}
		case d.continuous:
			g["population"] = []any{pop("initial-population", "Navigation requests of the practices in the period"),
				pop("measure-population", "Requests of the period with a current allocation"),
				pop("measure-observation", "Minutes from the request's authoredOn to its current allocation's authoredOn; the score is their median")}
		default:
			g["population"] = []any{pop("initial-population", d.description)}
		}
		strat := []any{map[string]any{"code": map[string]any{"text": "contact-route"}, "description": "Contact route (phone, online, walk-in, referral)"},
			map[string]any{"code": map[string]any{"text": mapping.StratAgeBand}, "description": "Age band of the patient at the request (0-4, 5-15, 16-24, 25-44, 45-64, 65-74, 75-84, 85+; unknown without a birth date)"},
			map[string]any{"code": map[string]any{"text": mapping.StratSex}, "description": "Administrative gender of the patient (unknown when not recorded)"},
			map[string]any{"code": map[string]any{"text": mapping.StratNeedGroup}, "description": "Need group (1 to 11) the allocation's supportingInfo records; unknown when the decision had none"},
			map[string]any{"code": map[string]any{"text": mapping.StratWeek}, "description": "Week of the request, as the date of its Monday (Europe/London): the trend"},
			map[string]any{"code": map[string]any{"text": mapping.StratMonth}, "description": "Calendar month of the request, as 2025-01 (Europe/London): the trend"}}
		if d.categories {
			strat = append(strat,
				map[string]any{"code": map[string]any{"text": mapping.StratCategory}, "description": "Navigation category of the current allocation"},
				map[string]any{"code": map[string]any{"text": mapping.StratCategoryWeek}, "description": "Week of the request and category, as \"2025-01-06 clinician\": allocations by category over time"},
				map[string]any{"code": map[string]any{"text": mapping.StratCategoryMonth}, "description": "Month of the request and category, as \"2025-01 clinician\""})
		}
		if d.demand {
			strat = append(strat,
				map[string]any{"code": map[string]any{"text": "weekday"}, "description": "Weekday of the request (Europe/London)"},
				map[string]any{"code": map[string]any{"text": "hour"}, "description": "Hour of the request, 00 to 23 (Europe/London)"},
				map[string]any{"code": map[string]any{"text": "weekday-hour"}, "description": "Weekday and hour of the request, as \"Monday 09\" (Europe/London): the demand heatmap"})
		}
		g["stratifier"] = strat
		return g
	}
	header := func(id, title, scoring, description string) map[string]any {
		return map[string]any{"resourceType": "Measure", "id": id, "url": base + "/Measure/" + id, "version": "1",
			"name": measureName(id), "title": title, "status": "active",
			"publisher": "Signpost", "description": description,
			"scoring": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/measure-scoring", "code": scoring}}}}
	}
	var out []map[string]any
	var all []any
	for _, d := range measureDefs {
		scoring := "cohort"
		if d.proportion {
			scoring = "proportion"
		} else if d.continuous {
			scoring = "continuous-variable"
		}
		r := header(d.id, d.title, scoring, d.description)
		r["group"] = []any{group(d)}
		out = append(out, r)
		all = append(all, group(d))
	}
	sum := header(measureSummaryID, "Care navigation success measures", "cohort",
		"Every care navigation success measure as a group (NAVIGATION-API.md, Success measures); each group's populations follow its own Measure.")
	sum["group"] = all
	return append(out, sum)
}

// measureName makes a computable Measure.name from an id.
func measureName(id string) string {
	var b strings.Builder
	for _, part := range strings.Split(id, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// Evaluate is Measure/$evaluate-measure: the MeasureReport, as JSON.
func (m *Measures) Evaluate(ctx context.Context, in Request) ([]byte, error) {
	p := in.Principal
	g := in.Tx
	id := in.ID
	if id == "" {
		v, ok := in.Params.String("measure")
		if !ok || v == "" {
			return nil, fhir.Errorf(fhir.CodeRequired, "$evaluate-measure at type level needs measure (an id or canonical URL)").Because(fhir.DetailMalformed)
		}
		id = v
		if strings.Contains(v, "/") {
			u := v
			if i := strings.Index(u, "|"); i >= 0 {
				u = u[:i]
			}
			id = strings.TrimPrefix(u, m.base+"/Measure/")
			if strings.Contains(id, "/") {
				return nil, fhir.Errorf(fhir.CodeNotFound, "no Measure with url %s", v)
			}
		}
	}
	var defs []measureDef
	if id == measureSummaryID {
		defs = measureDefs
	} else {
		for _, d := range measureDefs {
			if d.id == id {
				defs = []measureDef{d}
			}
		}
	}
	if _, err := g.Read(ctx, "Measure", id); err != nil {
		return nil, err
	}
	if defs == nil {
		return nil, fhir.Errorf(fhir.CodeNotSupported, "Measure/%s is not one Signpost can evaluate", id).Because(fhir.DetailRefused)
	}
	start, err := measureDate(in.Params, "periodStart", false)
	if err != nil {
		return nil, err
	}
	end, err := measureDate(in.Params, "periodEnd", true)
	if err != nil {
		return nil, err
	}
	if !end.After(start) {
		return nil, fhir.Errorf(fhir.CodeValue, "periodEnd is before periodStart")
	}
	subject, _ := in.Params.String("subject")
	if _, v, ok := in.Params.Value("subject"); ok {
		if r, ok := v.(map[string]any); ok {
			subject, _ = r["reference"].(string)
		}
	}
	practices, err := m.subjectPractices(ctx, in, subject)
	if err != nil {
		return nil, err
	}
	for _, ods := range practices {
		if !p.Dev && !p.AllPractices && !p.CanSeePractice(ods) {
			return nil, fhir.Errorf(fhir.CodeForbidden, "the token does not cover practice %s", ods)
		}
	}
	security := make([]string, len(practices))
	for i, ods := range practices {
		security[i] = m.practiceSystem + "|" + ods
	}
	counts, err := m.count(ctx, start, end, practices)
	if err != nil {
		return nil, err
	}
	total := counts.MeasureTally
	routes := sortedKeys(counts.ByRoute)
	now := m.now()
	report := map[string]any{
		"resourceType": "MeasureReport", "status": "complete", "type": "summary",
		"measure":  m.base + "/Measure/" + id,
		"subject":  map[string]any{"reference": subject},
		"date":     now.UTC().Format(fhir.InstantFormat),
		"reporter": map[string]any{"display": "Signpost"},
		"period":   map[string]any{"start": start.UTC().Format(fhir.InstantFormat), "end": end.Add(-time.Millisecond).UTC().Format(fhir.InstantFormat)},
	}
	if subject == "" {
		delete(report, "subject")
	}
	var groups []any
	for _, d := range defs {
		grp := map[string]any{"code": map[string]any{"coding": []any{map[string]any{"system": m.base + "/CodeSystem/navigation-measure", "code": d.id, "display": d.title}}, "text": d.title}}
		grp["population"] = measurePopulations(d, total)
		if sc := measureScore(d, total); sc != nil {
			grp["measureScore"] = sc
		}
		var routeStrata []any
		for _, r := range routes {
			c := *counts.Routes[r]
			st := map[string]any{"value": map[string]any{"text": r}, "population": measurePopulations(d, c)}
			if sc := measureScore(d, c); sc != nil {
				st["measureScore"] = sc
			}
			routeStrata = append(routeStrata, st)
		}
		strat := []any{map[string]any{"code": []any{map[string]any{"text": "contact-route"}}, "stratum": orEmpty(routeStrata)}}
		for _, name := range mapping.Strata {
			category := name == mapping.StratCategory || name == mapping.StratCategoryWeek || name == mapping.StratCategoryMonth
			if category && !d.categories {
				continue
			}
			var strata []any
			for _, v := range sortedTallies(counts.Strata[name]) {
				c := *counts.Strata[name][v]
				if category && d.num(c) == 0 {
					continue // requests without an allocation are no allocation's stratum
				}
				st := map[string]any{"value": map[string]any{"text": v}, "population": measurePopulations(d, c)}
				if sc := measureScore(d, c); sc != nil {
					st["measureScore"] = sc
				}
				strata = append(strata, st)
			}
			strat = append(strat, map[string]any{"code": []any{map[string]any{"text": name}}, "stratum": orEmpty(strata)})
		}
		if d.demand {
			var days, hours, dayHours []any
			for _, wd := range []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday} {
				if n := counts.ByWeekday[wd.String()]; n > 0 {
					days = append(days, map[string]any{"value": map[string]any{"text": wd.String()}, "population": []any{measurePop("initial-population", n)}})
				}
			}
			for _, wd := range []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday} {
				for h := 0; h < 24; h++ {
					if n := counts.ByDayHour[wd.String()][h]; n > 0 {
						dayHours = append(dayHours, map[string]any{"value": map[string]any{"text": fmt.Sprintf("%s %02d", wd, h)}, "population": []any{measurePop("initial-population", n)}})
					}
				}
			}
			for h := 0; h < 24; h++ {
				if n := counts.ByHour[h]; n > 0 {
					hours = append(hours, map[string]any{"value": map[string]any{"text": fmt.Sprintf("%02d", h)}, "population": []any{measurePop("initial-population", n)}})
				}
			}
			strat = append(strat,
				map[string]any{"code": []any{map[string]any{"text": "weekday"}}, "stratum": orEmpty(days)},
				map[string]any{"code": []any{map[string]any{"text": "hour"}}, "stratum": orEmpty(hours)},
				map[string]any{"code": []any{map[string]any{"text": "weekday-hour"}}, "stratum": orEmpty(dayHours)})
		}
		// A stratifier with no strata is left out (R4: stratum 0..*, but
		// an empty array is not valid JSON FHIR).
		var kept []any
		for _, x := range strat {
			if len(x.(map[string]any)["stratum"].([]any)) > 0 {
				kept = append(kept, x)
			}
		}
		if len(kept) > 0 {
			grp["stratifier"] = kept
		}
		groups = append(groups, grp)
	}
	report["group"] = groups
	r, err := fhir.ResourceFromObject(report)
	if err != nil {
		return nil, err
	}
	if err := r.Validate(fhir.ValidateOptions{Strict: true}); err != nil {
		return nil, fmt.Errorf("evaluate-measure: the MeasureReport is not valid R4: %w", err)
	}
	return fhir.EncodeJSON(report)
}

func orEmpty(l []any) []any {
	if l == nil {
		return []any{}
	}
	return l
}

func sortedTallies(m map[string]*mapping.MeasureTally) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func measurePop(code string, n int) map[string]any {
	return map[string]any{"code": map[string]any{"coding": []any{map[string]any{"system": measurePopulationSystem, "code": code}}}, "count": n}
}

func measurePopulations(d measureDef, c mapping.MeasureTally) []any {
	if d.continuous {
		return []any{measurePop("initial-population", c.Requests), measurePop("measure-population", c.Navigated), measurePop("measure-observation", len(c.Waits))}
	}
	if !d.proportion {
		return []any{measurePop("initial-population", d.num(c))}
	}
	return []any{measurePop("initial-population", c.Requests), measurePop("denominator", d.den(c)), measurePop("numerator", d.num(c))}
}

// measureScore is numerator/denominator (no score for an empty
// denominator), or for a continuous measure the median minutes; cohorts
// have none.
func measureScore(d measureDef, c mapping.MeasureTally) map[string]any {
	if d.continuous {
		m, ok := c.MedianWaitMinutes()
		if !ok {
			return nil
		}
		return map[string]any{"value": json.Number(strconv.FormatFloat(m, 'f', -1, 64)), "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"}
	}
	if !d.proportion {
		return nil
	}
	den := d.den(c)
	if den == 0 {
		return nil
	}
	v := float64(d.num(c)) / float64(den)
	return map[string]any{"value": json.Number(strconv.FormatFloat(v, 'f', -1, 64)), "unit": "1", "system": "http://unitsofmeasure.org", "code": "1"}
}

// measureDate reads a date or dateTime parameter; a date is a day in
// Europe/London, whose end is the next midnight when end is set.
func measureDate(params *fhir.Parameters, name string, end bool) (time.Time, error) {
	v, ok := params.String(name)
	if !ok || v == "" {
		return time.Time{}, fhir.Errorf(fhir.CodeRequired, "%s is required", name).Because(fhir.DetailMalformed)
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	t, err := time.ParseInLocation("2006-01-02", v, mapping.London)
	if err != nil {
		return time.Time{}, fhir.Errorf(fhir.CodeValue, "%s: %q is not a date or dateTime", name, v)
	}
	if end {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

// subjectPractices are the ODS codes of subject: an Organization (a
// practice) or a Group whose members are practices. Without a subject,
// every practice the caller's token names.
func (m *Measures) subjectPractices(ctx context.Context, in Request, subject string) ([]string, error) {
	p, g := in.Principal, in.Tx
	typ, id, _ := strings.Cut(subject, "/")
	switch {
	case subject == "":
		out := p.Practices()
		if len(out) == 0 {
			return nil, fhir.Errorf(fhir.CodeRequired, "subject is required when the token names no practice").Because(fhir.DetailMalformed)
		}
		return out, nil
	case typ == "Organization" && id != "":
		ods, err := m.practiceOf(ctx, g, id)
		if err != nil {
			return nil, err
		}
		return []string{ods}, nil
	case typ == "Group" && id != "":
		if err := in.Authorize("Group", auth.Read); err != nil {
			return nil, err
		}
		v, err := g.Read(ctx, "Group", id)
		if err != nil {
			return nil, err
		}
		obj, err := decodeObject(v.Body)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, e := range fhir.List(obj["member"]) {
			em, _ := e.(map[string]any)
			ent, _ := em["entity"].(map[string]any)
			ref, _ := ent["reference"].(string)
			oid, ok := strings.CutPrefix(ref, "Organization/")
			if !ok {
				return nil, fhir.Errorf(fhir.CodeValue, "Group/%s: every member must be a practice Organization (%q is not)", id, ref).Because(fhir.DetailRefused)
			}
			ods, err := m.practiceOf(ctx, g, oid)
			if err != nil {
				return nil, err
			}
			out = append(out, ods)
		}
		if len(out) == 0 {
			return nil, fhir.Errorf(fhir.CodeValue, "Group/%s has no practices", id).Because(fhir.DetailRefused)
		}
		return out, nil
	}
	return nil, fhir.Errorf(fhir.CodeValue, "subject must be Organization/[id] or Group/[id], not %q", subject)
}

// practiceOf is the ODS code of a stored Organization.
func (m *Measures) practiceOf(ctx context.Context, g store.Tx, id string) (string, error) {
	v, err := g.Read(ctx, "Organization", id)
	if err != nil {
		return "", err
	}
	obj, err := decodeObject(v.Body)
	if err != nil {
		return "", err
	}
	if ods := m.odsOf(fhir.List(obj["identifier"])); ods != "" {
		return strings.ToUpper(ods), nil
	}
	return "", fhir.Errorf(fhir.CodeValue, "Organization/%s has no ODS code", id).Because(fhir.DetailRefused)
}

// The measures are counted from summary rows the stores keep beside every
// Task, ServiceRequest and Patient version (mapping's measure facts), not
// from the resources: a year of a practice's navigations is read without
// decoding one.
const (
	measureTaskKind       = "measure-task"
	measureAllocationKind = "measure-allocation"
	measurePatientKind    = "measure-patient"
	// measureFactsVersion changes whenever a fact's derivation or stored
	// form does: the stores then rebuild the rows at start-up.
	measureFactsVersion = "1"
)

// Summarizers derive the measure facts, which the stores keep. A Task's
// key is its owner practice; an allocation's and a Patient's the practices of their
// tenancy labels (a Patient without any: ""), so that a report reads one
// practice's rows only.
func (m *Measures) Summarizers() []store.Summarizer {
	names, sys := m.names, m.practiceSystem
	version := measureFactsVersion + "|" + m.base
	labels := func(obj map[string]any) []string {
		meta, _ := obj["meta"].(map[string]any)
		var out []string
		for _, e := range fhir.List(meta["security"]) {
			c, _ := e.(map[string]any)
			if cs, _ := c["system"].(string); cs == sys {
				if code, _ := c["code"].(string); code != "" {
					out = append(out, strings.ToUpper(code))
				}
			}
		}
		return out
	}
	return []store.Summarizer{
		{Kind: measureTaskKind, Type: "Task", Version: version, Summarize: func(r *fhir.Resource) []store.Summary {
			f, ok := mapping.TaskFactOf(names, r.Object())
			if !ok || f.Practice == "" {
				return nil
			}
			return []store.Summary{{Key: f.Practice, At: f.Authored, Data: f.Encode()}}
		}},
		{Kind: measureAllocationKind, Type: "ServiceRequest", Version: version, Summarize: func(r *fhir.Resource) []store.Summary {
			f, ok := mapping.AllocationFactOf(names, r.Object())
			if !ok || f.Authored.IsZero() {
				return nil
			}
			var out []store.Summary
			data := f.Encode()
			for _, ods := range labels(r.Object()) {
				out = append(out, store.Summary{Key: ods, At: f.Authored, Data: data})
			}
			return out
		}},
		{Kind: measurePatientKind, Type: "Patient", Version: version, Summarize: func(r *fhir.Resource) []store.Summary {
			data := mapping.PatientFactOf(r.Object()).Encode()
			keys := labels(r.Object())
			if len(keys) == 0 {
				keys = []string{""}
			}
			out := make([]store.Summary, len(keys))
			for i, k := range keys {
				out[i] = store.Summary{Key: k, At: time.Unix(0, 0), Data: data}
			}
			return out
		}},
	}
}

// count reads the facts of the practices for the period (Tasks from
// ReattendanceWindow before it, for reattendance) and counts them.
func (m *Measures) count(ctx context.Context, start, end time.Time, practices []string) (mapping.MeasureCounts, error) {
	f := mapping.MeasureFacts{Start: start, End: end, Practices: practices}
	st := m.st
	err := st.ScanSummaries(ctx, store.SummaryQuery{Kind: measureTaskKind, Keys: practices, From: start.Add(-mapping.ReattendanceWindow), To: end},
		func(_ string, _ time.Time, data string) error {
			t, err := mapping.DecodeTaskFact(data)
			f.Tasks = append(f.Tasks, t)
			return err
		})
	if err == nil {
		err = st.ScanSummaries(ctx, store.SummaryQuery{Kind: measureAllocationKind, Keys: practices, From: start},
			func(_ string, _ time.Time, data string) error {
				a, err := mapping.DecodeAllocationFact(data)
				f.Allocations = append(f.Allocations, a)
				return err
			})
	}
	if err == nil {
		err = st.ScanSummaries(ctx, store.SummaryQuery{Kind: measurePatientKind, Keys: append(append([]string(nil), practices...), "")},
			func(_ string, _ time.Time, data string) error {
				p, err := mapping.DecodePatientFact(data)
				f.Patients = append(f.Patients, p)
				return err
			})
	}
	if err != nil {
		return mapping.MeasureCounts{}, fmt.Errorf("evaluate-measure: %w", err)
	}
	return mapping.CountMeasureFacts(f), nil
}

// decodeObject decodes a stored body, which is a JSON object.
var decodeObject = fhir.DecodeObject
