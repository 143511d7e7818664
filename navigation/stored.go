package navigation

import (
	"context"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/signpost-fhir/signpost/directory"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// storedHistory is the ContactHistory of stored Tasks: the patient's
// navigation Tasks at the practice authored in the window.
//
// The query asks only for the patient and the window, the two things
// that make it selective; whether an earlier Task is a navigation Task and
// belongs to the practice is checked here, on the parsed version. Asked
// for the code and the practice label as well, PostgreSQL has to join
// them with every Task of the practice (they all have both), and on
// statistics that lag behind a growing table it picks a plan that reads
// them all once per earlier Task of the patient (14.7 ms a navigation at
// 1,700 Tasks, growing with every one).
//
// What a Task contributes (authored-on, problem, symptoms, whether it
// counts) is parsed once per stored version: a version's body never
// changes, so the parse is kept by id and version, and a Task's update is
// a new key.
type storedHistory struct {
	nav *Service

	mu     sync.Mutex
	parsed map[historyKey]parsedContact
}

type historyKey struct {
	id      string
	version int64
}

// parsedContact is what one stored Task version says for the history.
type parsedContact struct {
	contact mapping.EarlierContact
	// navigation: the Task's code is the navigation Task code.
	navigation bool
	// practices are the codes of its practice security labels.
	practices []string
}

// maxParsedHistory bounds the parsed-Task cache; when full it starts
// afresh (a day's Tasks at a busy gateway fit comfortably).
const maxParsedHistory = 50000

// parse is what a stored Task version says for the history.
func (h *storedHistory) parse(v store.Version) (parsedContact, error) {
	k := historyKey{v.ID, v.VersionID}
	h.mu.Lock()
	p, ok := h.parsed[k]
	h.mu.Unlock()
	if ok && v.VersionID > 0 {
		return p, nil
	}
	obj, err := decode(v.Body)
	if err != nil {
		return parsedContact{}, err
	}
	return h.remember(v.ID, v.VersionID, obj), nil
}

// remember parses obj, version of Task id, for the history and keeps it
// (version 0, not stored, is not kept). The navigation commit gives it
// the Task it has just written, which it would otherwise decode again
// from the stored body the next time the patient calls.
func (h *storedHistory) remember(id string, version int64, obj map[string]any) parsedContact {
	var p parsedContact
	r, _ := mapping.ParseNavigationTask(obj, h.nav.names)
	p.contact = mapping.EarlierContact{TaskID: id, AuthoredOn: r.AuthoredOn, Problem: r.Problem}
	for _, s := range r.Symptoms {
		p.contact.Symptoms = append(p.contact.Symptoms, s.Code)
	}
	p.navigation = h.nav.names.IsNavigationTask(obj)
	practiceSystem := h.nav.host.PracticeSystem()
	meta, _ := obj["meta"].(map[string]any)
	for _, l := range fhir.List(meta["security"]) {
		lm, _ := l.(map[string]any)
		if sys, _ := lm["system"].(string); sys == practiceSystem {
			if c, _ := lm["code"].(string); c != "" {
				p.practices = append(p.practices, c)
			}
		}
	}
	if version > 0 {
		h.mu.Lock()
		if h.parsed == nil || len(h.parsed) >= maxParsedHistory {
			h.parsed = map[historyKey]parsedContact{}
		}
		h.parsed[historyKey{id, version}] = p
		h.mu.Unlock()
	}
	return p
}

var _ mapping.ContactHistory = (*storedHistory)(nil)

// maxEarlier bounds how many earlier Tasks are read.
const maxEarlier = 200

func (h *storedHistory) EarlierContacts(ctx context.Context, patient mapping.PatientRef, practice string, since time.Time, exclude string) ([]mapping.EarlierContact, error) {
	var crits []url.Values
	base := func() url.Values {
		return url.Values{
			"authored-on": {"ge" + since.UTC().Format(time.RFC3339)},
			"_sort":       {"-authored-on"},
		}
	}
	if patient.Reference != "" {
		q := base()
		q.Set("subject", patient.Reference)
		crits = append(crits, q)
	}
	if patient.NHSNumber != "" {
		q := base()
		q.Set("subject:identifier", mapping.NHSNumberSystem+"|"+patient.NHSNumber)
		crits = append(crits, q)
	}
	seen := map[string]bool{exclude: true}
	var out []mapping.EarlierContact
	read := 0
	for _, crit := range crits {
		q, err := search.ParseQuery("Task", crit, true)
		if err != nil {
			return nil, err
		}
		page := store.PageRequest{Count: 100}
		for read < maxEarlier {
			res, err := h.nav.host.Store().Search(ctx, q, page)
			if err != nil {
				return nil, err
			}
			for _, v := range res.Matches {
				if seen[v.ID] {
					continue
				}
				seen[v.ID] = true
				read++
				p, err := h.parse(v)
				if err != nil {
					return nil, err
				}
				if !p.navigation || !slices.Contains(p.practices, practice) {
					continue
				}
				e := p.contact
				e.Symptoms = slices.Clone(e.Symptoms) // the caller's to keep
				out = append(out, e)
			}
			if res.Next == "" {
				break
			}
			page.Cursor = res.Next
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AuthoredOn.After(out[j].AuthoredOn) })
	return out, nil
}

// storedNeedGroups is the default NeedGroupSource: the newest need-group
// Observation stored for the patient (an Observation whose
// valueCodeableConcept has a patient-need-group coding), unless older
// than NeedGroupMaxAge, and the need-group findings (severe mental
// illness, palliative care, learning disability, frailty registers) among
// the patient's active Conditions.
type storedNeedGroups struct{ nav *Service }

var _ mapping.NeedGroupSource = (*storedNeedGroups)(nil)

// lookupBudget is a need-group source with a timeout of its own (the
// shared care record client): navigate stops waiting for it that long
// after the navigation began.
type lookupBudget interface{ Timeout() time.Duration }

func (sn *storedNeedGroups) NeedGroup(ctx context.Context, patient mapping.PatientRef, practice string) (mapping.NeedGroup, error) {
	var ng mapping.NeedGroup
	if patient.Reference == "" {
		return ng, nil
	}
	st := sn.nav.host.Store()
	security := sn.nav.host.PracticeSystem() + "|" + practice
	q, err := search.ParseQuery("Observation", url.Values{"subject": {patient.Reference}, "_security": {security}, "_sort": {"-date"}}, true)
	if err != nil {
		return ng, err
	}
	page, err := st.Search(ctx, q, store.PageRequest{Count: 50})
	if err != nil {
		return ng, err
	}
	png := sn.nav.names.System(snomed.PatientNeedGroup)
	now := sn.nav.opts.Now()
	for _, v := range page.Matches {
		obj, err := decode(v.Body)
		if err != nil {
			return ng, err
		}
		if s, _ := obj["status"].(string); s == "entered-in-error" || s == "cancelled" {
			continue
		}
		vc, _ := obj["valueCodeableConcept"].(map[string]any)
		code := ""
		for _, c := range fhir.List(vc["coding"]) {
			cm, _ := c.(map[string]any)
			if cm["system"] == png {
				code, _ = cm["code"].(string)
			}
		}
		if mapping.NeedGroupLevel(code) == mapping.NeedUnknown {
			continue
		}
		eff, _ := obj["effectiveDateTime"].(string)
		date, ok := directory.ParseInstantish(eff)
		if ok && now.Sub(date) > sn.nav.opts.NeedGroupMaxAge {
			break // stale: unknown, never low
		}
		ng = mapping.NeedGroup{Known: true, Code: code, Date: date, Observation: "Observation/" + v.ID, Source: "stored Observation"}
		for _, pf := range fhir.List(obj["performer"]) {
			pm, _ := pf.(map[string]any)
			if d, _ := pm["display"].(string); d != "" {
				ng.Source = d
			}
		}
		break
	}
	lists := mapping.DefaultSafetyLists(nil)
	codes := make([]string, 0, len(lists.ComplexFindings))
	for c := range lists.ComplexFindings {
		codes = append(codes, snomed.System+"|"+c)
	}
	sort.Strings(codes)
	cq, err := search.ParseQuery("Condition", url.Values{"subject": {patient.Reference}, "code": {strings.Join(codes, ",")}, "_security": {security}}, true)
	if err != nil {
		return ng, err
	}
	cpage, err := st.Search(ctx, cq, store.PageRequest{Count: 50})
	if err != nil {
		return ng, err
	}
	for _, v := range cpage.Matches {
		obj, err := decode(v.Body)
		if err != nil {
			return ng, err
		}
		cs, _ := obj["clinicalStatus"].(map[string]any)
		active := cs == nil
		for _, c := range fhir.List(cs["coding"]) {
			cm, _ := c.(map[string]any)
			if code, _ := cm["code"].(string); code == "active" || code == "recurrence" || code == "relapse" {
				active = true
			}
		}
		if !active {
			continue
		}
		code, _ := obj["code"].(map[string]any)
		for _, c := range fhir.List(code["coding"]) {
			cm, _ := c.(map[string]any)
			if cm["system"] == snomed.System {
				if v, _ := cm["code"].(string); lists.ComplexFindings[v] != "" {
					ng.Findings = append(ng.Findings, v)
				}
			}
		}
	}
	return ng, nil
}
