package mapping

import (
	"fmt"
	"strings"
	"sync"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/snomed"
)

// The safety rules no protocol can switch off (NAVIGATION-API.md, "Safety
// rules"). They are code, not data of the protocol: the engine applies
// them to whatever the protocol, the fallback or a navigator proposes,
// after the proposal is made, so a protocol cannot order them away. The
// lists they read are data (SafetyLists): the red-flag list is the
// red-flag-finding value set of the store, never less than the shipped
// one.
//
// Rule ids, as they appear in Task.output (rule) and Provenance:
//
//	safety-1-red-flag               emergency or a same-day clinician
//	safety-1-life-critical-medicine urgent supply is same-day
//	safety-2-repeat-contact         third contact about the problem
//	safety-2-seen-elsewhere         more than one other service seen
//	safety-2-escalating-concern     escalating parental or carer concern
//	safety-3-complex-needs          continuity; clinician review before away
//	safety-4-patient-urgency        patient's view more urgent: clinician decides
//	safety-5-no-automation-consent  the protocol only proposes
//	safety-6-safety-netting         directing away carries safety-netting
//	safety-7-eligibility            only services that can take the patient
//	safety-8-navigator-tier         the navigator's tier gates the decision
//	safety-9-free-text              away only when the words are accounted for

// Safety rule ids.
const (
	RuleRedFlag           = "safety-1-red-flag"
	RuleLifeCritical      = "safety-1-life-critical-medicine"
	RuleRepeatContact     = "safety-2-repeat-contact"
	RuleSeenElsewhere     = "safety-2-seen-elsewhere"
	RuleEscalatingConcern = "safety-2-escalating-concern"
	RuleComplexNeeds      = "safety-3-complex-needs"
	RulePatientUrgency    = "safety-4-patient-urgency"
	RuleNoConsent         = "safety-5-no-automation-consent"
	RuleManualReview      = "safety-5-manual-review"
	RuleSafetyNetting     = "safety-6-safety-netting"
	RuleEligibility       = "safety-7-eligibility"
	RuleTier              = "safety-8-navigator-tier"
	RuleFreeText          = "safety-9-free-text"
)

// SafetyLists are the coded lists the safety rules read. What the free
// text says is read by the clinical lexicon (mapping/freetext), which is
// data too: red flags, life-critical medicines, complex needs and their
// context in the words patients and carers use.
type SafetyLists struct {
	// RedFlagCodes are SNOMED CT findings that are red flags, with their
	// displays.
	RedFlagCodes    map[string]bool
	RedFlagDisplays map[string]string
	// ComplexFindings are need-group findings (SNOMED CT) that make needs
	// complex, with labels.
	ComplexFindings map[string]string
	// MoneyPhrases mark a request about money or benefits (whole-word
	// prefixes).
	MoneyPhrases []string
}

// shippedRedFlags are the red-flag findings of the shipped subset: the
// floor of the red-flag list, whatever the stored value set says.
var shippedRedFlags = sync.OnceValue(func() map[string]string {
	out := map[string]string{}
	cs, err := snomed.Shipped()
	if err != nil {
		panic("mapping: the shipped SNOMED CT subset does not load: " + err.Error())
	}
	cs.All(func(c *snomed.Concept) bool {
		if c.Category == "F red flag" {
			out[c.ID] = c.Preferred
		}
		return true
	})
	return out
})

// DefaultSafetyLists are the shipped lists, with extra red-flag codes
// (code -> display; the stored red-flag-finding value set's expansion)
// added to the shipped ones.
func DefaultSafetyLists(extraRedFlags map[string]string) *SafetyLists {
	l := &SafetyLists{RedFlagCodes: map[string]bool{}, RedFlagDisplays: map[string]string{}}
	for c, d := range shippedRedFlags() {
		l.RedFlagCodes[c], l.RedFlagDisplays[c] = true, d
	}
	for c, d := range extraRedFlags {
		l.RedFlagCodes[c] = true
		if d != "" {
			l.RedFlagDisplays[c] = d
		}
	}
	l.ComplexFindings = map[string]string{
		"391193001":       "on the severe mental illness register",
		"526631000000108": "on the end of life care register",
		"103735009":       "receiving palliative care",
		"416075005":       "on the learning disability register",
		"925791000000100": "mild frailty",
		"925831000000107": "moderate frailty",
		"925861000000102": "severe frailty",
	}
	l.MoneyPhrases = []string{"money", "benefit", "debt", "universal credit", "pip", "personal independence payment", "financial", "afford", "rent arrears", "food bank", "foodbank", "bills"}
	return l
}

