package mapping

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/snomed"
)

// Intake: a navigation request is a Task (NAVIGATION-API.md, "Intake: a
// Task") whose code is navigation-task navigate. Its inputs are keyed by
// navigation-input codes and carry the value type the contract's table
// gives each. The same inputs are read on every contact route: nothing
// below depends on whether the request came by phone, online or at the
// desk, which is the guide's "one process for all contact routes".
//
// ParseNavigationTask reads a Task into a Request and reports, as
// OperationOutcome issues naming Task.input[i], everything that breaks the
// contract; CheckNavigationTask is the write check built on it, together
// with the R4 Task state machine (CheckTaskTransition).

// The navigation-input codes.
const (
	InputContactRoute          = "contact-route"
	InputRequestType           = "request-type"
	InputAdminKind             = "admin-kind"
	InputInformant             = "informant"
	InputProblem               = "problem"
	InputSymptom               = "symptom"
	InputDuration              = "duration"
	InputAskedBefore           = "asked-before"
	InputTrend                 = "trend"
	InputTried                 = "tried"
	InputSeenElsewhere         = "seen-elsewhere"
	InputICE                   = "ice"
	InputPreferredMode         = "preferred-mode"
	InputPreferredPractitioner = "preferred-practitioner"
	InputUnavailable           = "unavailable"
	InputCommunicationNeed     = "communication-need"
	InputContactPhone          = "contact-phone"
	InputSMSConsent            = "sms-consent"
	InputPatientUrgency        = "patient-urgency"
	InputEscalatingConcern     = "escalating-concern"
	InputAutomatedConsent      = "automated-decision-consent"
	InputShareConsent          = "share-consent"
)

// Request types and administrative kinds.
const (
	RequestClinical       = "clinical"
	RequestAdministrative = "administrative"
)

// NHSNumberSystem is the identifier system of NHS numbers.
const NHSNumberSystem = "https://fhir.nhs.uk/Id/nhs-number"

// inputSpec is one row of the contract's input table.
type inputSpec struct {
	// value is the value[x] suffix the input must use.
	value string
	// repeats: the input may appear more than once (0..*).
	repeats bool
	// codes are the codes a valueCode may take.
	codes []string
	// targets are the resource types a valueReference may point at.
	targets []string
	// snomed: the CodeableConcept must carry a SNOMED CT coding.
	snomed bool
}

var (
	contactRoutes  = []string{"phone", "online", "walk-in", "referral"}
	requestTypes   = []string{RequestClinical, RequestAdministrative}
	adminKinds     = []string{"fit-note", "repeat-prescription", "test-result", "insurance-report", "other"}
	trends         = []string{"worse", "same", "better"}
	preferredModes = []string{ModeFaceToFace, ModeTelephone, ModeVideo, ModeOnlineMessage}
	urgencyCodes   = []string{string(UrgencyEmergency), string(UrgencySameDay), string(UrgencyWithinWeek), string(UrgencyRoutine)}
)

var inputSpecs = map[string]inputSpec{
	InputContactRoute:          {value: "Code", codes: contactRoutes},
	InputRequestType:           {value: "Code", codes: requestTypes},
	InputAdminKind:             {value: "Code", codes: adminKinds},
	InputInformant:             {value: "Reference", targets: []string{"RelatedPerson"}},
	InputProblem:               {value: "String"},
	InputSymptom:               {value: "CodeableConcept", repeats: true, snomed: true},
	InputDuration:              {value: "Duration"},
	InputAskedBefore:           {value: "Boolean"},
	InputTrend:                 {value: "Code", codes: trends},
	InputTried:                 {value: "String"},
	InputSeenElsewhere:         {value: "CodeableConcept", repeats: true, snomed: true},
	InputICE:                   {value: "String"},
	InputPreferredMode:         {value: "Code", codes: preferredModes},
	InputPreferredPractitioner: {value: "Reference", targets: []string{"Practitioner", "PractitionerRole"}},
	InputUnavailable:           {value: "Period", repeats: true},
	InputCommunicationNeed:     {value: "CodeableConcept", repeats: true, snomed: true},
	InputContactPhone:          {value: "String"},
	InputSMSConsent:            {value: "Boolean"},
	InputPatientUrgency:        {value: "Code", codes: urgencyCodes},
	InputEscalatingConcern:     {value: "Boolean"},
	InputAutomatedConsent:      {value: "Boolean"},
	InputShareConsent:          {value: "Boolean"},
}

