package mapping

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/snomed"
)

// A decision as FHIR (NAVIGATION-API.md, "Assessment and allocation"):
//
//   - the navigation Task, updated: status in-progress (R4 state machine),
//     businessStatus the disposition, output one entry per
//     navigation-output code (rule and rationale as many as apply);
//   - the allocation ServiceRequest: active order when the decision
//     stands, a draft proposal when a person must confirm or a clinician
//     review it;
//   - a Provenance naming who or what decided (the navigator, clinician,
//     or the protocol and its version), from what (the Task version, the
//     protocol version, the allocation ConceptMap, the need group), and
//     what it revised;
//   - a clinician-review Task when the decision is escalated or held for
//     review;
//   - the allocation it replaces, revoked.
//
// Everything is built as JSON trees and validated by the caller as R4.

// RecordInput is what Records needs besides the decision.
type RecordInput struct {
	Decision *Decision
	// Task is the stored navigation Task (its current version).
	Task map[string]any
	// Prior is the stored allocation the decision replaces, nil when none.
	Prior map[string]any
	// AllocationID, ProvenanceID and ReviewID are the ids to give (the
	// caller assigns ids).
	AllocationID, ProvenanceID, ReviewID string
	// Proposal: nothing will be stored ($navigate mode propose):
	// generated resources get no id and reference each other by urn:uuid.
	Proposal bool
	Now      time.Time
	// Caller is who invoked the navigation (the enterer), when the
	// decision is automated.
	Caller Decider
	// EngineIdentifierSystem names the navigation engine as a device.
	EngineIdentifierSystem string
}

// Records are the resources of one decision.
type Records struct {
	Task       map[string]any
	Allocation map[string]any
	Provenance map[string]any
	// Review is the clinician-review Task, nil when none is needed.
	Review map[string]any
	// Revoked is the replaced allocation, revoked; nil when none.
	Revoked map[string]any
}