// AppliedRule is a rule that shaped a decision: a safety rule, the
// protocol rule that matched, or the fallback.
type AppliedRule struct {
	ID   string
	Text string
}

// RuleError is a navigator's decision that breaks a safety rule: it is
// refused (422), naming the rule.
func ruleError(rule, format string, args ...any) *fhir.Error {
	return fhir.Errorf(fhir.CodeBusinessRule, "%s: %s", rule, fmt.Sprintf(format, args...)).Because(fhir.DetailRefused)
}

// checkNavigatorProposal refuses a navigator's decision that safety rules
// 1 and 2 forbid. (A protocol's proposal is corrected instead, by
// enforceBeforeMatch; a person's decision is not silently changed.)
func checkNavigatorProposal(p *proposal, a *Assessment) error {
	if len(a.RedFlags) > 0 {
		if p.Category != CategoryEmergency && p.Category != CategoryClinician {
			return ruleError(RuleRedFlag, "a red flag (%s) goes to emergency services or a same-day clinician, never %s", strings.Join(a.RedFlags, "; "), p.Category)
		}
		if p.Category == CategoryClinician && p.urgencyGiven && UrgencySameDay.MoreUrgentThan(p.Urgency) {
			return ruleError(RuleRedFlag, "a red flag (%s) goes to a clinician the same day, not %s", strings.Join(a.RedFlags, "; "), p.Urgency)
		}
	}
	if a.LifeCriticalUrgent && p.urgencyGiven && UrgencySameDay.MoreUrgentThan(p.Urgency) {
		return ruleError(RuleLifeCritical, "urgent supply of a life-critical medicine (%s) is same-day, not %s", strings.Join(a.LifeCritical, ", "), p.Urgency)
	}
	if a.LifeCriticalUrgent && p.Category == CategorySelfCare {
		return ruleError(RuleLifeCritical, "urgent supply of a life-critical medicine (%s) cannot be self-care", strings.Join(a.LifeCritical, ", "))
	}
	if rule, why := seniorReason(a); rule != "" && p.Category != CategoryClinician && p.Category != CategoryEmergency {
		return ruleError(rule, "%s: a senior clinician sees the patient face to face, so the destination is a practice clinician, not %s", why, p.Category)
	}
	return nil
}

// seniorReason is the first of safety rule 2's triggers that holds.
func seniorReason(a *Assessment) (string, string) {
	switch {
	case a.RepeatContact():
		return RuleRepeatContact, fmt.Sprintf("contact %d about the same problem", a.Contact())
	case a.SeenMany():
		return RuleSeenElsewhere, fmt.Sprintf("%d other services already seen about it", a.SeenElsewhere)
	case a.Request.EscalatingConcern:
		return RuleEscalatingConcern, "escalating parental or carer concern"
	}
	return "", ""
}