// Request is a navigation Task as the engine reads it.
type Request struct {
	TaskID, VersionID string
	Status            string
	BusinessStatus    string
	// StatusReason is Task.statusReason's text (a decline's reason).
	StatusReason string
	// Patient is Task.for: a literal reference and/or an NHS number.
	Patient PatientRef
	// Practice is the owner's ODS code.
	Practice   string
	AuthoredOn time.Time

	ContactRoute string
	RequestType  string
	AdminKind    string
	// Informant is the informant's Reference, nil when the patient gave
	// the information.
	Informant *ClientReference
	Problem   string
	Symptoms  []snomed.Coding
	// DurationDays is the duration in days; HasDuration says it was given.
	DurationDays float64
	HasDuration  bool
	AskedBefore  *bool
	Trend        string
	Tried        string
	// SeenElsewhere are the services already seen about this.
	SeenElsewhere         []snomed.Coding
	ICE                   string
	PreferredMode         string
	PreferredPractitioner *ClientReference
	Unavailable           []Span
	CommunicationNeeds    []snomed.Coding
	ContactPhone          string
	SMSConsent            *bool
	PatientUrgency        Urgency
	EscalatingConcern     bool
	// AutomatedConsent is nil when not asked: treated as no consent.
	AutomatedConsent *bool
	// ShareConsent is nil when not asked: the patient's agreement that
	// their details go to the service they are referred to.
	ShareConsent *bool

	// Outputs of an earlier navigation, read so a re-navigation can
	// revoke what it replaces: the allocation reference ("" when none).
	PriorAllocation string
}

// PatientRef says who the patient is: a literal reference on this server
// ("Patient/123") and/or an NHS number.
type PatientRef struct {
	Reference string
	NHSNumber string
}

// ClientReference is a Reference a client gave: what mapping reads of it,
// and the JSON as the client sent it, which is what mapping hands on
// (an allocation repeats the preferred practitioner as given).
type ClientReference struct {
	Reference, Type, Display string
	// JSON is the Reference as stored, never re-encoded from the fields.
	JSON clientJSON
}

// ReferenceJSON is the reference as FHIR JSON, as the Task gave it.
func (p PatientRef) ReferenceJSON() map[string]any {
	r := &r4Reference{Type: "Patient", Reference: p.Reference}
	if p.NHSNumber != "" {
		r.Identifier = &r4Identifier{System: NHSNumberSystem, Value: p.NHSNumber}
	}
	// Strings only: building the tree cannot fail.
	m, _ := fhir.Tree(r)
	return m
}

// NavigationNames names the navigation contract's local code systems under
// a canonical base.
type NavigationNames struct{ base string }

// NewNavigationNames returns the names under base; "" is snomed.DefaultBase.
func NewNavigationNames(base string) NavigationNames {
	base = strings.TrimRight(base, "/")
	if base == "" {
		base = snomed.DefaultBase
	}
	return NavigationNames{base: base}
}

// Base is the canonical base.
func (n NavigationNames) Base() string { return n.base }

// System is the canonical URL of a local code system.
func (n NavigationNames) System(id string) string { return n.base + "/CodeSystem/" + id }

// IsNavigationTask reports whether a Task is a navigation request (code
// navigation-task navigate).
func (n NavigationNames) IsNavigationTask(obj map[string]any) bool {
	return taskCode(obj["code"], n.System(snomed.NavigationTask)) == "navigate"
}

// IsReviewTask reports whether a Task is a clinician-review Task.
func (n NavigationNames) IsReviewTask(obj map[string]any) bool {
	return taskCode(obj["code"], n.System(snomed.NavigationTask)) == "clinician-review"
}

// taskCode is the code of system in a Task's code (a CodeableConcept).
func taskCode(code any, system string) string {
	for _, c := range ccCodings(code) {
		if c.System == system {
			return c.Code
		}
	}
	return ""
}

