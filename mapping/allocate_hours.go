package mapping

import (
	"fmt"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
)

// Out of hours: patients contact the practice when it is closed, and
// some needs cannot wait for it to open (the guide: all channels open in
// contracted hours; NHS 111 for urgent needs when the practice is
// closed). The engine knows the practice's opening times from the
// directory: the weekly hours, special openings, closures and bank
// holiday policy (availableTime, notAvailable, the bank-holidays
// extension) of the practice's own clinician services — the active
// services of the clinician category whose catchment lists the practice,
// the same services a practice-clinician decision is allocated to. When
// none publishes its hours, the engine does not know them and decides
// as before.
//
// An automated decision that needs the practice the same day (category
// clinician or practice-team, urgency same-day, after the safety rules)
// while no practice clinician service opens within the same-day window
// (the rest of the day, at least two hours) is routed out of hours:
//
//   - a red flag (safety rule 1: emergency or a same-day clinician, and
//     there is no same-day practice clinician): emergency services, 999
//     or A&E;
//   - safety rule 2 (repeat contact, other services seen, escalating
//     concern) or 3 (complex needs) keeps the patient with a practice
//     clinician, so the allocation is the practice clinician at the
//     practice's first opening, and the patient is told to call NHS 111
//     now if it cannot wait (999 in an emergency);
//   - otherwise NHS 111 (signpost, service type 907301000000109 NHS 111
//     service, from the directory; coded by the allocation ConceptMap),
//     which assesses the patient at any hour and books the out-of-hours
//     GP or urgent treatment centre when needed. When no NHS 111 service
//     of the directory can take the patient, the practice clinician at
//     the first opening, with the same advice.
//
// A same-day proposal of another category that no service can take in
// the window (a Pharmacy First pharmacy that has closed for the night)
// is routed the same way when the practice is closed too, rather than
// falling through to a later, slower rule. Needs that can wait are
// allocated as usual: the directory's matching finds the first opening
// (a routine request on Saturday goes to the practice on Monday); the
// rationale and the safety-netting then say that the practice is closed
// and when it opens.
//
// Navigators' own decisions are not rerouted: the destination they name
// is checked against its own opening times (safety rule 7).

// RuleOutOfHours is the rule id of out-of-hours routing in Task.output
// (rule) and the rationale.
const RuleOutOfHours = "out-of-hours"

// NHS111Service is the SNOMED CT service type of NHS 111 (verified set).
const NHS111Service = "907301000000109"

// practiceLookahead bounds the search for the practice's next opening.
const practiceLookahead = 14 * 24 * time.Hour

// practiceHours are the practice's opening times as the directory gives
// them.
type practiceHours struct {
	// known: at least one practice clinician service publishes its hours.
	known bool
	// cands are hours-only copies of those services (no eligibility,
	// capacity or catchment: only whether the practice is open).
	cands []Candidate
	names []string
	// openNow: open at the time of the decision; next is the first
	// opening from then (now when open; zero when not within the
	// lookahead).
	openNow bool
	next    time.Time
}

// practiceHours finds the practice's clinician services and when they
// open.
func (e *Engine) practiceHours(in DecideInput) *practiceHours {
	ph := &practiceHours{}
	practice := in.Assessment.Request.Practice
	if practice == "" {
		return ph
	}
	src := in.Candidates
	if in.OfPractice != nil {
		src = in.OfPractice(practice)
	}
	for _, c := range src {
		s := c.Service
		if c.Unreadable || s == nil || !s.Active || !s.Hours || !s.Categories[string(CategoryClinician)] ||
			s.Catchment == nil || !s.Catchment.Practices[practice] {
			continue
		}
		ph.known = true
		ph.names = append(ph.names, orText(s.Name, s.ID))
		ph.cands = append(ph.cands, Candidate{Service: &Service{ID: s.ID, Name: s.Name, Active: true, Hours: true,
			Weekly: s.Weekly, Special: s.Special, Closed: s.Closed, BankHolidays: s.BankHolidays}})
	}
	if !ph.known {
		return ph
	}
	ph.next, _ = e.practiceOpens(ph, in.Now, in.Now.Add(practiceLookahead))
	ph.openNow = !ph.next.IsZero() && !ph.next.After(in.Now)
	return ph
}