// enforceBeforeMatch applies the safety rules that shape the destination
// (1 and 2) and continuity (3) to a proposal, changing what they forbid
// and recording what applied.
func enforceBeforeMatch(p *proposal, a *Assessment) {
	if len(a.RedFlags) > 0 {
		flags := strings.Join(a.RedFlags, "; ")
		switch {
		case p.Category == CategoryEmergency:
			p.apply(RuleRedFlag, "red flag (%s): emergency services", flags)
		case p.Category == CategoryClinician:
			p.Urgency = UrgencySameDay.atLeast(p.Urgency)
			p.apply(RuleRedFlag, "red flag (%s): a practice clinician the same day", flags)
		case a.EmergencyFlag:
			p.apply(RuleRedFlag, "red flag (%s): the proposed %s is not allowed; emergency services instead", flags, p.Category)
			p.Category, p.ServiceType, p.Urgency = CategoryEmergency, "", UrgencyEmergency
		default:
			// A red flag of the same day: a practice clinician today.
			p.apply(RuleRedFlag, "red flag (%s): the proposed %s is not allowed; a practice clinician the same day instead", flags, p.Category)
			p.Category, p.ServiceType, p.Urgency = CategoryClinician, GeneralPracticeService, UrgencySameDay
		}
		if p.Category == CategoryEmergency {
			p.Urgency = UrgencyEmergency
		}
	}
	if a.LifeCriticalUrgent && p.Category != CategoryEmergency {
		if p.Category == CategorySelfCare {
			p.Category, p.ServiceType = CategoryClinician, ""
		}
		p.Urgency = UrgencySameDay.atLeast(p.Urgency)
		p.apply(RuleLifeCritical, "urgent supply of a life-critical medicine (%s): same day", strings.Join(a.LifeCritical, ", "))
	}
	if rule, why := seniorReason(a); rule != "" && p.Category != CategoryEmergency {
		if p.Category != CategoryClinician {
			p.apply(rule, "%s: the proposed %s is not allowed; a senior clinician sees the patient face to face, with continuity", why, p.Category)
			p.Category, p.ServiceType = CategoryClinician, ""
		} else {
			p.apply(rule, "%s: a senior clinician sees the patient face to face, with continuity", why)
		}
		// Every trigger of rule 2 is recorded, not only the first.
		for _, extra := range []struct {
			on         bool
			rule, text string
		}{
			{a.SeenMany() && rule != RuleSeenElsewhere, RuleSeenElsewhere, fmt.Sprintf("%d other services already seen about it", a.SeenElsewhere)},
			{a.Request.EscalatingConcern && rule != RuleEscalatingConcern, RuleEscalatingConcern, "escalating parental or carer concern"},
		} {
			if extra.on {
				p.apply(extra.rule, "%s", extra.text)
			}
		}
		p.Mode, p.Continuity, p.Senior = ModeFaceToFace, true, true
		p.Urgency = UrgencyWithinWeek.atLeast(p.Urgency)
		if p.Minutes < 20 {
			p.Minutes = 20
		}
	}
	if a.Complex() {
		p.Continuity = true
	}
}

// Decider is who decides: the navigator or clinician invoking $navigate.
// An automated decision is made by the protocol on the caller's behalf;
// the tier gates it all the same.
type Decider struct {
	// System and Value identify the person or client (the token's issuer
	// and subject), Display names them and Type is the Reference type
	// (Practitioner, Device...), for the records.
	System, Value, Display, Type string
	// Tier is the navigator tier: "", essential, enhanced or expert.
	Tier string
	// Clinician: the caller is a clinician, whose own decision settles
	// what safety rules 3, 4 and 8 send to a clinician.
	Clinician bool
}

func (d Decider) tierRank() int {
	switch d.Tier {
	case "enhanced":
		return 2
	case "expert":
		return 3
	}
	// No tier (a system client, an online form) counts as essential:
	// nothing less competent decides.
	return 1
}