// Records builds the resources of a decision.
func (e *Engine) Records(in RecordInput) (*Records, error) {
	d := in.Decision
	if d == nil || in.Task == nil {
		return nil, fmt.Errorf("mapping: Records needs a decision and the Task")
	}
	taskID := jstr(in.Task["id"])
	version := int64(0)
	if m, ok := in.Task["meta"].(map[string]any); ok {
		version, _ = strconv.ParseInt(jstr(m["versionId"]), 10, 64)
	}
	ref := func(typ, id string) string {
		if in.Proposal {
			return "urn:uuid:" + id
		}
		return typ + "/" + id
	}
	now := in.Now.UTC().Format(fhir.InstantFormat)
	names := e.Names
	coding := func(system, code string) map[string]any {
		c := snomed.Coding{System: names.System(system), Code: code}
		if disp := localDisplay(system, code); disp != "" {
			c.Display = disp
		}
		return c.JSON()
	}
	cc := func(system, code string) map[string]any {
		return map[string]any{"coding": []any{coding(system, code)}}
	}
	allocRef := ref("ServiceRequest", in.AllocationID)
	taskRef := "Task/" + taskID
	nextTaskVersion := taskRef + "/_history/" + strconv.FormatInt(version+1, 10)
	practice := map[string]any{"type": "Organization", "identifier": map[string]any{"system": ODSSystem, "value": d.Practice}}

	// The allocation ServiceRequest.
	sr := map[string]any{
		"resourceType": "ServiceRequest",
		"status":       "active",
		"intent":       "order",
		"category":     []any{cc(snomed.NavigationCategory, string(d.Category))},
		"priority":     priorityOf(d.Urgency),
		"code":         map[string]any{"coding": []any{d.Codes.Code.JSON()}, "text": orText(d.Codes.Code.Display, d.Codes.Code.Code)},
		"subject":      in.Task["for"],
		"authoredOn":   now,
		"occurrencePeriod": map[string]any{
			"start": d.From.UTC().Format(fhir.InstantFormat), "end": d.To.UTC().Format(fhir.InstantFormat),
		},
		"patientInstruction": d.SafetyNetting,
	}
	if !d.Disposition.Final() {
		sr["status"], sr["intent"] = "draft", "proposal"
	}
	if !in.Proposal {
		sr["id"] = in.AllocationID
	}
	if d.Automated {
		sr["requester"] = practice
	} else {
		sr["requester"] = d.Decider.reference()
	}
	if d.Codes.PerformerType != nil {
		sr["performerType"] = map[string]any{"coding": []any{d.Codes.PerformerType.JSON()}}
	}
	var performers []any
	if d.Continuity && d.Category == CategoryClinician && d.Assessment.Request.PreferredPractitioner != nil {
		performers = append(performers, d.Assessment.Request.PreferredPractitioner)
	}
	switch {
	case d.Service != nil:
		performers = append(performers, map[string]any{"reference": "HealthcareService/" + d.Service.ID, "display": d.Service.Label()})
	case d.Role != nil:
		performers = append(performers, map[string]any{"reference": "PractitionerRole/" + d.Role.ID, "display": orText(d.Role.Display, d.Role.ID)})
	case d.PracticeFallback:
		p := map[string]any{"type": "Organization", "identifier": practice["identifier"], "display": "Practice " + d.Practice}
		performers = append(performers, p)
	}
	if len(performers) > 0 {
		sr["performer"] = performers
	}
	if concept, ok := modeConcepts[d.Mode]; ok {
		sr["locationCode"] = []any{map[string]any{"coding": []any{snomed.Coding{System: snomed.System, Code: concept, Display: modeDisplays[d.Mode]}.JSON()}, "text": d.Mode}}
	}
	var details []any
	if d.Professional != nil {
		details = append(details, map[string]any{"coding": []any{d.Professional.JSON()}, "text": "Professional: " + orText(d.Professional.Display, d.Professional.Code)})
	}
	if d.Minutes > 0 {
		details = append(details, map[string]any{"text": fmt.Sprintf("Appointment length: %d minutes", d.Minutes)})
	}
	if d.TurnaroundDays > 0 {
		details = append(details, map[string]any{"text": fmt.Sprintf("Turnaround: %d days", d.TurnaroundDays)})
	}
	for _, r := range d.Requirements {
		details = append(details, map[string]any{"text": r})
	}
	if len(details) > 0 {
		sr["orderDetail"] = details
	}
	var support []any
	need := d.Assessment.Need
	switch {
	case need.Known && need.Observation != "":
		support = append(support, map[string]any{"reference": need.Observation,
			"display": fmt.Sprintf("Patient need group %s (%s), from %s%s", need.Code, needGroupDisplay[need.Code], orText(need.Source, "the shared care record"), dateText(need.Date))})
	case need.Known:
		support = append(support, map[string]any{"display": fmt.Sprintf("Patient need group %s (%s), from %s%s", need.Code, needGroupDisplay[need.Code], orText(need.Source, "the shared care record"), dateText(need.Date))})
	default:
		support = append(support, map[string]any{"display": "Patient need group unknown (treated as unknown, never as low)"})
	}
	if cn := d.Assessment.Request.CommunicationNeeds; len(cn) > 0 {
		var labels []string
		for _, c := range cn {
			labels = append(labels, orText(c.Display, "SNOMED CT "+c.Code))
		}
		support = append(support, map[string]any{"reference": taskRef, "display": "Communication needs: " + strings.Join(labels, "; ")})
	}
	sr["supportingInfo"] = support
	var notes []any
	if d.Note != "" {
		notes = append(notes, map[string]any{"text": d.Note, "time": now})
	}
	if len(notes) > 0 {
		sr["note"] = notes
	}
	if in.Prior != nil {
		sr["replaces"] = []any{map[string]any{"reference": "ServiceRequest/" + jstr(in.Prior["id"])}}
	}

	// The Task update.
	task := cloneJSON(in.Task).(map[string]any)
	switch jstr(task["status"]) {
	case "requested", "received", "accepted", "ready", "on-hold":
		task["status"] = "in-progress"
	}
	task["businessStatus"] = map[string]any{"coding": []any{coding(snomed.NavigationStatus, string(d.Disposition))}, "text": d.Disposition.Text()}
	task["lastModified"] = now
	// The Task's priority follows the allocation's urgency (as the
	// allocation's and the review Task's do), whatever the request said:
	// a same-day allocation is not left on a routine Task.
	task["priority"] = priorityOf(d.Urgency)
	outSystem := names.System(snomed.NavigationOutput)
	var outputs []any
	for _, o := range jlist(task["output"]) {
		m, _ := o.(map[string]any)
		if codeOfSystem(m["type"], outSystem) == "" {
			outputs = append(outputs, o) // other systems' outputs are kept
		}
	}
	out := func(code, key string, value any) {
		outputs = append(outputs, map[string]any{"type": cc(snomed.NavigationOutput, code), key: value})
	}
	out("allocation", "valueReference", map[string]any{"reference": allocRef, "display": "Allocation: " + d.DestinationName()})
	out("decision", "valueCodeableConcept", map[string]any{"coding": []any{d.Codes.Code.JSON()}})
	out("urgency", "valueCodeableConcept", cc(snomed.NavigationUrgency, string(d.Urgency)))
	out("category", "valueCodeableConcept", cc(snomed.NavigationCategory, string(d.Category)))
	for _, r := range d.Rules {
		out("rule", "valueString", r.ID+": "+r.Text)
	}
	if d.Protocol != nil {
		out("protocol-version", "valueReference", map[string]any{"reference": d.Protocol.Reference(), "display": orText(d.Protocol.Title, d.Protocol.ID) + " version " + d.Protocol.Version})
	} else {
		out("protocol-version", "valueString", "none: practice "+d.Practice+" has no navigation protocol in force")
	}
	out("automated", "valueBoolean", d.Automated)
	out("safety-netting", "valueString", d.SafetyNetting)
	out("rationale", "valueString", strings.Join(d.Rationale, "\n"))
	task["output"] = outputs

	// Provenance.
	prov := map[string]any{
		"resourceType": "Provenance",
		"target":       []any{map[string]any{"reference": allocRef}},
		"recorded":     now,
		"activity":     map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": "CREATE", "display": "create"}}, "text": "care navigation decision"},
		"reason":       []any{map[string]any{"text": "Care navigation: " + d.Disposition.Text()}},
	}
	if !in.Proposal {
		prov["id"] = in.ProvenanceID
		prov["target"] = append(prov["target"].([]any), map[string]any{"reference": nextTaskVersion})
	}
	if d.Protocol != nil {
		prov["policy"] = []any{orText(d.Protocol.URL, names.Base()+"/PlanDefinition/"+d.Protocol.ID)}
	}
	agentType := func(code, display string) map[string]any {
		return map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": code, "display": display}}}
	}
	var agents []any
	if d.Automated {
		engine := "Signpost navigation engine"
		if d.Protocol != nil {
			engine += ", " + d.Protocol.Label()
		}
		agents = append(agents, map[string]any{"type": agentType("author", "Author"),
			"who":        map[string]any{"type": "Device", "identifier": map[string]any{"system": in.EngineIdentifierSystem, "value": "navigation-engine"}, "display": engine},
			"onBehalfOf": practice})
		if in.Caller.Value != "" {
			agents = append(agents, map[string]any{"type": agentType("enterer", "Enterer"), "who": in.Caller.reference(), "onBehalfOf": practice})
		}
	} else {
		agents = append(agents, map[string]any{"type": agentType("author", "Author"), "who": d.Decider.reference(), "onBehalfOf": practice})
	}
	prov["agent"] = agents
	entities := []any{map[string]any{"role": "source", "what": map[string]any{"reference": taskRef + "/_history/" + strconv.FormatInt(version, 10), "display": "The navigation request as assessed"}}}
	if d.Protocol != nil {
		entities = append(entities, map[string]any{"role": "source", "what": map[string]any{"reference": d.Protocol.Reference(), "display": d.Protocol.Label()}})
	}
	if d.Codes.Map != "" {
		entities = append(entities, map[string]any{"role": "source", "what": map[string]any{"reference": "ConceptMap/" + snomed.AllocationMap, "display": "Allocation ConceptMap " + d.Codes.Map}})
	}
	if need.Known && need.Observation != "" {
		entities = append(entities, map[string]any{"role": "source", "what": map[string]any{"reference": need.Observation, "display": "Patient need group"}})
	}
	if in.Prior != nil {
		entities = append(entities, map[string]any{"role": "revision", "what": map[string]any{"reference": "ServiceRequest/" + jstr(in.Prior["id"]), "display": "The allocation this decision replaces"}})
	}
	prov["entity"] = entities

	rec := &Records{Task: task, Allocation: sr, Provenance: prov}

	// The clinician-review Task.
	if d.Disposition == DispositionEscalated || d.Disposition == DispositionReview {
		rv := map[string]any{
			"resourceType":   "Task",
			"status":         "requested",
			"intent":         "order",
			"priority":       priorityOf(d.Urgency),
			"code":           cc(snomed.NavigationTask, "clinician-review"),
			"businessStatus": map[string]any{"coding": []any{coding(snomed.NavigationStatus, string(d.Disposition))}},
			"description":    "Clinician review of a care navigation decision: " + strings.Join(d.ReviewReasons, "; "),
			"focus":          map[string]any{"reference": allocRef, "display": "The proposed allocation"},
			"for":            in.Task["for"],
			"partOf":         []any{map[string]any{"reference": taskRef}},
			"authoredOn":     now,
			"owner":          in.Task["owner"],
			"reasonCode":     map[string]any{"text": strings.Join(d.ReviewReasons, "; ")},
		}
		if !in.Proposal {
			rv["id"] = in.ReviewID
		}
		rec.Review = rv
	}
	if in.Prior != nil {
		rv := cloneJSON(in.Prior).(map[string]any)
		why := "replaced by " + allocRef
		if d.Declined != nil {
			why = "declined by the patient"
			if d.Declined.ByService {
				why = "turned away by the service"
			}
			if d.Declined.Reason != "" {
				why += " (" + d.Declined.Reason + ")"
			}
			why += "; replaced by " + allocRef
		}
		rv["status"] = "revoked"
		rv["note"] = append(jlist(rv["note"]), map[string]any{"text": "Revoked: " + why, "time": now})
		rec.Revoked = rv
	}
	return rec, nil
}