// practiceOpens is the first time in [from, to) at which a practice
// clinician service is open; false when none is.
func (e *Engine) practiceOpens(ph *practiceHours, from, to time.Time) (time.Time, bool) {
	res := Match(ph.cands, e.Directory, MatchQuery{From: from, To: to, Holidays: e.Holidays})
	var first time.Time
	for _, m := range res.Matches {
		if !m.OpensAt.IsZero() && (first.IsZero() || m.OpensAt.Before(first)) {
			first = m.OpensAt
		}
	}
	return first, !first.IsZero()
}

// closedForSameDay reports whether the practice is known and does not
// open within the same-day window from now.
func (e *Engine) closedForSameDay(ph *practiceHours, now time.Time) bool {
	if ph == nil || !ph.known {
		return false
	}
	from, to := Timeframe(now, UrgencySameDay, 0)
	_, opens := e.practiceOpens(ph, from, to)
	return !opens
}

// reopenText says when the practice opens next, for people.
func (ph *practiceHours) reopenText() string {
	if ph.next.IsZero() {
		return "not within the next 14 days (no published opening)"
	}
	return ph.next.In(London).Format("Mon 2 Jan 15:04")
}

// closedText is the patient's out-of-hours advice.
func (ph *practiceHours) closedText() string {
	if ph.next.IsZero() {
		return "The practice is closed."
	}
	return "The practice is closed until " + ph.reopenText() + "."
}

// NHS111Advice is the patient instruction of an out-of-hours NHS 111
// decision.
const NHS111Advice = "Call NHS 111 now (or use 111 online): they will assess you at any time of day or night and arrange for you to see or speak to a doctor or nurse if you need to. If it is an emergency, call 999. If you still need the practice, contact us when we open."

// outOfHoursWaitAdvice is the advice of a same-day need kept for the
// practice's first opening.
const outOfHoursWaitAdvice = "If this cannot wait until then, or you feel worse, call NHS 111 now (or use 111 online). If it is an emergency, call 999."

// routeOutOfHours reroutes a same-day proposal the closed practice cannot
// meet (see the top of this file). It reports whether it changed the
// proposal. The caller has checked that the practice is closed for the
// same-day window.
func (e *Engine) routeOutOfHours(p *proposal, a *Assessment, ph *practiceHours, d *Decision) {
	reopen := ph.reopenText()
	names := strings.Join(ph.names, ", ")
	p.outOfHours = true
	switch {
	case a.EmergencyFlag:
		flags := strings.Join(a.RedFlags, "; ")
		p.apply(RuleOutOfHours, "the practice (%s) is closed until %s: no practice clinician can see the patient today", names, reopen)
		p.apply(RuleRedFlag, "red flag (%s) while the practice is closed: emergency services, not a practice clinician the next time it opens", flags)
		p.Category, p.ServiceType, p.Urgency = CategoryEmergency, "", UrgencyEmergency
		p.Mode, p.Professional, p.Minutes, p.Requirements = "", nil, 0, nil
		p.SafetyNetting = EmergencyAdvice
		d.Rationale = append(d.Rationale, fmt.Sprintf("Out of hours: the practice (%s) is closed until %s, so a same-day practice clinician is not available; with a red flag the patient goes to emergency services (safety rule 1).", names, reopen))
	case a.SeniorClinicianNeeded() || a.Complex():
		why := "complex needs (safety rule 3)"
		if rule, text := seniorReason(a); rule != "" {
			why = text + " (safety rule 2)"
		}
		e.keepForOpening(p, ph, fmt.Sprintf("%s keeps the patient with a practice clinician", why))
		d.Rationale = append(d.Rationale, fmt.Sprintf("Out of hours: the practice (%s) is closed until %s; %s, so the allocation is a practice clinician when the practice opens, and the patient is told to call NHS 111 now if it cannot wait (999 in an emergency).", names, reopen, why))
	default:
		p.apply(RuleOutOfHours, "the practice (%s) is closed until %s and the need is same-day: NHS 111 (clinical assessment at any hour) instead of the %s", names, reopen, p.Category)
		p.Category, p.ServiceType, p.Urgency = CategorySignpost, NHS111Service, UrgencySameDay
		p.Mode, p.modeGiven = ModeTelephone, true
		p.Professional, p.Minutes, p.Requirements, p.TurnaroundDays = nil, 0, nil, 0
		p.SafetyNetting = ph.closedText() + " " + NHS111Advice
		p.nhs111 = true
		d.Rationale = append(d.Rationale, fmt.Sprintf("Out of hours: the practice (%s) is closed until %s and the need cannot wait until then: NHS 111, which assesses patients at any hour and arranges the out-of-hours doctor or urgent care when needed.", names, reopen))
	}
}