// ParseNavigationTask reads a navigation Task. The issues are everything
// that breaks the contract (errors) or is worth telling the sender
// (warnings), each naming the element. R4 validation has run before, so
// shapes are R4's; this checks what the contract adds.
func ParseNavigationTask(obj map[string]any, n NavigationNames) (*Request, []fhir.Issue) {
	p := &intakeParser{n: n}
	return p.parse(viewTask(obj)), p.issues
}

type intakeParser struct {
	n      NavigationNames
	issues []fhir.Issue
}

func (p *intakeParser) add(sev fhir.Severity, code fhir.IssueCode, expr, format string, args ...any) {
	p.issues = append(p.issues, fhir.Issue{Severity: sev, Code: code, Diagnostics: fmt.Sprintf(format, args...), Expression: []string{expr}})
}

func (p *intakeParser) errorf(code fhir.IssueCode, expr, format string, args ...any) {
	p.add(fhir.SeverityError, code, expr, format, args...)
}

func (p *intakeParser) parse(t taskView) *Request {
	r := &Request{TaskID: t.ID, Status: t.Status, VersionID: t.VersionID}
	if t.Intent != "order" {
		p.errorf(fhir.CodeValue, "Task.intent", "a navigation Task has intent order, not %q", t.Intent)
	}
	for _, c := range ccCodings(t.BusinessStatus) {
		if c.System == p.n.System(snomed.NavigationStatus) {
			r.BusinessStatus = c.Code
			if !navigationStatuses[c.Code] {
				p.errorf(fhir.CodeCodeInvalid, "Task.businessStatus", "%q is not a code of %s", c.Code, c.System)
			}
		}
	}
	r.StatusReason = t.StatusReasonText
	p.patient(r, t.For)
	p.owner(r, t.Owner)
	if t.AuthoredOn == "" {
		p.errorf(fhir.CodeRequired, "Task.authoredOn", "a navigation Task says when the contact was made (authoredOn)")
	} else if at, ok := navDateTime(t.AuthoredOn, false); ok {
		r.AuthoredOn = at
	}
	seen := map[string]int{}
	for i, in := range t.Input {
		p.input(r, in, i, seen)
	}
	// Required inputs (the contract's table).
	if seen[InputContactRoute] == 0 {
		p.errorf(fhir.CodeRequired, "Task.input", "input %s (phone, online, walk-in or referral) is required", InputContactRoute)
	}
	if seen[InputRequestType] == 0 {
		p.errorf(fhir.CodeRequired, "Task.input", "input %s (clinical or administrative) is required", InputRequestType)
	}
	if r.RequestType == RequestClinical && strings.TrimSpace(r.Problem) == "" {
		p.errorf(fhir.CodeRequired, "Task.input", "input %s (what the patient needs help with) is required for a clinical request", InputProblem)
	}
	if r.RequestType == RequestAdministrative && r.AdminKind == "" {
		p.add(fhir.SeverityWarning, fhir.CodeRequired, "Task.input", "an administrative request without %s is routed as %q", InputAdminKind, "other")
	}
	for _, o := range t.Output {
		if codeOfSystem(o.Type, p.n.System(snomed.NavigationOutput)) == "allocation" {
			if ref := viewReference(o.valueNamed("valueReference")); ref.Raw != nil {
				r.PriorAllocation = ref.Reference
			}
		}
	}
	return r
}

var navigationStatuses = map[string]bool{"captured": true, "awaiting-information": true, "escalated": true, "proposed": true,
	"allocated": true, "declined": true, "review-requested": true, "closed": true, "referral-accepted": true, "referral-cancelled": true}

