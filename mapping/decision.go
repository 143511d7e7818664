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
// Everything is built from typed values (r4.go) and handed on as JSON
// trees, which the caller validates as R4.

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

// Records builds the resources of a decision. The allocation, its
// Provenance and the review Task are built whole from typed values (r4.go);
// the Task update and the revoked allocation are the stored resources as
// they were, with only the elements the decision changes replaced.
func (e *Engine) Records(in RecordInput) (*Records, error) {
	d := in.Decision
	if d == nil || in.Task == nil {
		return nil, fmt.Errorf("mapping: Records needs a decision and the Task")
	}
	taskID := fhir.Str(in.Task["id"])
	version, _ := strconv.ParseInt(fhir.Str(object(in.Task["meta"])["versionId"]), 10, 64)
	ref := func(typ, id string) string {
		if in.Proposal {
			return "urn:uuid:" + id
		}
		return typ + "/" + id
	}
	now := in.Now.UTC().Format(fhir.InstantFormat)
	names := e.Names
	cc := func(system, code string) *r4CodeableConcept {
		c := snomed.Coding{System: names.System(system), Code: code}
		if disp := localDisplay(system, code); disp != "" {
			c.Display = disp
		}
		return concept(c, "")
	}
	allocRef := ref("ServiceRequest", in.AllocationID)
	taskRef := "Task/" + taskID
	nextTaskVersion := taskRef + "/_history/" + strconv.FormatInt(version+1, 10)
	practiceID := &r4Identifier{System: ODSSystem, Value: d.Practice}
	practice := &r4Reference{Type: "Organization", Identifier: practiceID}
	priorRef := ""
	if in.Prior != nil {
		priorRef = "ServiceRequest/" + fhir.Str(in.Prior["id"])
	}

	// The allocation ServiceRequest.
	sr := &serviceRequest{
		ResourceType: "ServiceRequest",
		Status:       "active",
		Intent:       "order",
		Category:     []*r4CodeableConcept{cc(snomed.NavigationCategory, string(d.Category))},
		Priority:     priorityOf(d.Urgency),
		Code:         concept(d.Codes.Code, orText(d.Codes.Code.Display, d.Codes.Code.Code)),
		Subject:      in.Task["for"],
		AuthoredOn:   now,
		OccurrencePeriod: &r4Period{
			Start: d.From.UTC().Format(fhir.InstantFormat), End: d.To.UTC().Format(fhir.InstantFormat),
		},
		PatientInstruction: d.SafetyNetting,
	}
	if !d.Disposition.Final() {
		sr.Status, sr.Intent = "draft", "proposal"
	}
	if !in.Proposal {
		sr.ID = in.AllocationID
	}
	if d.Automated {
		sr.Requester = practice
	} else {
		sr.Requester = d.Decider.reference()
	}
	if d.Codes.PerformerType != nil {
		sr.PerformerType = concept(*d.Codes.PerformerType, "")
	}
	if d.Continuity && d.Category == CategoryClinician && d.Assessment.Request.PreferredPractitioner != nil {
		sr.Performer = append(sr.Performer, d.Assessment.Request.PreferredPractitioner.JSON)
	}
	switch {
	case d.Service != nil:
		sr.Performer = append(sr.Performer, &r4Reference{Reference: "HealthcareService/" + d.Service.ID, Display: d.Service.Label()})
	case d.Role != nil:
		sr.Performer = append(sr.Performer, &r4Reference{Reference: "PractitionerRole/" + d.Role.ID, Display: orText(d.Role.Display, d.Role.ID)})
	case d.PracticeFallback:
		sr.Performer = append(sr.Performer, &r4Reference{Type: "Organization", Identifier: practiceID, Display: "Practice " + d.Practice})
	}
	if c, ok := modeConcepts[d.Mode]; ok {
		sr.LocationCode = []*r4CodeableConcept{concept(snomed.Coding{System: snomed.System, Code: c, Display: modeDisplays[d.Mode]}, d.Mode)}
	}
	if d.Professional != nil {
		sr.OrderDetail = append(sr.OrderDetail, concept(*d.Professional, "Professional: "+orText(d.Professional.Display, d.Professional.Code)))
	}
	if d.Minutes > 0 {
		sr.OrderDetail = append(sr.OrderDetail, &r4CodeableConcept{Text: fmt.Sprintf("Appointment length: %d minutes", d.Minutes)})
	}
	if d.TurnaroundDays > 0 {
		sr.OrderDetail = append(sr.OrderDetail, &r4CodeableConcept{Text: fmt.Sprintf("Turnaround: %d days", d.TurnaroundDays)})
	}
	for _, r := range d.Requirements {
		sr.OrderDetail = append(sr.OrderDetail, &r4CodeableConcept{Text: r})
	}
	need := d.Assessment.Need
	if need.Known {
		sr.SupportingInfo = append(sr.SupportingInfo, r4Reference{Reference: need.Observation,
			Display: fmt.Sprintf("Patient need group %s (%s), from %s%s", need.Code, needGroupDisplay[need.Code], orText(need.Source, "the shared care record"), dateText(need.Date))})
	} else {
		sr.SupportingInfo = append(sr.SupportingInfo, r4Reference{Display: "Patient need group unknown (treated as unknown, never as low)"})
	}
	if cn := d.Assessment.Request.CommunicationNeeds; len(cn) > 0 {
		var labels []string
		for _, c := range cn {
			labels = append(labels, orText(c.Display, "SNOMED CT "+c.Code))
		}
		sr.SupportingInfo = append(sr.SupportingInfo, r4Reference{Reference: taskRef, Display: "Communication needs: " + strings.Join(labels, "; ")})
	}
	if d.Note != "" {
		sr.Note = []r4Annotation{{Text: d.Note, Time: now}}
	}
	if in.Prior != nil {
		sr.Replaces = []r4Reference{{Reference: priorRef}}
	}

	// The Task update.
	up := taskUpdate{LastModified: now,
		BusinessStatus: cc(snomed.NavigationStatus, string(d.Disposition)),
		// The Task's priority follows the allocation's urgency (as the
		// allocation's and the review Task's do), whatever the request
		// said: a same-day allocation is not left on a routine Task.
		Priority: priorityOf(d.Urgency),
	}
	up.BusinessStatus.Text = d.Disposition.Text()
	switch fhir.Str(in.Task["status"]) {
	case "requested", "received", "accepted", "ready", "on-hold":
		up.Status = "in-progress"
	}
	out := func(code string, o taskOutput) {
		o.Type = cc(snomed.NavigationOutput, code)
		up.Output = append(up.Output, o)
	}
	str := func(s string) taskOutput { return taskOutput{ValueString: &s} }
	out("allocation", taskOutput{ValueReference: &r4Reference{Reference: allocRef, Display: "Allocation: " + d.DestinationName()}})
	out("decision", taskOutput{ValueCodeableConcept: concept(d.Codes.Code, "")})
	out("urgency", taskOutput{ValueCodeableConcept: cc(snomed.NavigationUrgency, string(d.Urgency))})
	out("category", taskOutput{ValueCodeableConcept: cc(snomed.NavigationCategory, string(d.Category))})
	for _, r := range d.Rules {
		out("rule", str(r.ID+": "+r.Text))
	}
	if d.Protocol != nil {
		out("protocol-version", taskOutput{ValueReference: &r4Reference{Reference: d.Protocol.Reference(), Display: orText(d.Protocol.Title, d.Protocol.ID) + " version " + d.Protocol.Version}})
	} else {
		out("protocol-version", str("none: practice "+d.Practice+" has no navigation protocol in force"))
	}
	automated := d.Automated
	out("automated", taskOutput{ValueBoolean: &automated})
	out("safety-netting", str(d.SafetyNetting))
	out("rationale", str(strings.Join(d.Rationale, "\n")))

	// Provenance.
	prov := &provenance{
		ResourceType: "Provenance",
		Target:       []r4Reference{{Reference: allocRef}},
		Recorded:     now,
		Activity: concept(snomed.Coding{System: "http://terminology.hl7.org/CodeSystem/v3-DataOperation", Code: "CREATE", Display: "create"},
			"care navigation decision"),
		Reason: []*r4CodeableConcept{{Text: "Care navigation: " + d.Disposition.Text()}},
	}
	if !in.Proposal {
		prov.ID = in.ProvenanceID
		prov.Target = append(prov.Target, r4Reference{Reference: nextTaskVersion})
	}
	if d.Protocol != nil {
		prov.Policy = []string{orText(d.Protocol.URL, names.Base()+"/PlanDefinition/"+d.Protocol.ID)}
	}
	agentType := func(code, display string) *r4CodeableConcept {
		return concept(snomed.Coding{System: "http://terminology.hl7.org/CodeSystem/provenance-participant-type", Code: code, Display: display}, "")
	}
	if d.Automated {
		engine := "Signpost navigation engine"
		if d.Protocol != nil {
			engine += ", " + d.Protocol.Label()
		}
		prov.Agent = append(prov.Agent, provenanceAgent{Type: agentType("author", "Author"),
			Who:        &r4Reference{Type: "Device", Identifier: &r4Identifier{System: in.EngineIdentifierSystem, Value: "navigation-engine"}, Display: engine},
			OnBehalfOf: practice})
		if in.Caller.Value != "" {
			prov.Agent = append(prov.Agent, provenanceAgent{Type: agentType("enterer", "Enterer"), Who: in.Caller.reference(), OnBehalfOf: practice})
		}
	} else {
		prov.Agent = append(prov.Agent, provenanceAgent{Type: agentType("author", "Author"), Who: d.Decider.reference(), OnBehalfOf: practice})
	}
	source := func(ref, display string) provenanceEntity {
		return provenanceEntity{Role: "source", What: &r4Reference{Reference: ref, Display: display}}
	}
	prov.Entity = append(prov.Entity, source(taskRef+"/_history/"+strconv.FormatInt(version, 10), "The navigation request as assessed"))
	if d.Protocol != nil {
		prov.Entity = append(prov.Entity, source(d.Protocol.Reference(), d.Protocol.Label()))
	}
	if d.Codes.Map != "" {
		prov.Entity = append(prov.Entity, source("ConceptMap/"+snomed.AllocationMap, "Allocation ConceptMap "+d.Codes.Map))
	}
	if need.Known && need.Observation != "" {
		prov.Entity = append(prov.Entity, source(need.Observation, "Patient need group"))
	}
	if in.Prior != nil {
		prov.Entity = append(prov.Entity, provenanceEntity{Role: "revision", What: &r4Reference{Reference: priorRef, Display: "The allocation this decision replaces"}})
	}

	// The clinician-review Task.
	var review *reviewTask
	if d.Disposition == DispositionEscalated || d.Disposition == DispositionReview {
		review = &reviewTask{
			ResourceType:   "Task",
			Status:         "requested",
			Intent:         "order",
			Priority:       priorityOf(d.Urgency),
			Code:           cc(snomed.NavigationTask, "clinician-review"),
			BusinessStatus: cc(snomed.NavigationStatus, string(d.Disposition)),
			Description:    "Clinician review of a care navigation decision: " + strings.Join(d.ReviewReasons, "; "),
			Focus:          &r4Reference{Reference: allocRef, Display: "The proposed allocation"},
			For:            in.Task["for"],
			PartOf:         []r4Reference{{Reference: taskRef}},
			AuthoredOn:     now,
			Owner:          in.Task["owner"],
			ReasonCode:     &r4CodeableConcept{Text: strings.Join(d.ReviewReasons, "; ")},
		}
		if !in.Proposal {
			review.ID = in.ReviewID
		}
	}
	var revokedNote *r4Annotation
	if in.Prior != nil {
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
		revokedNote = &r4Annotation{Text: "Revoked: " + why, Time: now}
	}
	return e.records(in, sr, up, prov, review, revokedNote)
}

