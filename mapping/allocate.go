package mapping

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/snomed"
)

// Allocation: from an assessment to a decision. The protocol's matching
// rules are tried in order, each shaped by the safety rules and then
// matched with the directory (safety rule 7: only a service that can
// take this patient in the timeframe); the first that places the patient
// decides. When none does, a practice clinician does (the fallback). A
// navigator's own decision is checked against the same rules and refused
// when it breaks one. Then the rules that call for a person to confirm or
// a clinician to review are applied (safety.go, reviewFinal).
//
// Decide is a pure function of its input: the same request, protocol,
// directory, decider and time give the same decision.

// Engine decides navigations; it holds the names it codes with.
type Engine struct {
	Names     NavigationNames
	Directory Directory
	// Holidays tells bank holidays; nil is England and Wales.
	Holidays func(y int, m time.Month, d int) bool
}

// NewEngine returns an engine naming codes under base.
func NewEngine(base string) *Engine {
	return &Engine{Names: NewNavigationNames(base), Directory: NewDirectory(base)}
}

// NavigatorChoice is a navigator's own decision ($navigate destination,
// urgency, consultation-mode, note).
type NavigatorChoice struct {
	// Destination is HealthcareService/[id] or PractitionerRole/[id].
	Destination string
	// Role is the PractitionerRole destination, read by the caller.
	Role *RoleInfo
	// Urgency and Mode are "" when the navigator gave none.
	Urgency Urgency
	Mode    string
	Note    string
}

// RoleInfo is a PractitionerRole destination as the engine needs it.
type RoleInfo struct {
	ID, Display string
	Active      bool
	Codes       []snomed.Coding
}

// Declined is an earlier allocation the patient declined.
type Declined struct {
	// Reference is the declined allocation's performer
	// (HealthcareService/[id]); Display its name; Reason the patient's.
	Reference, Display, Reason string
	// Allocation is the declined ServiceRequest reference.
	Allocation string
	// ByService: the service turned the patient away (a BaRS response),
	// rather than the patient declining; Reason is the service's.
	ByService bool
}

// DecideInput is everything a decision depends on.
type DecideInput struct {
	Assessment *Assessment
	// Protocol is the practice's protocol; nil when it has none.
	Protocol   *Protocol
	Candidates []Candidate
	// OfPractice, when set, is an index of Candidates: those whose
	// catchment lists the practice (ODS code), in the order of
	// Candidates. The practice's own services are then found among
	// those instead of every candidate; the result is the same.
	OfPractice func(practice string) []Candidate
	// OfCategory, when set, is another index of Candidates: those of a
	// navigation category (Service.Categories), in the order of
	// Candidates. A category with no wanted service type then looks at
	// its own services instead of every candidate; the result is the
	// same.
	OfCategory func(category string) []Candidate
	// OfTypeInCategory, when set, is a third: the candidates with the
	// coding key ("system|code") among their type, specialty or
	// team-role codings (Service.Types) and of the navigation category,
	// in the order of Candidates. Allocation then looks only at those of
	// the wanted service type and category; the result is the same.
	OfTypeInCategory func(key, category string) []Candidate
	Navigator        *NavigatorChoice
	// ManualReview sends the decision, whatever it is, to a clinician's
	// review before it takes effect (safety rule 5: any automated
	// decision can be sent for manual review).
	ManualReview bool
	Decider      Decider
	// AllocationMap is the current allocation ConceptMap.
	AllocationMap *snomed.ConceptMap
	Declined      *Declined
	Now           time.Time
}

// Decision is what the engine decided and why.
type Decision struct {
	Disposition Disposition
	// Automated: the protocol decided (no navigator destination).
	Automated bool
	Category  Category
	Urgency   Urgency
	Mode      string
	// ServiceType is the SNOMED CT service type the decision is coded
	// with ("" for none).
	ServiceType string
	// Service is the destination HealthcareService; Role a PractitionerRole
	// destination; PracticeFallback: allocated to the practice itself
	// (no directory entry could be used); none of them for emergency and
	// self-care.
	Service          *Service
	Role             *RoleInfo
	PracticeFallback bool
	Practice         string
	// Continuity: with the usual or preferred clinician (rules 2, 3);
	// Senior: a senior clinician (rule 2).
	Continuity, Senior bool
	Professional       *snomed.Coding
	Minutes            int
	Requirements       []string
	SafetyNetting      string
	// From and To are the timeframe (occurrencePeriod).
	From, To       time.Time
	TurnaroundDays int
	Codes          AllocationCodes
	// Rules are the rules that shaped the decision: protocol, fallback,
	// navigator and safety rules, in the order applied.
	Rules []AppliedRule
	// Rationale explains the decision for a practice manager.
	Rationale []string
	// ReviewReasons are why a clinician must review or decide.
	ReviewReasons []string
	Issues        []fhir.Issue
	Protocol      *Protocol
	Decider       Decider
	Note          string
	Assessment    *Assessment
	Declined      *Declined
}

