package mapping

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/mapping/freetext"
	"github.com/signpost-fhir/signpost/snomed"
)

// Assessment: what the engine finds out about a request before any rule
// decides: the facts the practice protocol matches on and the findings
// the safety rules act on (safety.go). Everything here is pure; what
// comes from outside (the patient's earlier contacts, the need group)
// is asked through the two interfaces below, which the gateway
// implements.

// Urgency is a navigation-urgency code.
type Urgency string

const (
	UrgencyEmergency  Urgency = "emergency"
	UrgencySameDay    Urgency = "same-day"
	UrgencyWithinWeek Urgency = "within-week"
	UrgencyRoutine    Urgency = "routine"
)

// rank orders urgencies, most urgent lowest; unknown codes rank last.
func (u Urgency) rank() int {
	switch u {
	case UrgencyEmergency:
		return 0
	case UrgencySameDay:
		return 1
	case UrgencyWithinWeek:
		return 2
	case UrgencyRoutine:
		return 3
	}
	return 4
}

// Valid reports whether u is a navigation-urgency code.
func (u Urgency) Valid() bool { return u.rank() < 4 }

// MoreUrgentThan reports whether u is more urgent than v.
func (u Urgency) MoreUrgentThan(v Urgency) bool { return u.rank() < v.rank() }

// atLeast is the more urgent of u and min.
func (u Urgency) atLeast(min Urgency) Urgency {
	if min.MoreUrgentThan(u) {
		return min
	}
	return u
}

// Category is a navigation-category code.
type Category string

const (
	CategoryEmergency      Category = "emergency"
	CategoryClinician      Category = "clinician"
	CategoryPracticeTeam   Category = "practice-team"
	CategoryExternal       Category = "external-referral"
	CategorySignpost       Category = "signpost"
	CategorySelfCare       Category = "self-care"
	CategoryAdministrative Category = "administrative"
)

var categories = []Category{CategoryEmergency, CategoryClinician, CategoryPracticeTeam, CategoryExternal, CategorySignpost, CategorySelfCare, CategoryAdministrative}

// Valid reports whether c is a navigation-category code.
func (c Category) Valid() bool {
	for _, x := range categories {
		if x == c {
			return true
		}
	}
	return false
}

// AwayFromPractice reports whether the category directs the patient away
// from the practice (safety rules 3 and 6): to an outside service, to
// contact a service themselves, or to look after themselves.
func (c Category) AwayFromPractice() bool {
	return c == CategoryExternal || c == CategorySignpost || c == CategorySelfCare
}

// needsService reports whether the category is allocated to a service of
// the directory (emergency and self-care are not).
func (c Category) needsService() bool { return c != CategoryEmergency && c != CategorySelfCare }

// Consultation modes (the preferred-mode codes, plus home-visit which a
// protocol may give).
const (
	ModeFaceToFace    = "face-to-face"
	ModeTelephone     = "telephone"
	ModeVideo         = "video"
	ModeOnlineMessage = "online-message"
	ModeHomeVisit     = "home-visit"
)

var consultationModes = []string{ModeFaceToFace, ModeTelephone, ModeVideo, ModeOnlineMessage, ModeHomeVisit}

// modeConcepts are the SNOMED CT concepts (consultation-mode value set of
// the verified set) that code each mode in ServiceRequest.locationCode.
var modeConcepts = map[string]string{
	ModeFaceToFace:    "325861000000105",  // Face to face consultation encounter type
	ModeTelephone:     "386472008",        // Telephone consultation
	ModeVideo:         "325921000000107",  // Consultation via video conference
	ModeOnlineMessage: "1068881000000101", // eConsultation via online application
	ModeHomeVisit:     "439708006",        // Home visit
}

// Need levels of the patient-need-group code system.
const (
	NeedLow      = "low"
	NeedModerate = "moderate"
	NeedHigh     = "high"
	// NeedUnknown is a need group that could not be found: never read
	// as low.
	NeedUnknown = "unknown"
)

// needGroupLevels are the levels of the guide's Table 1.
var needGroupLevels = map[string]string{
	"1": NeedLow, "2": NeedLow, "3": NeedLow, "4": NeedLow,
	"5": NeedModerate, "6": NeedModerate, "7": NeedModerate, "8": NeedModerate, "9": NeedModerate,
	"10": NeedHigh, "11": NeedHigh,
}

// NeedGroupLevel is the level of a patient-need-group code, or
// NeedUnknown.
func NeedGroupLevel(code string) string {
	if l, ok := needGroupLevels[code]; ok {
		return l
	}
	return NeedUnknown
}

