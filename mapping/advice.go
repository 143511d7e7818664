package mapping

import (
	"fmt"
	"strings"
)

// Advice follows the final decision (safety rule 6): what the patient is
// told is derived from the final destination, urgency and mode. A
// protocol's own advice is given only while the protocol's destination
// stands (no safety rule moved the patient) and never when it
// contradicts the final urgency: a patient sent to 999 is never told to
// rest at home, and a patient sent to a senior GP is never given
// Pharmacy First advice.

// protocolChoice is what the protocol (or, for a navigator's decision,
// the protocol's first matching rule) chose, with its advice.
type protocolChoice struct {
	category Category
	urgency  Urgency
	mode     string
	advice   string
}

// AdviceFor is the patient instruction for a decision: what happens
// next, by when and how, and what to do if things get worse. dest names
// the destination ("" when none is known).
func AdviceFor(c Category, u Urgency, mode, dest string) string {
	if c == CategoryEmergency || u == UrgencyEmergency {
		return EmergencyAdvice
	}
	when := map[Urgency]string{UrgencySameDay: "today", UrgencyWithinWeek: "within the next week", UrgencyRoutine: "in the next few weeks"}[u]
	if when == "" {
		when = "soon"
	}
	how := map[string]string{ModeTelephone: " by telephone", ModeVideo: " by video", ModeOnlineMessage: " by online message",
		ModeFaceToFace: " for a face-to-face appointment", ModeHomeVisit: " to arrange a home visit"}[mode]
	at := ""
	if dest != "" {
		at = " (" + dest + ")"
	}
	worse := "If you get worse before then, call NHS 111 (or use 111 online). If it is an emergency, call 999."
	if u == UrgencySameDay {
		worse = "If you get worse while you wait, or you have not heard from us by the end of today, call NHS 111. If it is an emergency, call 999."
	}
	switch c {
	case CategoryClinician:
		return fmt.Sprintf("A clinician at the practice%s will contact you %s%s. %s", at, when, how, worse)
	case CategoryPracticeTeam:
		return fmt.Sprintf("A member of the practice team%s will contact you %s%s. %s", at, when, how, worse)
	case CategoryExternal:
		return fmt.Sprintf("You are being referred to %s; they will contact you %s. If your symptoms get worse, or you have not been contacted by then, contact the practice or call NHS 111. If it is an emergency, call 999.", orText(dest, "another service"), when)
	case CategorySignpost:
		return fmt.Sprintf("Please contact %s yourself %s. If your symptoms get worse, or they cannot help you, contact the practice or call NHS 111. If it is an emergency, call 999.", orText(dest, "the service we suggested"), when)
	case CategorySelfCare:
		return "You can look after this yourself for now; a pharmacist can advise on treatments. If your symptoms get worse, have not improved within a few days, or you are worried, contact the practice or call NHS 111. If it is an emergency, call 999."
	case CategoryAdministrative:
		return adminAdvice("", when)
	}
	return DefaultSafetyNetting
}

// adviceForDecision is AdviceFor with what the decision knows besides:
// an administrative request's kind and turnaround are said in words
// that fit a request (a fit note, a prescription), not symptoms.
func adviceForDecision(d *Decision, kind string) string {
	if d.Category == CategoryAdministrative && d.Urgency != UrgencyEmergency {
		return adminAdvice(kind, adminWhen(d.Urgency, d.TurnaroundDays))
	}
	return AdviceFor(d.Category, d.Urgency, d.Mode, d.adviceDestination())
}

// adminWhen says when an administrative request is dealt with: its
// turnaround when the protocol set one, else its urgency.
func adminWhen(u Urgency, turnaroundDays int) string {
	if u == UrgencySameDay {
		return "today"
	}
	if turnaroundDays > 0 {
		return "within " + plural(turnaroundDays, "day")
	}
	switch u {
	case UrgencyWithinWeek:
		return "within the next week"
	case UrgencyRoutine:
		return "in the next few weeks"
	}
	return "soon"
}

// adminAdvice is the instruction for an administrative request: what
// the practice does and by when, and where to turn if the patient
// becomes unwell meanwhile (an administrative request has no symptoms
// to get worse).
func adminAdvice(kind, when string) string {
	const unwell = "If you become unwell in the meantime, contact the practice or call NHS 111. If it is an emergency, call 999."
	switch kind {
	case "fit-note":
		return fmt.Sprintf("The practice team will prepare your fit note %s for a clinician to sign, and tell you when it is ready. %s", when, unwell)
	case "repeat-prescription":
		return fmt.Sprintf("The practice team will deal with your prescription request %s. If you will run out of a medicine before then, tell the practice or ask a pharmacist about an emergency supply. %s", when, unwell)
	case "test-result":
		return fmt.Sprintf("The practice team will contact you about your test result %s. %s", when, unwell)
	case "insurance-report":
		return fmt.Sprintf("The practice team will prepare the report %s and send it as you asked. %s", when, unwell)
	}
	return fmt.Sprintf("The practice team will deal with your request %s. %s", when, unwell)
}