// DestinationReference is the performer reference ("" for none).
func (d *Decision) DestinationReference() string {
	switch {
	case d.Service != nil:
		return "HealthcareService/" + d.Service.ID
	case d.Role != nil:
		return "PractitionerRole/" + d.Role.ID
	}
	return ""
}

// DestinationName names the destination for people.
func (d *Decision) DestinationName() string {
	switch {
	case d.Service != nil:
		return d.Service.Label()
	case d.Role != nil:
		return orText(d.Role.Display, "PractitionerRole/"+d.Role.ID)
	case d.PracticeFallback:
		return "the practice (" + d.Practice + ")"
	case d.Category == CategoryEmergency:
		return "emergency services (999 / A&E)"
	case d.Category == CategorySelfCare:
		return "self-care"
	}
	return "no destination"
}

// proposal is a decision being shaped.
type proposal struct {
	source         string // protocol, navigator or fallback
	rule           *Rule
	Category       Category
	ServiceType    string
	Urgency        Urgency
	urgencyGiven   bool
	Mode           string
	modeGiven      bool
	Minutes        int
	Requirements   []string
	SafetyNetting  string
	TurnaroundDays int
	Professional   *snomed.Coding
	Continuity     bool
	Senior         bool
	rules          []AppliedRule
	// protocol is what the protocol chose, with its advice (nil for the
	// fallback): its advice stays only while its choice stands.
	protocol *protocolChoice
	// start is when the timeframe starts: zero for now, the practice's
	// first opening for a same-day need kept for it out of hours.
	start time.Time
	// outOfHours: routed out of hours (allocate_hours.go); nhs111: to
	// NHS 111.
	outOfHours, nhs111 bool
}

// from is when the proposal's timeframe starts.
func (p *proposal) from(now time.Time) time.Time {
	if p.start.After(now) {
		return p.start
	}
	return now
}

func (p *proposal) apply(id, format string, args ...any) {
	p.rules = append(p.rules, AppliedRule{ID: id, Text: fmt.Sprintf(format, args...)})
}

func fromOutcome(o RuleOutcome) *proposal {
	p := &proposal{source: "protocol", rule: o.Rule, Category: o.Category, ServiceType: o.ServiceType, Urgency: o.Urgency,
		urgencyGiven: o.Urgency != "", Mode: o.Mode, modeGiven: o.Mode != "", Minutes: o.AppointmentMinutes, SafetyNetting: o.SafetyNetting,
		TurnaroundDays: o.TurnaroundDays, Professional: o.Professional}
	if o.Requirements != "" {
		p.Requirements = []string{o.Requirements}
	}
	if p.Urgency == "" {
		p.Urgency = defaultUrgency(o.Category)
	}
	p.protocol = &protocolChoice{category: o.Category, urgency: p.Urgency, mode: o.Mode, advice: o.SafetyNetting}
	title := orText(o.Rule.Title, o.Rule.ID)
	p.apply("protocol:"+o.Rule.ID, "protocol rule %q matched: %s%s, %s", title, o.Category, serviceTypeText(o.ServiceType), p.Urgency)
	return p
}

// serviceTypesOf are the SNOMED CT service types a destination answers
// to: the proposal's and the service's own.
func serviceTypesOf(proposed string, s *Service) []string {
	var out []string
	if proposed != "" {
		out = append(out, proposed)
	}
	if s != nil {
		for c := range s.typeCodes {
			out = append(out, c)
		}
		sort.Strings(out)
	}
	return out
}

func orUrgency(u, otherwise Urgency) Urgency {
	if u == "" {
		return otherwise
	}
	return u
}

func defaultUrgency(c Category) Urgency {
	switch c {
	case CategoryEmergency:
		return UrgencyEmergency
	case CategoryAdministrative, CategorySelfCare, CategorySignpost:
		return UrgencyRoutine
	}
	return UrgencyWithinWeek
}

func serviceTypeText(code string) string {
	if code == "" {
		return ""
	}
	if c, ok := serviceTypeNames[code]; ok {
		return " (" + c + ")"
	}
	if cs := shippedConcepts(); cs != nil {
		if c, ok := cs.Get(code); ok && c.Preferred != "" {
			return " (" + c.Preferred + ", SNOMED CT " + code + ")"
		}
	}
	return " (service type " + code + ")"
}