// NeedGroup is the patient's need group as the shared care record gave
// it. Known is false when it could not be found (no record, record
// unreachable): the engine then treats it as unknown, never as low.
type NeedGroup struct {
	Known bool
	Code  string
	// Source says where it came from (the shared care record's base URL,
	// or "stored Observation"); Date when it was determined.
	Source string
	Date   time.Time
	// Observation is the reference of the stored need-group Observation,
	// for the allocation's supportingInfo ("" when none).
	Observation string
	// Findings are SNOMED CT codes of registers and findings the record
	// holds that bear on complex needs (the need-group-finding value set:
	// severe mental illness, palliative care, learning disability,
	// frailty...).
	Findings []string
}

// Level is the need group's level, NeedUnknown when not known.
func (g NeedGroup) Level() string {
	if !g.Known {
		return NeedUnknown
	}
	return NeedGroupLevel(g.Code)
}

// NeedGroupSource finds a patient's need group (the shared care record
// client, a later piece of work, implements it; the gateway's default
// reads the need-group Observation stored for the patient). An error
// means the source could not be reached: the navigation completes with
// the need group unknown and a warning.
type NeedGroupSource interface {
	NeedGroup(ctx context.Context, patient PatientRef, practice string) (NeedGroup, error)
}

// EarlierContact is an earlier navigation request of the same patient.
type EarlierContact struct {
	TaskID     string
	AuthoredOn time.Time
	Symptoms   []string
	Problem    string
}

// ContactHistory lists the patient's earlier navigation requests at the
// practice authored since a time, excluding one Task (the current one).
// The gateway implements it with a search of stored Tasks.
type ContactHistory interface {
	EarlierContacts(ctx context.Context, patient PatientRef, practice string, since time.Time, exclude string) ([]EarlierContact, error)
}

// Patient is what the engine knows of the patient beyond the request:
// from the Patient resource when the gateway found one.
type Patient struct {
	BirthDate time.Time
	// Sex is an administrative-gender code, "" unknown.
	Sex string
	// Postcode is the home postcode, for catchments.
	Postcode string
}

// AgeAt is the age in whole years at t, and false when the birth date is
// not known.
func (p Patient) AgeAt(t time.Time) (int, bool) {
	if p.BirthDate.IsZero() {
		return 0, false
	}
	t = t.In(London)
	b := p.BirthDate
	age := t.Year() - b.Year()
	if t.Month() < b.Month() || (t.Month() == b.Month() && t.Day() < b.Day()) {
		age--
	}
	return age, true
}

// Assessment is what the engine found about one request.
type Assessment struct {
	Request *Request
	Patient Patient
	Age     int
	HasAge  bool
	Need    NeedGroup

	// RedFlags are the red-flag symptoms found: codes with their
	// displays, and what the text says ("'pains in my chest' → Chest
	// pain (SNOMED CT 29857009)").
	RedFlags []string
	// EmergencyFlag: a red flag that is an emergency was found (every
	// coded red flag, and the text's emergency-level ones); the others
	// need a clinician the same day (urgency same-day in the lexicon).
	EmergencyFlag bool
	// Denied are red flags the text mentions but not as current for this
	// patient: denied, hypothetical, historical or another person's.
	Denied []string
	// Text is what the free text says (mapping/freetext).
	Text *freetext.Analysis
	// EarlierWhy says, for each of EarlierTasks, why it is the same
	// problem.
	EarlierWhy []string
	now        time.Time
	// LifeCritical are the life-critical medicines named; LifeCriticalUrgent
	// says the supply is urgent (safety rule 1).
	LifeCritical       []string
	LifeCriticalUrgent bool
	// EarlierContacts is how many earlier contacts about this problem
	// were found (the gateway's search, and asked-before); Contact is
	// this contact's number (EarlierContacts + 1).
	EarlierContacts int
	EarlierTasks    []string
	// SeenElsewhere is the number of other services already seen.
	SeenElsewhere int
	// ComplexNeeds are the reasons the patient has complex needs (safety
	// rule 3); empty when none is known.
	ComplexNeeds []string
	// MoneyOrBenefits: the request is about money or benefits (safety
	// rule 8).
	MoneyOrBenefits bool
	// Issues are warnings for the caller (need group unavailable...).
	Issues []fhir.Issue
}

// Contact is the number of this contact about the problem.
func (a *Assessment) Contact() int { return a.EarlierContacts + 1 }

// RepeatContact is safety rule 2's third contact about the same problem.
func (a *Assessment) RepeatContact() bool { return a.Contact() >= 3 }

// SeenMany is safety rule 2's "more than one other service already seen".
func (a *Assessment) SeenMany() bool { return a.SeenElsewhere > 1 }