// records turns the built values into the trees of Records: the Task and
// the prior allocation are copies of the stored ones with the decision's
// elements set.
func (e *Engine) records(in RecordInput, sr *serviceRequest, up taskUpdate, prov *provenance, review *reviewTask, revokedNote *r4Annotation) (*Records, error) {
	rec := &Records{}
	var err error
	if rec.Allocation, err = fhir.Tree(sr); err != nil {
		return nil, err
	}
	if rec.Provenance, err = fhir.Tree(prov); err != nil {
		return nil, err
	}
	if review != nil {
		if rec.Review, err = fhir.Tree(review); err != nil {
			return nil, err
		}
	}
	changes, err := fhir.Tree(up)
	if err != nil {
		return nil, err
	}
	task := fhir.CloneObject(in.Task)
	// Other systems' outputs are kept, first; the navigation outputs are
	// the decision's.
	outSystem := e.Names.System(snomed.NavigationOutput)
	var outputs []any
	for _, o := range fhir.List(task["output"]) {
		if codeOfSystem(object(o)["type"], outSystem) == "" {
			outputs = append(outputs, o)
		}
	}
	changes["output"] = append(outputs, fhir.List(changes["output"])...)
	for k, v := range changes {
		task[k] = v
	}
	rec.Task = task
	if in.Prior != nil {
		note, err := fhir.Tree(revokedNote)
		if err != nil {
			return nil, err
		}
		rv := fhir.CloneObject(in.Prior)
		rv["status"] = "revoked"
		rv["note"] = append(fhir.List(rv["note"]), note)
		rec.Revoked = rv
	}
	return rec, nil
}

// reference is the decider as a Reference.
func (d Decider) reference() *r4Reference {
	r := &r4Reference{Display: orText(d.Display, d.Value), Type: d.Type}
	if d.Value != "" {
		r.Identifier = &r4Identifier{System: d.System, Value: d.Value}
	}
	return r
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