// stayHome are words of advice that keep a patient away from urgent
// care: never right for an emergency or same-day decision.
var stayHome = []string{"rest at home", "stay at home", "stay home", "self-care", "self care", "look after yourself",
	"no need to", "wait a few days", "wait and see", "within a week", "next week", "in a few weeks", "routine",
	"pharmacy", "pharmacist", "not urgent", "won't need", "do not need to see", "nothing to worry"}

// AdviceAgrees reports what is wrong with advice for a final category
// and urgency ("" when it agrees): an emergency's advice says to call
// 999; advice for an emergency, or for a practice clinician or team the
// same day, never tells the patient to stay at home, wait or see a
// pharmacist; advice that directs the patient away says where to turn
// if things get worse.
func AdviceAgrees(c Category, u Urgency, advice string) string {
	low := strings.ToLower(advice)
	if strings.TrimSpace(low) == "" {
		return "no advice"
	}
	if (c == CategoryEmergency || u == UrgencyEmergency) && !strings.Contains(low, "999") {
		return "emergency advice that does not say to call 999"
	}
	toPractice := c == CategoryEmergency || c == CategoryClinician || c == CategoryPracticeTeam
	if toPractice && (c == CategoryEmergency || u == UrgencyEmergency || u == UrgencySameDay) {
		for _, w := range stayHome {
			if strings.Contains(low, w) {
				return fmt.Sprintf("%s advice that says %q", u, w)
			}
		}
	}
	if c == CategoryClinician || c == CategoryPracticeTeam {
		for _, w := range []string{"pharmacist can see you", "pharmacy first", "see a pharmacist instead"} {
			if strings.Contains(low, w) {
				return fmt.Sprintf("advice for a practice %s that sends the patient to a pharmacist (%q)", c, w)
			}
		}
	}
	if c.AwayFromPractice() && !strings.Contains(low, "111") && !strings.Contains(low, "999") && !strings.Contains(low, "contact the practice") {
		return "advice for directing the patient away with no safety-netting (111, 999 or the practice)"
	}
	return ""
}

// settleAdvice makes the decision's advice follow the final decision:
// the protocol's advice stays only if the protocol's destination stood,
// and any advice that contradicts the final urgency is replaced.
func settleAdvice(p *proposal, d *Decision, a *Assessment) string {
	derived := adviceForDecision(d, a.Request.AdminKind)
	advice := p.SafetyNetting
	if pc := p.protocol; pc != nil && pc.advice != "" && strings.Contains(advice, pc.advice) {
		moved := pc.category != d.Category || pc.urgency != d.Urgency || (pc.mode != "" && pc.mode != d.Mode)
		redFlagUnsaid := len(a.RedFlags) > 0 && !strings.Contains(strings.ToLower(pc.advice), "999") && !strings.Contains(strings.ToLower(pc.advice), "today")
		if moved || redFlagUnsaid {
			advice = strings.Replace(advice, pc.advice, derived, 1)
			p.apply(RuleSafetyNetting, "the protocol's advice was for its own choice (%s, %s), not the final decision (%s, %s): the advice for the final decision is given instead", pc.category, pc.urgency, d.Category, d.Urgency)
		}
	}
	if strings.TrimSpace(advice) == "" {
		advice = derived
	}
	if why := AdviceAgrees(d.Category, d.Urgency, advice); why != "" {
		p.apply(RuleSafetyNetting, "the advice did not match the final decision (%s): the advice for the final decision is given instead", why)
		advice = derived
		if why := AdviceAgrees(d.Category, d.Urgency, advice); why != "" {
			// The derived advice without the destination's name.
			advice = AdviceFor(d.Category, d.Urgency, d.Mode, "")
		}
		if why := AdviceAgrees(d.Category, d.Urgency, advice); why != "" {
			// The derived advice names the destination, whose name
			// could hold a word the check refuses ("... Pharmacy"):
			// then the advice of an emergency, which never misleads.
			advice = EmergencyAdvice
		}
	}
	return advice
}

// adviceDestination names the destination for the patient.
func (d *Decision) adviceDestination() string {
	switch {
	case d.Service != nil:
		return d.Service.Label()
	case d.Role != nil:
		return orText(d.Role.Display, "")
	}
	return ""
}