// reference is the decider as a Reference.
func (d Decider) reference() map[string]any {
	m := map[string]any{"display": orText(d.Display, d.Value)}
	if d.Value != "" {
		m["identifier"] = map[string]any{"system": d.System, "value": d.Value}
	}
	if d.Type != "" {
		m["type"] = d.Type
	}
	return m
}

// priorityOf is the R4 request priority of an urgency: emergency stat,
// same-day asap, within-week urgent, routine routine.
func priorityOf(u Urgency) string {
	switch u {
	case UrgencyEmergency:
		return "stat"
	case UrgencySameDay:
		return "asap"
	case UrgencyWithinWeek:
		return "urgent"
	}
	return "routine"
}

// Text says what the disposition means, for people.
func (d Disposition) Text() string {
	switch d {
	case DispositionProposed:
		return "Proposed: a person confirms the decision"
	case DispositionReview:
		return "Review requested: a clinician reviews the decision"
	case DispositionEscalated:
		return "Escalated: a clinician decides"
	}
	return "Allocated"
}

func dateText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " on " + t.In(London).Format("2006-01-02")
}

var modeDisplays = map[string]string{
	ModeFaceToFace:    "Face to face consultation encounter type",
	ModeTelephone:     "Telephone consultation",
	ModeVideo:         "Consultation via video conference",
	ModeOnlineMessage: "eConsultation via online application",
	ModeHomeVisit:     "Home visit",
}