// serviceTypeNames names the shipped destination service types in
// explanations.
var serviceTypeNames = map[string]string{
	"983341000000102": "Pharmacy First service", "907301000000109": "NHS 111 service", "310000008": "Accident and Emergency service",
	"908981000000101": "Remote triage and advice service", "788007007": "General practice service", "310080006": "Pharmacy service",
	"722140001": "Physiotherapy service", "708168004": "Mental health service", "829961000000104": "Out of hours service",
	"413331009": "Voluntary services", "310134006": "Social services",
}

// GeneralPracticeService is the SNOMED CT service type of a practice's
// own clinicians and team.
const GeneralPracticeService = "788007007"

// Decide makes the decision (see the top of this file).
func (e *Engine) Decide(in DecideInput) (*Decision, error) {
	a := in.Assessment
	if a == nil || a.Request == nil {
		return nil, fmt.Errorf("mapping: Decide without an assessment")
	}
	if in.AllocationMap == nil {
		return nil, fmt.Errorf("mapping: Decide without the allocation ConceptMap")
	}
	d := &Decision{Automated: in.Navigator == nil, Practice: a.Request.Practice, Protocol: in.Protocol, Decider: in.Decider,
		Assessment: a, Declined: in.Declined, Issues: append([]fhir.Issue(nil), a.Issues...)}
	warn := func(format string, args ...any) {
		d.Issues = append(d.Issues, fhir.Issue{Severity: fhir.SeverityWarning, Code: fhir.CodeProcessing, Diagnostics: fmt.Sprintf(format, args...)})
	}
	d.Rationale = append(d.Rationale, e.assessmentText(a))

	var outcomes []RuleOutcome
	switch {
	case in.Protocol == nil:
		warn("practice %s has no navigation protocol (PlanDefinition/%s): the automated decision falls back to a practice clinician", a.Request.Practice, ProtocolID(a.Request.Practice))
	default:
		if ok, why := in.Protocol.InForce(in.Now); !ok {
			warn("the protocol of practice %s is not used: %s; the automated decision falls back to a practice clinician", a.Request.Practice, why)
		} else {
			var issues []fhir.Issue
			outcomes, issues = in.Protocol.Matching(a.Facts())
			d.Issues = append(d.Issues, issues...)
			d.Rationale = append(d.Rationale, "Protocol: "+in.Protocol.Label()+".")
		}
	}
	if in.Declined != nil {
		text := fmt.Sprintf("the patient declined the earlier allocation to %s", orText(in.Declined.Display, in.Declined.Reference))
		if in.Declined.ByService {
			text = fmt.Sprintf("%s turned the patient away from the earlier allocation", orText(in.Declined.Display, in.Declined.Reference))
		}
		if in.Declined.Reason != "" {
			text += " (" + in.Declined.Reason + ")"
		}
		d.Rules = append(d.Rules, AppliedRule{ID: "patient-declined", Text: text + "; it is not offered again"})
		d.Rationale = append(d.Rationale, "Declined: "+text+".")
	}

	var chosen *proposal
	if in.Navigator != nil {
		p, err := e.navigatorProposal(in, outcomes, d)
		if err != nil {
			return nil, err
		}
		chosen = p
	} else {
		var proposals []*proposal
		for _, o := range outcomes {
			proposals = append(proposals, fromOutcome(o))
		}
		ph := e.practiceHours(in)
		for _, p := range proposals {
			enforceBeforeMatch(p, a)
			if e.placeInHours(p, in, d, ph, false) {
				chosen = p
				break
			}
		}
		if chosen == nil {
			p := &proposal{source: "fallback", Category: CategoryClinician, ServiceType: GeneralPracticeService, Urgency: UrgencyWithinWeek}
			reason := "no protocol rule matched"
			if len(outcomes) > 0 {
				reason = "no matching protocol rule could place the patient"
			}
			p.apply("fallback-practice-clinician", "%s: a practice clinician decides", reason)
			enforceBeforeMatch(p, a)
			e.placeInHours(p, in, d, ph, true)
			chosen = p
		}
		e.closedNote(chosen, ph, in.Now, d, a.Request.AdminKind)
	}

	disp, reasons := reviewFinal(chosen, a, in.Decider, d.Automated, serviceTypesOf(chosen.ServiceType, d.Service), d.adviceDestination())
	switch {
	case in.ManualReview && chosen.Category == CategoryEmergency:
		// An emergency is never held: its advice stands at once.
		d.Issues = append(d.Issues, fhir.Issue{Severity: fhir.SeverityWarning, Code: fhir.CodeProcessing,
			Diagnostics: "manual review was asked for, but an emergency decision is not held for review: the emergency advice stands now"})
		chosen.apply(RuleManualReview, "manual review asked for; an emergency is not held for review")
	case in.ManualReview:
		if DispositionReview.rank() > disp.rank() {
			disp = DispositionReview
		}
		reasons = append(reasons, "sent for manual review: the decision waits for a clinician's review")
		chosen.apply(RuleManualReview, "sent for manual review at the caller's request: a clinician reviews the decision before it takes effect")
	}
	d.Disposition, d.ReviewReasons = disp, reasons
	d.Category, d.Urgency, d.Mode = chosen.Category, chosen.Urgency, chosen.Mode
	if d.Mode == "" && chosen.Category != CategoryEmergency && chosen.Category != CategorySelfCare {
		d.Mode = a.Request.PreferredMode
	}
	d.Continuity, d.Senior, d.Professional, d.Minutes = chosen.Continuity, chosen.Senior, chosen.Professional, chosen.Minutes
	d.Requirements, d.TurnaroundDays = chosen.Requirements, chosen.TurnaroundDays
	if d.Continuity {
		text := "Continuity of care: with the patient's usual clinician or small team"
		if a.Request.PreferredPractitioner != nil {
			text = "Continuity of care: with the patient's preferred clinician (" + orText(a.Request.PreferredPractitioner.Display, a.Request.PreferredPractitioner.Reference) + ")"
		}
		d.Requirements = append(d.Requirements, text)
	}
	if d.Senior {
		d.Requirements = append(d.Requirements, "A senior clinician, face to face")
	}
	for _, c := range a.Request.CommunicationNeeds {
		d.Requirements = append(d.Requirements, "Communication need: "+orText(c.Display, "SNOMED CT "+c.Code))
	}
	d.From, d.To = Timeframe(chosen.from(in.Now), chosen.Urgency, chosen.TurnaroundDays)
	d.SafetyNetting = settleAdvice(chosen, d, a)
	d.Rules = append(d.Rules, chosen.rules...)
	if in.Navigator != nil {
		d.Note = in.Navigator.Note
	}

	// Coding, from the allocation ConceptMap.
	d.ServiceType = e.codingServiceType(in.AllocationMap, chosen, d.Service)
	codes, err := AllocationCoding(in.AllocationMap, snomed.Coding{System: e.Names.System(snomed.NavigationCategory), Code: string(d.Category)},
		snomed.Coding{System: snomed.System, Code: d.ServiceType})
	if err != nil {
		return nil, err
	}
	d.Codes = codes

	d.Rationale = append(d.Rationale, e.outcomeText(d, chosen))
	for _, r := range chosen.rules {
		if strings.HasPrefix(r.ID, "safety-") {
			d.Rationale = append(d.Rationale, "Safety rule "+r.ID+": "+r.Text+".")
		}
	}
	if len(reasons) > 0 {
		d.Rationale = append(d.Rationale, "For a clinician: "+strings.Join(reasons, "; ")+".")
	}
	return d, nil
}