func (p *intakeParser) patient(r *Request, ref referenceView) {
	if ref.Raw == nil {
		p.errorf(fhir.CodeRequired, "Task.for", "a navigation Task names its patient (for: a Patient reference or an NHS number identifier)")
		return
	}
	if ref.Reference != "" {
		typ, id := splitRef(ref.Reference)
		if typ != "Patient" || !fhir.ValidID(id) {
			p.errorf(fhir.CodeValue, "Task.for.reference", "for must reference a Patient (Patient/[id]), not %q", ref.Reference)
		} else {
			r.Patient.Reference = "Patient/" + id
		}
	}
	if t := ref.Type; t != "" && t != "Patient" {
		p.errorf(fhir.CodeValue, "Task.for.type", "for is a Patient, not a %s", t)
	}
	if id := ref.Identifier; ref.HasIdentifier && id.System == NHSNumberSystem {
		v := strings.ReplaceAll(id.Value, " ", "")
		if !ValidNHSNumber(v) {
			p.errorf(fhir.CodeValue, "Task.for.identifier.value", "%q is not a valid NHS number (10 digits with a modulus 11 check digit)", id.Value)
		} else {
			r.Patient.NHSNumber = v
		}
	}
	if r.Patient.Reference == "" && r.Patient.NHSNumber == "" && !hasErrorAt(p.issues, "Task.for") {
		p.errorf(fhir.CodeRequired, "Task.for", "for must carry a Patient reference or an NHS number identifier (%s)", NHSNumberSystem)
	}
}

func hasErrorAt(issues []fhir.Issue, prefix string) bool {
	for _, is := range issues {
		for _, e := range is.Expression {
			if strings.HasPrefix(e, prefix) && is.Severity == fhir.SeverityError {
				return true
			}
		}
	}
	return false
}

func (p *intakeParser) owner(r *Request, ref referenceView) {
	id := ref.Identifier
	if id.System != ODSSystem || strings.TrimSpace(id.Value) == "" {
		p.errorf(fhir.CodeRequired, "Task.owner", "a navigation Task names the practice that owns it (owner.identifier with system %s)", ODSSystem)
		return
	}
	r.Practice = strings.ToUpper(strings.TrimSpace(id.Value))
}