// localDisplay is the display of a navigation code (the shipped ones).
func localDisplay(system, code string) string {
	return localDisplays[system+"|"+code]
}

var localDisplays = func() map[string]string {
	t, err := snomed.New(mustShipped(), snomed.Options{})
	if err != nil {
		panic("mapping: " + err.Error())
	}
	out := map[string]string{}
	for _, sys := range []string{snomed.NavigationCategory, snomed.NavigationUrgency, snomed.NavigationStatus, snomed.NavigationOutput, snomed.NavigationTask} {
		for _, code := range localCodes[sys] {
			if d := t.LocalCoding(sys, code).Display; d != "" {
				out[sys+"|"+code] = d
			}
		}
	}
	return out
}()

var localCodes = map[string][]string{
	snomed.NavigationCategory: {"emergency", "clinician", "practice-team", "external-referral", "signpost", "self-care", "administrative"},
	snomed.NavigationUrgency:  {"emergency", "same-day", "within-week", "routine"},
	snomed.NavigationStatus:   {"captured", "awaiting-information", "escalated", "proposed", "allocated", "declined", "review-requested", "closed", "referral-accepted", "referral-cancelled"},
	snomed.NavigationOutput:   {"allocation", "decision", "urgency", "category", "rule", "protocol-version", "automated", "safety-netting", "rationale"},
	snomed.NavigationTask:     {"navigate", "clinician-review"},
}

func mustShipped() *snomed.ConceptSet {
	cs, err := snomed.Shipped()
	if err != nil {
		panic("mapping: the shipped SNOMED CT subset does not load: " + err.Error())
	}
	return cs
}

// cloneJSON deep-copies a JSON tree.
func cloneJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(x))
		for k, e := range x {
			c[k] = cloneJSON(e)
		}
		return c
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = cloneJSON(e)
		}
		return c
	}
	return v
}