// place chooses chosen's destination in the directory; false when no
// service can take the patient (the reasons go into the rationale). The
// fallback always places: at the practice itself when no directory entry
// can be used.
func (e *Engine) place(p *proposal, in DecideInput, d *Decision, fallback bool) bool {
	if !p.Category.needsService() {
		return true
	}
	res, explain := e.match(p, in)
	d.Rationale = append(d.Rationale, exclusionLines(res.Excluded, explain)...)
	if len(res.Matches) > 0 {
		m := res.Matches[0]
		d.Service = m.Service
		text := fmt.Sprintf("Destination: %s (HealthcareService/%s)", m.Service.Label(), m.Service.ID)
		if !m.OpensAt.IsZero() {
			text += ", open and accepting from " + m.OpensAt.In(London).Format("Mon 2 Jan 15:04")
		}
		for _, n := range m.Notes {
			text += "; " + n.Text
		}
		if len(res.Matches) > 1 {
			text += fmt.Sprintf(" (the best of %d that can take the patient)", len(res.Matches))
		}
		d.Rationale = append(d.Rationale, text+".")
		p.apply(RuleEligibility, "%s can take the patient in the timeframe (%d candidate(s) excluded)", m.Service.Label(), len(res.Excluded))
		return true
	}
	where := categoryWords(p.Category) + serviceTypeText(p.ServiceType)
	if fallback || p.Category == CategoryAdministrative {
		// The practice itself handles it: its own clinicians and team
		// are not always listed in the directory.
		d.PracticeFallback = true
		d.Issues = append(d.Issues, fhir.Issue{Severity: fhir.SeverityWarning, Code: fhir.CodeProcessing,
			Diagnostics: fmt.Sprintf("no directory entry for %s can take the patient in the timeframe: allocated to practice %s itself", where, in.Assessment.Request.Practice)})
		p.apply(RuleEligibility, "no directory entry for %s can take the patient in the timeframe: the practice itself", where)
		return true
	}
	rule := p.source
	if p.rule != nil {
		rule = "protocol rule " + p.rule.ID
	}
	d.Rationale = append(d.Rationale, fmt.Sprintf("Not used: %s: no service for %s can take the patient in the timeframe.", rule, where))
	return false
}