func (p *intakeParser) input(r *Request, in parameterView, i int, seen map[string]int) {
	expr := fmt.Sprintf("Task.input[%d]", i)
	system := p.n.System(snomed.NavigationInput)
	code := ""
	for _, c := range ccCodings(in.Type) {
		if c.System == system {
			code = c.Code
			break
		}
	}
	if code == "" {
		p.add(fhir.SeverityWarning, fhir.CodeCodeInvalid, expr+".type", "the input has no %s coding; it is kept but not read", system)
		return
	}
	spec, ok := inputSpecs[code]
	if !ok {
		p.errorf(fhir.CodeCodeInvalid, expr+".type", "%q is not a code of %s", code, system)
		return
	}
	seen[code]++
	if seen[code] > 1 && !spec.repeats {
		p.errorf(fhir.CodeStructure, expr, "input %s appears more than once; it takes one value", code)
		return
	}
	// value[x] is one element: a Task.input carrying two is refused, the
	// same way whichever order its keys come in (the view lists them by
	// name).
	if len(in.Values) > 1 {
		keys := make([]string, len(in.Values))
		for j, v := range in.Values {
			keys[j] = v.Name
		}
		p.errorf(fhir.CodeStructure, expr, "input %s carries %s; value[x] takes one of them", code, strings.Join(keys, " and "))
		return
	}
	key, value := "", any(nil)
	if len(in.Values) == 1 {
		key, value = in.Values[0].Name, in.Values[0].Value
	}
	if key != "value"+spec.value {
		if key == "" {
			p.errorf(fhir.CodeRequired, expr, "input %s has no value; it takes value%s", code, spec.value)
		} else {
			p.errorf(fhir.CodeValue, expr+"."+key, "input %s takes value%s, not %s", code, spec.value, key)
		}
		return
	}
	vexpr := expr + "." + key
	switch spec.value {
	case "Code":
		s := fhir.Str(value)
		if !containsStr(spec.codes, s) {
			p.errorf(fhir.CodeCodeInvalid, vexpr, "input %s takes one of %s, not %q", code, strings.Join(spec.codes, ", "), s)
			return
		}
		switch code {
		case InputContactRoute:
			r.ContactRoute = s
		case InputRequestType:
			r.RequestType = s
		case InputAdminKind:
			r.AdminKind = s
		case InputTrend:
			r.Trend = s
		case InputPreferredMode:
			r.PreferredMode = s
		case InputPatientUrgency:
			r.PatientUrgency = Urgency(s)
		}
	case "String":
		s := fhir.Str(value)
		switch code {
		case InputProblem:
			r.Problem = s
		case InputTried:
			r.Tried = s
		case InputICE:
			r.ICE = s
		case InputContactPhone:
			r.ContactPhone = s
		}
	case "Boolean":
		b, _ := value.(bool)
		switch code {
		case InputAskedBefore:
			r.AskedBefore = &b
		case InputSMSConsent:
			r.SMSConsent = &b
		case InputEscalatingConcern:
			r.EscalatingConcern = b
		case InputAutomatedConsent:
			r.AutomatedConsent = &b
		case InputShareConsent:
			r.ShareConsent = &b
		}
	case "Reference":
		ref := viewReference(value)
		if s := ref.Reference; s != "" && !strings.HasPrefix(s, "#") {
			typ, _ := splitRef(s)
			if !containsStr(spec.targets, typ) {
				p.errorf(fhir.CodeValue, vexpr+".reference", "input %s references a %s, not a %s", code, strings.Join(spec.targets, " or "), typ)
				return
			}
		}
		if t := ref.Type; t != "" && !containsStr(spec.targets, t) {
			p.errorf(fhir.CodeValue, vexpr+".type", "input %s references a %s, not a %s", code, strings.Join(spec.targets, " or "), t)
			return
		}
		// The client's Reference is kept as it was: the allocation
		// repeats it (continuity).
		if code == InputInformant {
			r.Informant = ref.client()
		} else {
			r.PreferredPractitioner = ref.client()
		}
	case "CodeableConcept":
		var sct []snomed.Coding
		for _, c := range ccCodings(value) {
			if c.System == snomed.System && c.Code != "" {
				sct = append(sct, c)
			}
		}
		if spec.snomed && len(sct) == 0 {
			p.errorf(fhir.CodeCodeInvalid, vexpr, "input %s is coded in SNOMED CT (system %s); free text belongs in the problem input", code, snomed.System)
			return
		}
		switch code {
		case InputSymptom:
			r.Symptoms = append(r.Symptoms, sct...)
		case InputSeenElsewhere:
			// Each input is one service seen, whatever its codings.
			r.SeenElsewhere = append(r.SeenElsewhere, sct[0])
		case InputCommunicationNeed:
			r.CommunicationNeeds = append(r.CommunicationNeeds, sct...)
		}
	case "Duration":
		days, ok := durationDays(viewQuantity(value))
		if !ok {
			p.errorf(fhir.CodeValue, vexpr, "input %s takes a non-negative UCUM duration in min, h, d, wk, mo or a (system %s)", code, UCUMSystem)
			return
		}
		r.DurationDays, r.HasDuration = days, true
	case "Period":
		pd, _ := viewPeriod(value)
		start, ok1 := navDateTime(pd.Start, false)
		end, ok2 := navDateTime(pd.End, true)
		if !ok1 || !ok2 || !end.After(start) {
			p.errorf(fhir.CodeValue, vexpr, "input %s takes a period with a start and a later end", code)
			return
		}
		r.Unavailable = append(r.Unavailable, Span{Start: start, End: end})
	}
}

// durationDays reads a UCUM time quantity as days.
func durationDays(d quantityView) (float64, bool) {
	v, err := strconv.ParseFloat(d.Value, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false
	}
	if d.System != UCUMSystem {
		return 0, false
	}
	per := map[string]float64{"min": 1.0 / 1440, "h": 1.0 / 24, "d": 1, "wk": 7, "mo": 30.4375, "a": 365.25}[d.Code]
	if per == 0 {
		return 0, false
	}
	return v * per, true
}

// ValidNHSNumber checks an NHS number: ten digits, the last a modulus 11
// check digit of the first nine (weights 10 down to 2).
func ValidNHSNumber(s string) bool {
	if len(s) != 10 {
		return false
	}
	sum := 0
	for i := 0; i < 10; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		if i < 9 {
			sum += int(s[i]-'0') * (10 - i)
		}
	}
	check := 11 - sum%11
	if check == 11 {
		check = 0
	}
	return check != 10 && check == int(s[9]-'0')
}