// reviewFinal applies the rules that decide whether a person must confirm
// or a clinician review (3, 4, 5, 8) and safety-netting (6), once the
// destination is known. It returns the disposition and, for escalations
// and reviews, the reasons for the clinician-review Task.
func reviewFinal(p *proposal, a *Assessment, d Decider, automated bool, serviceTypes []string, dest string) (Disposition, []string) {
	disp := DispositionAllocated
	var reasons []string
	// A clinician's own decision is the clinician review rules 3, 4 and 8
	// ask for; an automated decision a clinician merely invoked is not.
	d.Clinician = d.Clinician && !automated
	raise := func(to Disposition, reason string) {
		if to.rank() > disp.rank() {
			disp = to
		}
		reasons = append(reasons, reason)
	}
	// 6: safety-netting whenever the patient is directed away (and
	// emergency advice always says what to do).
	if (p.Category.AwayFromPractice() || p.Category == CategoryEmergency) && strings.TrimSpace(p.SafetyNetting) == "" {
		p.SafetyNetting = AdviceFor(p.Category, p.Urgency, p.Mode, dest)
		p.apply(RuleSafetyNetting, "no safety-netting advice was given for directing the patient away; the advice for the decision is added")
	} else if p.Category.AwayFromPractice() {
		p.apply(RuleSafetyNetting, "safety-netting advice given with directing the patient away")
	}
	// 3: complex needs are reviewed by a clinician before the patient is
	// directed away.
	if a.Complex() {
		if p.Category.AwayFromPractice() && !d.Clinician {
			raise(DispositionReview, fmt.Sprintf("complex needs (%s): a clinician reviews the decision before the patient is directed away from the practice", strings.Join(a.ComplexNeeds, "; ")))
			p.apply(RuleComplexNeeds, "complex needs (%s): continuity prioritised; a clinician reviews before the patient is directed away", strings.Join(a.ComplexNeeds, "; "))
		} else {
			p.apply(RuleComplexNeeds, "complex needs (%s): continuity prioritised", strings.Join(a.ComplexNeeds, "; "))
		}
	}
	// 9: an automated decision directs the patient away only when what
	// the request says is accounted for: every finding within what the
	// destination accepts, and no clinical words left unrecognised.
	// Otherwise a clinician reviews it, told which words.
	if automated && p.Category.AwayFromPractice() && !d.Clinician {
		if left := a.unaccounted(p.Category, serviceTypes); len(left) > 0 {
			raise(DispositionReview, fmt.Sprintf("the request's words are not accounted for by directing the patient away (%s): %s", p.Category, strings.Join(left, "; ")))
			p.apply(RuleFreeText, "directing the patient away (%s) does not account for %s: a clinician reviews the decision", p.Category, strings.Join(left, "; "))
		} else if n := len(a.text().Findings); n > 0 {
			p.apply(RuleFreeText, "what the request says is within what %s accepts", p.Category)
		}
	}
	// 4: the patient's view of urgency is more urgent than the decision's.
	if pu := a.Request.PatientUrgency; pu.Valid() && pu.MoreUrgentThan(p.Urgency) && !d.Clinician {
		raise(DispositionEscalated, fmt.Sprintf("the patient thinks this is %s; the assessment says %s: a clinician decides", pu, p.Urgency))
		p.apply(RulePatientUrgency, "the patient's view (%s) is more urgent than the assessment (%s): a clinician decides", pu, p.Urgency)
	}
	// 8: the tier gates the decision (a clinician is not gated).
	if !d.Clinician {
		tier := d.Tier
		if tier == "" {
			tier = "essential (no tier)"
		}
		if a.Complex() && d.tierRank() < 2 {
			raise(DispositionReview, fmt.Sprintf("an %s-tier decision for a patient with complex needs goes to review", tier))
			p.apply(RuleTier, "decision by an %s-tier navigator for complex needs: sent to review", tier)
		}
		if a.MoneyOrBenefits && (p.Category == CategorySignpost || p.Category == CategoryExternal) && d.tierRank() < 2 {
			raise(DispositionReview, "signposting on money or benefits needs an enhanced or expert navigator")
			p.apply(RuleTier, "signposting on money or benefits needs the enhanced tier or above; the navigator is %s: sent to review", tier)
		}
		if a.Complex() && p.Category == CategoryExternal && d.tierRank() < 3 {
			raise(DispositionReview, "referring complex health, mental and social needs needs an expert navigator")
			p.apply(RuleTier, "referring complex needs needs the expert tier; the navigator is %s: sent to review", tier)
		}
	}
	// 5: without consent to an automated decision the protocol only
	// proposes; a person confirms.
	if automated && (a.Request.AutomatedConsent == nil || !*a.Request.AutomatedConsent) {
		if disp.rank() < DispositionProposed.rank() {
			disp = DispositionProposed
		}
		p.apply(RuleNoConsent, "the patient has not agreed to an automated decision: this is a proposal for a person to confirm")
	}
	return disp, reasons
}

// EmergencyAdvice is the patient instruction of an emergency decision.
const EmergencyAdvice = "Call 999 now, or go to the nearest A&E. If the person stops breathing or collapses, call 999 straight away. Do not wait for a call back from the practice."

// DefaultSafetyNetting is the safety-netting advice added when the patient
// is directed away and the protocol gave none.
const DefaultSafetyNetting = "If your symptoms get worse, or you have not been contacted within the time we told you, contact the practice again or call NHS 111. If it is an emergency, call 999."

// Disposition is what the navigation committed: an allocation, a proposal
// for a person to confirm, or a review or escalation to a clinician. Its
// value is the Task's businessStatus (navigation-status).
type Disposition string

const (
	DispositionAllocated Disposition = "allocated"
	DispositionProposed  Disposition = "proposed"
	DispositionReview    Disposition = "review-requested"
	DispositionEscalated Disposition = "escalated"
)

func (d Disposition) rank() int {
	switch d {
	case DispositionProposed:
		return 1
	case DispositionReview:
		return 2
	case DispositionEscalated:
		return 3
	}
	return 0
}

// Final reports whether the decision stands without a person confirming
// or a clinician reviewing it.
func (d Disposition) Final() bool { return d == DispositionAllocated }