func (c Category) String() string { return string(c) }

// match runs directory matching for a proposal.
func (e *Engine) match(p *proposal, in DecideInput) (MatchResult, func(*Service) []Reason) {
	a := in.Assessment
	from, to := Timeframe(p.from(in.Now), p.Urgency, p.TurnaroundDays)
	q := MatchQuery{BirthDate: a.Patient.BirthDate, Sex: a.Patient.Sex, Practice: a.Request.Practice, Postcode: a.Patient.Postcode,
		From: from, To: to, Categories: []string{string(p.Category)}, Holidays: e.Holidays}
	if a.Need.Known {
		q.NeedGroup = a.Need.Code
	}
	if p.ServiceType != "" {
		q.ServiceTypes = []Code{{System: snomed.System, Code: p.ServiceType}}
	}
	for _, s := range a.Request.Symptoms {
		q.Conditions = append(q.Conditions, Code{System: snomed.System, Code: s.Code})
	}
	for _, c := range a.Request.CommunicationNeeds {
		q.CommunicationNeeds = append(q.CommunicationNeeds, Code{System: snomed.System, Code: c.Code})
	}
	if p.Category == CategorySignpost {
		q.ReferralMethods = []string{ReferralSelf}
	}
	src := in.Candidates
	switch {
	case p.ServiceType != "" && in.OfTypeInCategory != nil:
		// Match keeps only candidates of the wanted type and category,
		// and these are all of them, in the same order.
		src = in.OfTypeInCategory(snomed.System+"|"+p.ServiceType, string(p.Category))
		q.OfType, q.OfCategory = true, true
	case p.ServiceType == "" && in.OfCategory != nil:
		src = in.OfCategory(string(p.Category))
		q.OfCategory = true
	}
	cands := make([]Candidate, 0, len(src))
	for _, c := range src {
		if in.Declined != nil && in.Declined.Reference == "HealthcareService/"+c.Service.ID {
			continue
		}
		// A practice clinician is one of this practice: a service of the
		// clinician category serves the practices its catchment lists.
		if p.Category == CategoryClinician && (c.Service.Catchment == nil || !c.Service.Catchment.Practices[a.Request.Practice]) {
			continue
		}
		cands = append(cands, c)
	}
	// The reasons' texts are made only for the few excluded services the
	// rationale names (exclusionLines).
	withTexts := q
	var m *matcher
	explain := func(s *Service) []Reason {
		if m == nil {
			m = newMatcher(e.Directory, withTexts)
		}
		_, reasons := m.match(s)
		return reasons
	}
	q.SkipReasons = true
	return Match(cands, e.Directory, q), explain
}

// Timeframe is the window in which a decision must be acted on: the rest
// of the day (at least two hours) for same-day, a week, four weeks for
// routine, an hour for an emergency, or the administrative turnaround.
func Timeframe(now time.Time, u Urgency, turnaroundDays int) (time.Time, time.Time) {
	switch {
	case turnaroundDays > 0:
		return now, now.AddDate(0, 0, turnaroundDays)
	case u == UrgencyEmergency:
		return now, now.Add(time.Hour)
	case u == UrgencySameDay:
		l := now.In(London)
		end := time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, London)
		if end.Sub(now) < 2*time.Hour {
			end = now.Add(2 * time.Hour)
		}
		return now, end
	case u == UrgencyWithinWeek:
		return now, now.AddDate(0, 0, 7)
	}
	return now, now.AddDate(0, 0, 28)
}