// splitRef reads "Type/id" (or an absolute URL ending so, or with
// _history) into its type and id.
func splitRef(ref string) (string, string) {
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	parts := strings.Split(ref, "/")
	if len(parts) < 2 {
		return "", ""
	}
	return parts[len(parts)-2], parts[len(parts)-1]
}

// The R4 Task state machine (Task, "Status"): from each status, the
// statuses a Task may move to. Any status may move to entered-in-error;
// staying in a status is always allowed. rejected, cancelled, completed,
// failed and entered-in-error are final.
var taskTransitions = map[string][]string{
	"draft":       {"requested", "ready", "cancelled"},
	"requested":   {"received", "accepted", "rejected", "ready", "in-progress", "cancelled"},
	"received":    {"accepted", "rejected", "ready", "in-progress", "cancelled"},
	"accepted":    {"ready", "in-progress", "cancelled"},
	"ready":       {"in-progress", "cancelled", "failed"},
	"in-progress": {"on-hold", "completed", "failed", "cancelled"},
	"on-hold":     {"in-progress", "failed", "cancelled"},
}

// TaskTransitionAllowed reports whether a Task may move from one status to
// another (see taskTransitions).
func TaskTransitionAllowed(from, to string) bool {
	if from == to || to == "entered-in-error" {
		return true
	}
	return containsStr(taskTransitions[from], to)
}

// Who may move a Task's status. The R4 state machine says which moves
// exist; these tables say who may make each, by the status moved to. A
// caller holds one or more of three Task roles (TaskRoles):
//
//   - requester: the person or system who raised the contact, as the
//     stored Task's requester names it (identifier: the token's issuer
//     and subject);
//   - owner: the practice's care navigators (role navigator, acting for
//     the practice that owns the Task);
//   - clinician: a clinician acting for that practice (role clinician),
//     who settles what the clinician-review path sends them.
//
// The development-mode caller may make every move. A write that keeps the
// status (a businessStatus change, a decline recorded, a note) needs no
// Task role.

// TaskRole is a caller's part in a navigation or clinician-review Task.
type TaskRole string

const (
	TaskRoleRequester TaskRole = "requester"
	TaskRoleOwner     TaskRole = "owner"
	TaskRoleClinician TaskRole = "clinician"
)

// NavigationStatusRoles are who may move a navigation Task (code
// navigate) to each status. $navigate's own move to in-progress is also
// the requester's when the protocol decides (no destination): the
// practice's approved protocol decides on the owner's behalf.
var NavigationStatusRoles = map[string][]TaskRole{
	"requested":        {TaskRoleRequester, TaskRoleOwner},
	"received":         {TaskRoleOwner, TaskRoleClinician},
	"accepted":         {TaskRoleOwner, TaskRoleClinician},
	"ready":            {TaskRoleOwner, TaskRoleClinician},
	"in-progress":      {TaskRoleOwner, TaskRoleClinician},
	"on-hold":          {TaskRoleOwner, TaskRoleClinician},
	"completed":        {TaskRoleOwner, TaskRoleClinician},
	"rejected":         {TaskRoleOwner, TaskRoleClinician},
	"failed":           {TaskRoleOwner, TaskRoleClinician},
	"cancelled":        {TaskRoleRequester, TaskRoleOwner, TaskRoleClinician},
	"entered-in-error": {TaskRoleOwner},
}

// ReviewStatusRoles are who may move a clinician-review Task to each
// status: the review is a clinician's work; a navigator may only mark one
// entered in error (which does not release the navigation Task: it stays
// awaiting a clinician until a clinician navigates it).
var ReviewStatusRoles = map[string][]TaskRole{
	"requested":        {TaskRoleClinician},
	"received":         {TaskRoleClinician},
	"accepted":         {TaskRoleClinician},
	"ready":            {TaskRoleClinician},
	"in-progress":      {TaskRoleClinician},
	"on-hold":          {TaskRoleClinician},
	"completed":        {TaskRoleClinician},
	"rejected":         {TaskRoleClinician},
	"failed":           {TaskRoleClinician},
	"cancelled":        {TaskRoleClinician},
	"entered-in-error": {TaskRoleOwner},
}