// Complex reports safety rule 3's complex needs.
func (a *Assessment) Complex() bool { return len(a.ComplexNeeds) > 0 }

// SeniorClinicianNeeded reports safety rule 2.
func (a *Assessment) SeniorClinicianNeeded() bool {
	return a.RepeatContact() || a.SeenMany() || a.Request.EscalatingConcern
}

// AssessInput is what Assess reads.
type AssessInput struct {
	Request *Request
	Patient Patient
	Need    NeedGroup
	// NeedErr is the need-group source's failure, if any.
	NeedErr error
	// Earlier are the patient's earlier navigation requests in the window.
	Earlier []EarlierContact
	// HistoryErr is the contact history's failure, if any.
	HistoryErr error
	Lists      *SafetyLists
	// Lexicon reads the free text; nil is the shipped lexicon.
	Lexicon *freetext.Lexicon
	Now     time.Time
}

// Assess finds the facts of a request (see Assessment).
func Assess(in AssessInput) *Assessment {
	r := in.Request
	a := &Assessment{Request: r, Patient: in.Patient, Need: in.Need}
	a.Age, a.HasAge = in.Patient.AgeAt(in.Now)
	lists := in.Lists
	if lists == nil {
		lists = DefaultSafetyLists(nil)
	}
	warn := func(expr, format string, args ...any) {
		a.Issues = append(a.Issues, fhir.Issue{Severity: fhir.SeverityWarning, Code: codeIncomplete, Diagnostics: fmt.Sprintf(format, args...), Expression: nonEmpty(expr)})
	}
	if in.NeedErr != nil || !in.Need.Known {
		a.Need = NeedGroup{}
		if in.NeedErr != nil {
			warn("", "the patient need group is unavailable (%v): it is treated as unknown, never as low, so rules for low-need patients do not apply", in.NeedErr)
		} else {
			warn("", "the patient need group is not known: it is treated as unknown, never as low, so rules for low-need patients do not apply")
		}
	}
	if !a.HasAge {
		warn("", "the patient's birth date is not known: services restricted by age are not offered")
	}
	text := strings.ToLower(r.Problem + "\n" + r.Tried + "\n" + r.ICE)
	lex := in.Lexicon
	if lex == nil {
		lex = shippedLexicon()
	}
	a.Text = lex.Analyse(requestTexts(r)...)
	a.now = in.Now
	for _, f := range a.Text.Truncated {
		warn("", "the request's %s text is longer than %d KB: only its first %d KB were read, and a decision directing the patient away is reviewed by a clinician", f, freetext.MaxText>>10, freetext.MaxText>>10)
	}

	// Red flags: coded symptoms in the red-flag list, and what the text
	// says (safety rule 9: free text counts as much as codes).
	for _, s := range r.Symptoms {
		if lists.RedFlagCodes[s.Code] {
			label := s.Display
			if label == "" {
				label = lists.RedFlagDisplays[s.Code]
			}
			a.RedFlags = append(a.RedFlags, strings.TrimSpace(fmt.Sprintf("SNOMED CT %s %s", s.Code, label)))
			a.EmergencyFlag = true
		}
	}
	a.assessText()
	if len(a.LifeCritical) > 0 {
		// Unless the patient says it can wait, a request about a
		// life-critical medicine is an urgent supply.
		waits := r.PatientUrgency == UrgencyWithinWeek || r.PatientUrgency == UrgencyRoutine
		a.LifeCriticalUrgent = a.Text.Has(freetext.ClassUrgentSupply, "") || !waits
	}

	// Repeat contacts: earlier requests about the same problem
	// (overlapping symptom codes, the same findings or body site in their
	// words, or any when the patient says they asked before), and
	// asked-before itself.
	asked := r.AskedBefore != nil && *r.AskedBefore
	mine := problemOf(r, a.Text)
	for _, e := range in.Earlier {
		why := mine.same(problemOf(&Request{Symptoms: snomedCodings(e.Symptoms)}, lex.Analyse(freetext.Text{Field: "problem", Text: earlierText(e.Problem)})))
		if why == "" && asked {
			why = "the patient says they asked before"
		}
		if why != "" {
			a.EarlierContacts++
			a.EarlierTasks = append(a.EarlierTasks, e.TaskID)
			a.EarlierWhy = append(a.EarlierWhy, fmt.Sprintf("Task/%s of %s (%s)", e.TaskID, e.AuthoredOn.In(London).Format("2 Jan"), why))
		}
	}
	if in.HistoryErr != nil {
		warn("", "the patient's earlier contacts could not be searched (%v): repeat contacts are counted from asked-before only", in.HistoryErr)
	}
	if asked && a.EarlierContacts == 0 {
		// The patient says so; the earlier contact may not have come
		// through Signpost.
		a.EarlierContacts = 1
	}
	seen := map[string]bool{}
	for _, s := range r.SeenElsewhere {
		seen[s.Code] = true
	}
	a.SeenElsewhere = len(seen)

	// Complex needs.
	if a.Need.Level() == NeedHigh {
		a.ComplexNeeds = append(a.ComplexNeeds, fmt.Sprintf("need group %s (%s, high need)", a.Need.Code, needGroupDisplay[a.Need.Code]))
	}
	for _, f := range a.Need.Findings {
		if label, ok := lists.ComplexFindings[f]; ok {
			a.ComplexNeeds = append(a.ComplexNeeds, label)
		}
	}
	for _, c := range r.CommunicationNeeds {
		label := c.Display
		if label == "" {
			label = "SNOMED CT " + c.Code
		}
		a.ComplexNeeds = append(a.ComplexNeeds, "communication need: "+label)
	}
	a.ComplexNeeds = append(a.ComplexNeeds, a.textComplexNeeds()...)
	a.ComplexNeeds = dedupe(a.ComplexNeeds)

	for _, w := range lists.MoneyPhrases {
		if containsWord(text, w) {
			a.MoneyOrBenefits = true
		}
	}
	return a
}