// navigatorProposal turns a navigator's decision into a proposal, checks
// it against the safety rules and the directory, and places it.
func (e *Engine) navigatorProposal(in DecideInput, outcomes []RuleOutcome, d *Decision) (*proposal, error) {
	a, nav := in.Assessment, in.Navigator
	p := &proposal{source: "navigator", Urgency: nav.Urgency, urgencyGiven: nav.Urgency != "", Mode: nav.Mode, modeGiven: nav.Mode != ""}
	var first *RuleOutcome
	if len(outcomes) > 0 {
		first = &outcomes[0]
	}
	typ, id := splitRef(nav.Destination)
	var svc *Candidate
	switch typ {
	case "HealthcareService":
		for i := range in.Candidates {
			if in.Candidates[i].Service.ID == id {
				svc = &in.Candidates[i]
			}
		}
		if svc == nil {
			return nil, fhir.Errorf(fhir.CodeBusinessRule, "destination %s is not in the directory of services", nav.Destination).At("destination").Because(fhir.DetailRefused)
		}
		p.Category = pickCategory(svc.Service, first)
		if p.Category == "" {
			return nil, fhir.Errorf(fhir.CodeBusinessRule, "destination %s has no navigation category, so it cannot be allocated to", nav.Destination).At("destination").Because(fhir.DetailRefused)
		}
		if first != nil && first.ServiceType != "" && svc.Service.Types[snomed.System+"|"+first.ServiceType] {
			p.ServiceType = first.ServiceType
		}
	case "PractitionerRole":
		if nav.Role == nil || nav.Role.ID != id {
			return nil, fhir.Errorf(fhir.CodeBusinessRule, "destination %s could not be read", nav.Destination).At("destination").Because(fhir.DetailRefused)
		}
		if !nav.Role.Active {
			return nil, ruleError(RuleEligibility, "%s is not active", nav.Destination)
		}
		p.Category = CategoryPracticeTeam
		for _, c := range nav.Role.Codes {
			if c.System == snomed.System && c.Code == "62247001" { // General practitioner
				p.Category = CategoryClinician
			}
		}
		p.ServiceType = GeneralPracticeService
	default:
		return nil, fhir.Errorf(fhir.CodeInvalid, "destination must reference a HealthcareService or a PractitionerRole, not %q", nav.Destination).At("destination").Because(fhir.DetailMalformed)
	}
	if first != nil && first.Category == p.Category {
		p.Minutes, p.SafetyNetting, p.Professional, p.TurnaroundDays = first.AppointmentMinutes, first.SafetyNetting, first.Professional, first.TurnaroundDays
		p.protocol = &protocolChoice{category: first.Category, urgency: orUrgency(first.Urgency, defaultUrgency(first.Category)), mode: first.Mode, advice: first.SafetyNetting}
		if first.Requirements != "" {
			p.Requirements = []string{first.Requirements}
		}
		if !p.urgencyGiven && first.Urgency != "" {
			p.Urgency = first.Urgency
		}
		if !p.modeGiven {
			p.Mode = first.Mode
		}
	}
	if p.Urgency == "" {
		p.Urgency = defaultUrgency(p.Category)
	}
	p.apply("navigator", "the navigator's decision: %s (%s), %s", nav.Destination, p.Category, p.Urgency)
	if err := checkNavigatorProposal(p, a); err != nil {
		return nil, err
	}
	if rule, why := seniorReason(a); rule != "" && p.modeGiven && p.Mode != ModeFaceToFace {
		return nil, ruleError(rule, "%s: a senior clinician sees the patient face to face, not by %s", why, p.Mode)
	}
	enforceBeforeMatch(p, a)
	if svc != nil {
		if svc.Unreadable {
			return nil, ruleError(RuleEligibility, "%s does not follow the directory representation; it cannot be matched safely", nav.Destination)
		}
		from, to := Timeframe(in.Now, p.Urgency, p.TurnaroundDays)
		q := MatchQuery{BirthDate: a.Patient.BirthDate, Sex: a.Patient.Sex, Practice: a.Request.Practice, Postcode: a.Patient.Postcode,
			From: from, To: to, Holidays: e.Holidays}
		if a.Need.Known {
			q.NeedGroup = a.Need.Code
		}
		for _, s := range a.Request.Symptoms {
			q.Conditions = append(q.Conditions, Code{System: snomed.System, Code: s.Code})
		}
		for _, c := range a.Request.CommunicationNeeds {
			q.CommunicationNeeds = append(q.CommunicationNeeds, Code{System: snomed.System, Code: c.Code})
		}
		res := Match([]Candidate{*svc}, e.Directory, q)
		if len(res.Matches) == 0 {
			var why []string
			for _, x := range res.Excluded {
				for _, r := range x.Reasons {
					why = append(why, r.Text)
				}
			}
			return nil, ruleError(RuleEligibility, "%s (%s) cannot take this patient %s: %s", svc.Service.Label(), nav.Destination, p.Urgency, strings.Join(why, "; "))
		}
		d.Service = svc.Service
		text := fmt.Sprintf("Destination (the navigator's choice): %s (HealthcareService/%s)", svc.Service.Label(), id)
		for _, n := range res.Matches[0].Notes {
			text += "; " + n.Text
		}
		d.Rationale = append(d.Rationale, text+".")
		p.apply(RuleEligibility, "%s can take the patient in the timeframe", svc.Service.Label())
	} else {
		d.Role = nav.Role
		d.Rationale = append(d.Rationale, fmt.Sprintf("Destination (the navigator's choice): %s (PractitionerRole/%s).", orText(nav.Role.Display, id), id))
	}
	return p, nil
}