// Actor is who makes a write, as far as the navigation rules care. The
// gateway fills it from the caller's token for the practice that owns the
// stored Task.
type Actor struct {
	// Owner: a navigator acting for the practice that owns the Task.
	Owner bool
	// Clinician: a clinician acting for that practice.
	Clinician bool
	// Issuer and Subject identify the caller (the token's iss and sub):
	// it is the Task's requester when the stored Task.requester carries
	// the identifier {system: Issuer, value: Subject}.
	Issuer, Subject string
	// Navigate: the write is $navigate's update of the navigation Task;
	// Automated: without a destination (the protocol decides).
	Navigate, Automated bool
	// Dev is the development-mode caller, who may do anything.
	Dev bool
}

// TaskRoles are the Task roles the actor holds for a stored Task.
func (a Actor) TaskRoles(stored map[string]any) []TaskRole {
	return a.taskRoles(viewParties(stored))
}

// isRequester: see IsRequester.
func (t partiesView) isRequester(issuer, subject string) bool {
	return subject != "" && t.Requester.Value == subject && t.Requester.System == issuer
}

func (a Actor) taskRoles(t partiesView) []TaskRole {
	var out []TaskRole
	if a.Subject != "" && t.isRequester(a.Issuer, a.Subject) {
		out = append(out, TaskRoleRequester)
	}
	if a.Owner {
		out = append(out, TaskRoleOwner)
	}
	if a.Clinician {
		out = append(out, TaskRoleClinician)
	}
	return out
}

// IsRequester reports whether a Task's requester names the caller: an
// identifier with the token's issuer as system and its subject as value.
func IsRequester(task map[string]any, issuer, subject string) bool {
	return viewParties(task).isRequester(issuer, subject)
}

// TaskOwnerODS is the ODS code of the practice that owns a Task ("" when
// it names none).
func TaskOwnerODS(task map[string]any) string {
	return viewParties(task).OwnerODS
}

// CheckNavigationTask is the write check of navigation Tasks and
// clinician-review Tasks: the contract (ParseNavigationTask) for
// navigation Tasks, and for both the state machine against the stored
// version (nil on create): a new Task starts as requested; a status moves
// only along the R4 state machine, and only by a caller with a Task role
// the tables above give the move (CodeForbidden otherwise, which the
// gateway answers with 403); a navigation Task stays one (its code
// cannot change). Other Tasks pass untouched.
func CheckNavigationTask(obj, stored map[string]any, actor Actor, n NavigationNames) []fhir.Issue {
	nav, review := n.IsNavigationTask(obj), n.IsReviewTask(obj)
	var issues []fhir.Issue
	add := func(code fhir.IssueCode, expr, format string, args ...any) {
		issues = append(issues, fhir.Issue{Severity: fhir.SeverityError, Code: code, Diagnostics: fmt.Sprintf(format, args...), Expression: []string{expr}})
	}
	system := n.System(snomed.NavigationTask)
	if stored != nil && (n.IsNavigationTask(stored) || n.IsReviewTask(stored)) && taskCode(stored["code"], system) != taskCode(obj["code"], system) {
		add(fhir.CodeBusinessRule, "Task.code", "a %s Task stays one: its code cannot change", taskCode(stored["code"], system))
		return issues
	}
	if !nav && !review {
		return nil
	}
	if nav {
		_, found := ParseNavigationTask(obj, n)
		issues = append(issues, found...)
	}
	to := fhir.Str(obj["status"])
	if stored == nil {
		if to != "requested" {
			add(fhir.CodeBusinessRule, "Task.status", "a new %s Task starts as requested, not %s", taskCode(obj["code"], system), to)
		}
		return issues
	}
	from := fhir.Str(stored["status"])
	if !TaskTransitionAllowed(from, to) {
		add(fhir.CodeBusinessRule, "Task.status", "a Task cannot move from %s to %s (R4 Task state machine: from %s it may move to %s or entered-in-error)",
			from, to, from, orNone(taskTransitions[from]))
	}
	if from != to {
		what := fmt.Sprintf("moving a %s from %s to %s", kindOf(review), from, to)
		if actor.Navigate {
			what = fmt.Sprintf("$navigate, which moves the navigation Task from %s to %s,", from, to)
		}
		if msg := statusRoleRefusal(viewParties(stored), what, to, review, actor); msg != "" {
			add(fhir.CodeForbidden, "Task.status", "%s", msg)
		}
	}
	return issues
}