// keepForOpening allocates a same-day need to a practice clinician at the
// practice's first opening, with out-of-hours advice.
func (e *Engine) keepForOpening(p *proposal, ph *practiceHours, why string) {
	p.apply(RuleOutOfHours, "the practice is closed until %s; %s: the first opening, with NHS 111 advice if it cannot wait", ph.reopenText(), why)
	if p.Category != CategoryClinician && p.Category != CategoryPracticeTeam {
		p.Category, p.ServiceType = CategoryClinician, GeneralPracticeService
		p.Mode, p.modeGiven = "", false
	}
	p.nhs111 = false
	p.start = ph.next
	p.SafetyNetting = strings.TrimSpace(ph.closedText() + " " + outOfHoursWaitAdvice + " " + p.SafetyNetting)
}

// placeInHours places a proposal as place does, routing it out of hours
// first when it needs the practice the same day and the practice is
// closed for the window, or when a same-day service of another category
// cannot take the patient while the practice is closed too.
func (e *Engine) placeInHours(p *proposal, in DecideInput, d *Decision, ph *practiceHours, fallback bool) bool {
	a := in.Assessment
	closed := p.Urgency == UrgencySameDay && e.closedForSameDay(ph, in.Now)
	if closed && (p.Category == CategoryClinician || p.Category == CategoryPracticeTeam) {
		e.routeOutOfHours(p, a, ph, d)
	}
	if p.outOfHours && !p.nhs111 {
		// Emergency, or kept for the practice's first opening: the
		// practice itself when no directory entry can be used.
		return e.place(p, in, d, true)
	}
	if e.place(p, in, d, fallback && !p.nhs111) {
		return true
	}
	if !closed {
		return false
	}
	if !p.outOfHours {
		e.routeOutOfHours(p, a, ph, d)
		if !p.nhs111 {
			return e.place(p, in, d, true)
		}
		if e.place(p, in, d, false) {
			return true
		}
	}
	// No NHS 111 service of the directory can take the patient.
	d.Issues = append(d.Issues, fhir.Issue{Severity: fhir.SeverityWarning, Code: fhir.CodeProcessing,
		Diagnostics: fmt.Sprintf("no NHS 111 service (SNOMED CT %s) of the directory can take the patient: a practice clinician at the practice's first opening, with NHS 111 advice", NHS111Service)})
	p.SafetyNetting = ""
	e.keepForOpening(p, ph, "no NHS 111 service of the directory can take the patient")
	return e.place(p, in, d, true)
}

// closedNote tells a patient who contacted the practice while it is
// closed when it opens, when the decision was not routed out of hours (a
// need that can wait goes to the practice's first opening; a service
// with its own hours, such as a pharmacy, may be open).
func (e *Engine) closedNote(p *proposal, ph *practiceHours, now time.Time, d *Decision, adminKind string) {
	if ph == nil || !ph.known || ph.openNow || p.outOfHours || p.Category == CategoryEmergency {
		return
	}
	// Each thing said once: when 111 comes before opening, and then the
	// protocol's own advice or, when it gave none, what happens next.
	worse := " If your symptoms get worse before then, call NHS 111 (or 999 in an emergency). "
	netting := p.SafetyNetting
	if p.Category == CategoryAdministrative {
		// An administrative request has no symptoms to get worse.
		worse = " If you become unwell before then, call NHS 111 (or 999 in an emergency). "
		if strings.TrimSpace(netting) == "" {
			netting = adminAdvice(adminKind, adminWhen(p.Urgency, p.TurnaroundDays))
		}
	}
	if strings.TrimSpace(netting) == "" {
		netting = "If you have not been contacted within the time we told you, contact the practice again."
	}
	p.SafetyNetting = ph.closedText() + worse + netting
	p.apply(RuleOutOfHours, "contact made while the practice is closed (until %s): the decision does not need the practice before then; NHS 111 advice if things get worse before it opens", ph.reopenText())
	d.Rationale = append(d.Rationale, fmt.Sprintf("Out of hours: the contact was made while the practice (%s) is closed, until %s; the decision does not need the practice before then, so it stands, and the patient is told to call NHS 111 if things get worse before the practice opens.", strings.Join(ph.names, ", "), ph.reopenText()))
}