// pickCategory is the navigation category a destination is allocated
// under: the protocol's, when the service has it, else the service's own
// (the first of a fixed order when it lists several).
func pickCategory(s *Service, first *RuleOutcome) Category {
	if first != nil && s.Categories[string(first.Category)] {
		return first.Category
	}
	for _, c := range []Category{CategoryClinician, CategoryPracticeTeam, CategoryAdministrative, CategoryExternal, CategorySignpost, CategorySelfCare, CategoryEmergency} {
		if s.Categories[string(c)] {
			return c
		}
	}
	return ""
}

// codingServiceType is the service type the decision is coded with: the
// proposal's, else the destination's SNOMED CT type that the allocation
// map distinguishes for the category (the lowest code when several).
func (e *Engine) codingServiceType(cm *snomed.ConceptMap, p *proposal, s *Service) string {
	if p.Category == CategoryEmergency || p.Category == CategorySelfCare {
		return ""
	}
	if s == nil {
		return p.ServiceType
	}
	if p.ServiceType != "" && s.Types[snomed.System+"|"+p.ServiceType] {
		return p.ServiceType
	}
	known := map[string]bool{}
	catSystem := e.Names.System(snomed.NavigationCategory)
	for _, g := range cm.Groups {
		if g.Source != catSystem {
			continue
		}
		for _, el := range g.Elements {
			if el.Code != string(p.Category) {
				continue
			}
			for _, t := range el.Targets {
				for _, dep := range t.DependsOn {
					if dep.Property == snomed.ServiceTypeElement {
						known[dep.Coding.Code] = true
					}
				}
			}
		}
	}
	var found []string
	for k := range s.Types {
		if code, ok := strings.CutPrefix(k, snomed.System+"|"); ok && known[code] {
			found = append(found, code)
		}
	}
	sort.Strings(found)
	if len(found) > 0 {
		return found[0]
	}
	return p.ServiceType
}

func (e *Engine) assessmentText(a *Assessment) string {
	r := a.Request
	var parts []string
	parts = append(parts, fmt.Sprintf("%s request by %s", orText(r.RequestType, "unknown"), orText(r.ContactRoute, "an unknown route")))
	if r.RequestType == RequestAdministrative && r.AdminKind != "" {
		parts = append(parts, "kind "+r.AdminKind)
	}
	if a.HasAge {
		if !a.Patient.BirthDate.IsZero() && !a.now.IsZero() {
			parts = append(parts, "age "+ageWordsAt(a.Patient.BirthDate, a.now))
		} else {
			parts = append(parts, "age "+plural(a.Age, "year"))
		}
	} else {
		parts = append(parts, "age not known")
	}
	if a.Need.Known {
		parts = append(parts, fmt.Sprintf("need group %s (%s, %s need)", a.Need.Code, needGroupDisplay[a.Need.Code], a.Need.Level()))
	} else {
		parts = append(parts, "need group unknown (never read as low)")
	}
	contact := fmt.Sprintf("contact %d about this problem", a.Contact())
	if len(a.EarlierWhy) > 0 {
		contact += " (earlier: " + strings.Join(a.EarlierWhy, "; ") + ")"
	}
	parts = append(parts, contact)
	if a.SeenElsewhere > 0 {
		parts = append(parts, fmt.Sprintf("%d other service(s) already seen", a.SeenElsewhere))
	}
	if len(a.RedFlags) > 0 {
		parts = append(parts, "red flags: "+strings.Join(a.RedFlags, "; "))
	} else {
		parts = append(parts, "no red flags found")
	}
	if len(a.Denied) > 0 {
		parts = append(parts, "mentioned but not current: "+strings.Join(a.Denied, "; "))
	}
	if len(a.LifeCritical) > 0 {
		parts = append(parts, "life-critical medicine: "+strings.Join(a.LifeCritical, "; "))
	}
	if a.Complex() {
		parts = append(parts, "complex needs: "+strings.Join(a.ComplexNeeds, "; "))
	}
	if r.PatientUrgency != "" {
		parts = append(parts, "patient's view of urgency "+string(r.PatientUrgency))
	}
	return "Assessment: " + strings.Join(parts, ", ") + "."
}