// CheckNavigate is the Task role rule of $navigate itself, whatever the
// Task's status: deciding is the in-progress move's (the owner, a
// clinician, or the requester when the protocol decides). nil when the
// actor may; else a forbidden issue at Task.status.
func CheckNavigate(task map[string]any, a Actor) *fhir.Issue {
	a.Navigate = true
	msg := statusRoleRefusal(viewParties(task), "$navigate (deciding a navigation Task, which puts it in progress)", "in-progress", false, a)
	if msg == "" {
		return nil
	}
	return &fhir.Issue{Severity: fhir.SeverityError, Code: fhir.CodeForbidden, Diagnostics: msg, Expression: []string{"Task.status"}}
}

func kindOf(review bool) string {
	if review {
		return "clinician-review Task"
	}
	return "navigation Task"
}

// statusRoleRefusal is why the actor may not make a move to status to
// (what describes it), "" when it may.
func statusRoleRefusal(stored partiesView, what, to string, review bool, a Actor) string {
	if a.Dev {
		return ""
	}
	table := NavigationStatusRoles
	if review {
		table = ReviewStatusRoles
	}
	allowed := table[to]
	if !review && to == "in-progress" && a.Navigate && a.Automated {
		// The protocol decides for the practice; whoever raised the
		// request may ask for its decision.
		allowed = append(append([]TaskRole(nil), allowed...), TaskRoleRequester)
	}
	has := a.taskRoles(stored)
	for _, r := range has {
		if slices.Contains(allowed, r) {
			return ""
		}
	}
	practice := "the practice that owns it"
	if ods := stored.OwnerODS; ods != "" {
		practice = "practice " + ods
	}
	var who []string
	for _, r := range allowed {
		who = append(who, roleText(r, practice))
	}
	caller := "holds none of these roles"
	if len(has) > 0 {
		var hs []string
		for _, r := range has {
			hs = append(hs, string(r))
		}
		caller = "is only its " + strings.Join(hs, " and ")
	}
	return fmt.Sprintf("%s is for %s; the caller %s", what, joinOr(who), caller)
}

func roleText(r TaskRole, practice string) string {
	switch r {
	case TaskRoleRequester:
		return "its requester (Task.requester.identifier naming the caller's token issuer and subject)"
	case TaskRoleOwner:
		return "its owner (a navigator of " + practice + ")"
	}
	return "a clinician of " + practice
}

func joinOr(l []string) string {
	switch len(l) {
	case 0:
		return "nobody"
	case 1:
		return l[0]
	}
	return strings.Join(l[:len(l)-1], ", ") + " or " + l[len(l)-1]
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "nothing (final)"
	}
	return strings.Join(l, ", ")
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// jnumber is a JSON number's text.
func jnumber(v any) string {
	switch x := v.(type) {
	case fmt.Stringer:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	}
	return ""
}

// navDateTime reads an R4 dateTime: with a time and zone, or a date
// (year, year-month or full) as local (Europe/London) midnight at its
// start, or at the start of the next day, month or year when end is set.
func navDateTime(s string, end bool) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	for _, f := range []struct {
		layout  string
		y, m, d int
	}{{"2006-01-02", 0, 0, 1}, {"2006-01", 0, 1, 0}, {"2006", 1, 0, 0}} {
		if t, err := time.ParseInLocation(f.layout, s, London); err == nil {
			if end {
				t = t.AddDate(f.y, f.m, f.d)
			}
			return t, true
		}
	}
	return time.Time{}, false
}