var needGroupDisplay = map[string]string{
	"1": "Non-user", "2": "Low need child", "3": "Low need adult", "4": "Multi-morbidity, low complexity",
	"5": "Multi-morbidity, medium complexity", "6": "Pregnancy, low complexity", "7": "Pregnancy, high complexity",
	"8": "Dominant psychiatric or behavioural condition", "9": "Dominant major chronic condition",
	"10": "Multi-morbidity, high complexity", "11": "Frailty",
}

// containsWord reports whether w starts a word of text (both lower case).
func containsWord(text, w string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], w)
		if j < 0 {
			return false
		}
		at := i + j
		if at == 0 || !isLetter(text[at-1]) {
			return true
		}
		i = at + 1
	}
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

func dedupe(l []string) []string {
	seen := map[string]bool{}
	out := l[:0]
	for _, s := range l {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func nonEmpty(expr string) []string {
	if expr == "" {
		return nil
	}
	return []string{expr}
}

// codeIncomplete is the OperationOutcome issue type for what could not be
// found ("incomplete" in http://hl7.org/fhir/issue-type).
const codeIncomplete fhir.IssueCode = "incomplete"

// Facts are the request as the protocol's expressions see it (the CEL
// variables; docs/navigation.md lists them).
func (a *Assessment) Facts() map[string]any {
	r := a.Request
	age := int64(-1)
	if a.HasAge {
		age = int64(a.Age)
	}
	dur := -1.0
	if r.HasDuration {
		dur = r.DurationDays
	}
	codes := func(cs []snomed.Coding) []string {
		out := make([]string, 0, len(cs))
		for _, c := range cs {
			out = append(out, c.Code)
		}
		sort.Strings(out)
		return out
	}
	textSNOMED, findings := a.textCodes()
	symptoms := codes(r.Symptoms)
	for _, c := range textSNOMED {
		if !slices.Contains(symptoms, c) {
			symptoms = append(symptoms, c)
		}
	}
	sort.Strings(symptoms)
	sort.Strings(findings)
	return map[string]any{
		"age":                 age,
		"sex":                 a.Patient.Sex,
		"symptoms":            symptoms,
		"findings":            findings,
		"life_critical":       len(a.LifeCritical) > 0,
		"problem":             strings.ToLower(r.Problem),
		"duration_days":       dur,
		"trend":               r.Trend,
		"tried":               strings.ToLower(r.Tried),
		"ice":                 strings.ToLower(r.ICE),
		"need_group":          a.Need.Code,
		"need_level":          a.Need.Level(),
		"contacts":            int64(a.EarlierContacts),
		"seen_elsewhere":      codes(r.SeenElsewhere),
		"preferred_mode":      r.PreferredMode,
		"communication_needs": codes(r.CommunicationNeeds),
		"request_type":        r.RequestType,
		"admin_kind":          r.AdminKind,
		"patient_urgency":     string(r.PatientUrgency),
		"escalating_concern":  r.EscalatingConcern,
		"red_flag":            a.EmergencyFlag,
		"same_day_flag":       len(a.RedFlags) > 0 && !a.EmergencyFlag,
		"complex_needs":       a.Complex(),
		"money_or_benefits":   a.MoneyOrBenefits,
		"contact_route":       r.ContactRoute,
		"informant":           r.Informant != nil,
	}
}