func (e *Engine) outcomeText(d *Decision, p *proposal) string {
	by := "the protocol (automated)"
	switch {
	case p.source == "navigator":
		by = "the navigator"
		if d.Decider.Clinician {
			by = "a clinician"
		}
	case p.source == "fallback":
		by = "the fallback (automated)"
	}
	// Said once each: an emergency is emergency services now, not
	// "emergency, emergency, to emergency services".
	var text string
	if d.Category == CategoryEmergency {
		text = fmt.Sprintf("Decision by %s: %s, %s", by, d.DestinationName(), urgencyWords(d.Urgency))
	} else {
		text = fmt.Sprintf("Decision by %s: %s, %s", by, categoryWords(d.Category), urgencyWords(d.Urgency))
		if d.Category != CategorySelfCare || d.Service != nil || d.Role != nil {
			text += ", to " + d.DestinationName()
		}
		if d.Mode != "" {
			text += ", " + modeWords(d.Mode)
		}
	}
	switch d.Disposition {
	case DispositionProposed:
		text += "; a proposal for a person to confirm"
	case DispositionReview:
		text += "; held for a clinician's review"
	case DispositionEscalated:
		text += "; escalated: a clinician decides"
	}
	return text + "."
}

// maxListedExclusions is how many excluded candidates the rationale names
// one by one. A large directory can exclude hundreds of services of the
// wanted type (most for their catchment); the rationale then names the
// nearest misses (fewest reasons first) and counts the rest by reason,
// which a practice manager can read, and HealthcareService/$match (or a
// search with _explain=true) with the same query lists every one.
const maxListedExclusions = 10

// exclusionLines are the rationale's "Not chosen" lines for excluded, in
// any order: the nearest misses by name. explain, when set, gives the
// reasons with their text for a service listed one by one (the engine
// matches without texts, since most excluded services are only counted);
// nil uses the reasons excluded holds.
func exclusionLines(excluded []Excluded, explain func(*Service) []Reason) []string {
	line := func(x Excluded) string {
		reasons := x.Reasons
		if explain != nil {
			reasons = explain(x.Service)
		}
		why := make([]string, len(reasons))
		for i, r := range reasons {
			why[i] = r.Text
		}
		return fmt.Sprintf("Not chosen: %s (HealthcareService/%s): %s.", x.Service.Label(), x.Service.ID, strings.Join(why, "; "))
	}
	nearer := func(a, b Excluded) int {
		if c := len(a.Reasons) - len(b.Reasons); c != 0 {
			return c
		}
		return byName(a.Service, b.Service)
	}
	if len(excluded) <= maxListedExclusions {
		few := slices.Clone(excluded)
		slices.SortFunc(few, func(a, b Excluded) int { return byName(a.Service, b.Service) })
		out := make([]string, len(few))
		for i, x := range few {
			out[i] = line(x)
		}
		return out
	}
	// The nearest maxListedExclusions, without sorting the hundreds of
	// others: one pass keeping the best so far in order.
	nearest := make([]Excluded, 0, maxListedExclusions+1)
	for _, x := range excluded {
		if len(nearest) == maxListedExclusions && nearer(x, nearest[maxListedExclusions-1]) >= 0 {
			continue
		}
		i, _ := slices.BinarySearchFunc(nearest, x, nearer)
		nearest = slices.Insert(nearest, i, x)
		if len(nearest) > maxListedExclusions {
			nearest = nearest[:maxListedExclusions]
		}
	}
	out := make([]string, 0, maxListedExclusions+1)
	for _, x := range nearest {
		out = append(out, line(x))
	}
	listed := make(map[*Service]bool, len(nearest))
	for _, x := range nearest {
		listed[x.Service] = true
	}
	counts := map[string]int{}
	var codes []string
	for _, x := range excluded {
		if listed[x.Service] {
			continue
		}
		for _, r := range x.Reasons {
			if counts[r.Code] == 0 {
				codes = append(codes, r.Code)
			}
			counts[r.Code]++
		}
	}
	slices.SortFunc(codes, func(a, b string) int {
		if c := counts[b] - counts[a]; c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s %d", reasonLabel(c), counts[c])
	}
	out = append(out, fmt.Sprintf("Not chosen: %d more services (by reason: %s); HealthcareService/$match with the same query names each one and why.", len(excluded)-len(nearest), strings.Join(parts, ", ")))
	return out
}

// reasonLabel is a match reason for people: its display in the
// directory-match-reason CodeSystem, in lower case.
func reasonLabel(code string) string {
	if d, ok := matchReasonDisplays()[code]; ok {
		return strings.ToLower(d)
	}
	return code
}

// matchReasonDisplays are the displays of directory-match-reason.
var matchReasonDisplays = sync.OnceValue(func() map[string]string {
	out := map[string]string{}
	for _, cs := range directoryCodeSystems() {
		if cs.id == MatchReasonSystem {
			for _, c := range cs.concepts {
				out[c[0]] = c[1]
			}
		}
	}
	return out
})
