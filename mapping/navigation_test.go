package mapping

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/snomed"
)

// The care navigation scenario suite, pure: the scenarios of
// testdata/protocols/scenarios/scenarios.json (from the guide and the
// competency framework) decided by the engine over the demo protocol and
// directory, without a server. gateway/navigate_test.go runs the same
// table through the HTTP API on both stores.

type scnFile struct {
	Now       string
	Practice  string
	Scenarios []scnCase
}

type scnCase struct {
	Name, Source string
	// Now, when set, is the scenario's own decision time (RFC 3339):
	// out-of-hours scenarios contact the practice when it is closed.
	Now      string
	Protocol string
	Patient  *struct {
		Age int
		// AgeDays, when set, is a baby's age in days.
		AgeDays int
		Sex     string
	}
	// Subject names the patient on the Task: "nhs-number", "reference"
	// or both ("").
	Subject   string
	NeedGroup string
	Findings  []string
	Earlier   []struct {
		DaysAgo  float64
		Symptoms []string
		// Problem, when set, is the earlier request's own words; Subject
		// names the patient on it as the scenario's Subject does.
		Problem, Subject string
	}
	Inputs    scnInputs
	Navigator *struct{ Destination, Urgency, Mode, Note string }
	Caller    *struct {
		Tier  string
		Roles []string
	}
	Flow string
	// Review asks for the decision's manual review ($navigate review).
	Review        bool
	DeclineReason string
	Expect        scnExpect
}

type scnInputs struct {
	Route, Type, AdminKind, Problem        string
	Symptoms, SeenElsewhere, Communication []string
	DurationDays                           *float64
	AskedBefore                            *bool
	Trend, PatientUrgency, PreferredMode   string
	Escalating, Informant                  bool
	Consent                                json.RawMessage
}

type scnExpect struct {
	Status                                                 int
	ErrorRule                                              string
	Category, Urgency, Disposition, Destination, Mode      string
	Rules, NoRules, NotCategories, NotDestinations         []string
	Automated, Continuity, Review                          *bool
	AllocationStatus                                       string
	TurnaroundDays                                         int
	Requirement, Rationale, Warning, Netting, DecisionCode string
	Revoked                                                bool
}

func loadScenarios(t *testing.T) scnFile {
	t.Helper()
	b, err := os.ReadFile("../testdata/protocols/scenarios/scenarios.json")
	require.NoError(t, err)
	var f scnFile
	require.NoError(t, json.Unmarshal(b, &f))
	require.GreaterOrEqual(t, len(f.Scenarios), 40, "the suite has at least 40 scenarios")
	return f
}

func navReadJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	v, err := fhir.DecodeJSON(b)
	require.NoError(t, err)
	return v.(map[string]any)
}

func navProtocol(t *testing.T, path string) *Protocol {
	t.Helper()
	p, issues := ParseProtocol(navReadJSON(t, path), NewNavigationNames(""))
	require.Empty(t, issues)
	return p
}

func navDemoCandidates(t *testing.T) []Candidate {
	t.Helper()
	var out []Candidate
	for _, e := range fhir.List(navReadJSON(t, "../testdata/protocols/demo-directory.json")["entry"]) {
		r := e.(map[string]any)["resource"].(map[string]any)
		if r["resourceType"] != "HealthcareService" {
			continue
		}
		s, issues := ParseService(r, NewDirectory(""))
		require.Empty(t, issues, "demo service %s", s.ID)
		out = append(out, Candidate{Service: s})
	}
	return out
}

func navAllocationMap(t *testing.T) *snomed.ConceptMap {
	t.Helper()
	term, err := snomed.New(mustShipped(), snomed.Options{})
	require.NoError(t, err)
	res, err := term.ShippedResources()
	require.NoError(t, err)
	for _, r := range res {
		if r.Type() == "ConceptMap" && r.ID() == snomed.AllocationMap {
			cm, err := snomed.ParseConceptMap(r)
			require.NoError(t, err)
			return cm
		}
	}
	t.Fatal("no allocation ConceptMap shipped")
	return nil
}

// scnTask builds the navigation Task of a scenario (the same shape the
// HTTP suite posts).
func scnTask(n NavigationNames, practice string, in scnInputs, authored time.Time) map[string]any {
	input := func(code, key string, v any) any {
		return map[string]any{"type": map[string]any{"coding": []any{map[string]any{"system": n.System(snomed.NavigationInput), "code": code}}}, key: v}
	}
	shipped := mustShipped()
	sct := func(code string) map[string]any {
		c := map[string]any{"system": snomed.System, "code": code}
		if con, ok := shipped.Get(code); ok {
			c["display"] = con.Preferred
		}
		return map[string]any{"coding": []any{c}}
	}
	var inputs []any
	if in.Route != "" {
		inputs = append(inputs, input(InputContactRoute, "valueCode", in.Route))
	}
	if in.Type != "" {
		inputs = append(inputs, input(InputRequestType, "valueCode", in.Type))
	}
	if in.AdminKind != "" {
		inputs = append(inputs, input(InputAdminKind, "valueCode", in.AdminKind))
	}
	if in.Problem != "" {
		inputs = append(inputs, input(InputProblem, "valueString", in.Problem))
	}
	for _, s := range in.Symptoms {
		inputs = append(inputs, input(InputSymptom, "valueCodeableConcept", sct(s)))
	}
	if in.DurationDays != nil {
		inputs = append(inputs, input(InputDuration, "valueDuration", map[string]any{
			"value": json.Number(fmt.Sprint(*in.DurationDays)), "unit": "days", "system": UCUMSystem, "code": "d"}))
	}
	if in.AskedBefore != nil {
		inputs = append(inputs, input(InputAskedBefore, "valueBoolean", *in.AskedBefore))
	}
	if in.Trend != "" {
		inputs = append(inputs, input(InputTrend, "valueCode", in.Trend))
	}
	for _, s := range in.SeenElsewhere {
		inputs = append(inputs, input(InputSeenElsewhere, "valueCodeableConcept", sct(s)))
	}
	for _, s := range in.Communication {
		inputs = append(inputs, input(InputCommunicationNeed, "valueCodeableConcept", sct(s)))
	}
	if in.PreferredMode != "" {
		inputs = append(inputs, input(InputPreferredMode, "valueCode", in.PreferredMode))
	}
	if in.PatientUrgency != "" {
		inputs = append(inputs, input(InputPatientUrgency, "valueCode", in.PatientUrgency))
	}
	if in.Escalating {
		inputs = append(inputs, input(InputEscalatingConcern, "valueBoolean", true))
	}
	if in.Informant {
		inputs = append(inputs, input(InputInformant, "valueReference", map[string]any{"reference": "RelatedPerson/parent-1", "display": "Parent"}))
	}
	switch c := strings.TrimSpace(string(in.Consent)); c {
	case "":
		inputs = append(inputs, input(InputAutomatedConsent, "valueBoolean", true))
	case "null":
	default:
		inputs = append(inputs, input(InputAutomatedConsent, "valueBoolean", c == "true"))
	}
	return map[string]any{
		"resourceType": "Task", "id": "scenario-task", "meta": map[string]any{"versionId": "1"},
		"status": "requested", "intent": "order",
		"code":       map[string]any{"coding": []any{map[string]any{"system": n.System(snomed.NavigationTask), "code": "navigate"}}},
		"for":        map[string]any{"type": "Patient", "identifier": map[string]any{"system": NHSNumberSystem, "value": "9990010005"}},
		"owner":      map[string]any{"identifier": map[string]any{"system": ODSSystem, "value": practice}},
		"authoredOn": authored.UTC().Format(time.RFC3339),
		"input":      inputs,
	}
}

// scnBirthDate is a birth date giving the age at now, well inside the year.
func scnBirthDate(now time.Time, age int) time.Time {
	return time.Date(now.Year()-age, now.Month(), now.Day(), 0, 0, 0, 0, London).AddDate(0, 0, -100)
}

func TestNavigationScenariosPure(t *testing.T) {
	f := loadScenarios(t)
	now, err := time.Parse(time.RFC3339, f.Now)
	require.NoError(t, err)
	n := NewNavigationNames("")
	e := NewEngine("")
	protocols := map[string]*Protocol{
		"demo":    navProtocol(t, "../testdata/protocols/navigation-protocol-Y99999.json"),
		"hostile": navProtocol(t, "../testdata/protocols/hostile/navigation-protocol-Y99999.json"),
	}
	cands := navDemoCandidates(t)
	ofPractice, ofCategory, ofTypeInCategory := candidateIndexes(cands)
	cm := navAllocationMap(t)
	fileNow := now
	for _, sc := range f.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			now := fileNow
			if sc.Now != "" {
				var err error
				now, err = time.Parse(time.RFC3339, sc.Now)
				require.NoError(t, err)
			}
			practice := f.Practice
			var proto *Protocol
			switch sc.Protocol {
			case "", "demo":
				proto = protocols["demo"]
			case "hostile":
				proto = protocols["hostile"]
			case "none":
				practice = "Y88888"
			default:
				t.Fatalf("unknown protocol %q", sc.Protocol)
			}
			task := scnTask(n, practice, sc.Inputs, now)
			req, issues := ParseNavigationTask(task, n)
			require.Empty(t, navErrors(issues), "intake")
			var pt Patient
			if sc.Patient != nil {
				pt = Patient{BirthDate: scnBirthDate(now, sc.Patient.Age), Sex: sc.Patient.Sex}
				if sc.Patient.AgeDays > 0 {
					pt.BirthDate = now.AddDate(0, 0, -sc.Patient.AgeDays)
				}
			}
			in := AssessInput{Request: req, Patient: pt, Now: now}
			switch sc.NeedGroup {
			case "":
			case "unavailable":
				in.NeedErr = fmt.Errorf("the shared care record did not answer")
			default:
				in.Need = NeedGroup{Known: true, Code: sc.NeedGroup, Source: "test", Date: now.AddDate(0, -1, 0)}
			}
			in.Need.Findings = sc.Findings
			for i, ec := range sc.Earlier {
				at := now.Add(-time.Duration(ec.DaysAgo * float64(24*time.Hour)))
				if now.Sub(at) <= 28*24*time.Hour { // the gateway's window
					problem := ec.Problem
					if problem == "" {
						problem = sc.Inputs.Problem
					}
					in.Earlier = append(in.Earlier, EarlierContact{TaskID: fmt.Sprintf("earlier-%d", i), AuthoredOn: at, Symptoms: ec.Symptoms, Problem: problem})
				}
			}
			decider := Decider{Tier: "expert", Value: "navigator-1", System: "https://issuer.example", Type: "Practitioner"}
			if sc.Caller != nil {
				decider.Tier = sc.Caller.Tier
				decider.Clinician = containsStr(sc.Caller.Roles, "clinician")
			}
			var choice *NavigatorChoice
			if sc.Navigator != nil {
				choice = &NavigatorChoice{Destination: sc.Navigator.Destination, Urgency: Urgency(sc.Navigator.Urgency), Mode: sc.Navigator.Mode, Note: sc.Navigator.Note}
			}
			decide := func(req *Request, declined *Declined) (*Decision, error) {
				a := Assess(AssessInput{Request: req, Patient: in.Patient, Need: in.Need, NeedErr: in.NeedErr, Earlier: in.Earlier, Now: now})
				d, err := e.Decide(DecideInput{Assessment: a, Protocol: proto, Candidates: cands, Navigator: choice, Decider: decider,
					AllocationMap: cm, Declined: declined, Now: now, ManualReview: sc.Review})
				// The gateway passes indexes of the candidates; the
				// decision must be the same with them.
				a = Assess(AssessInput{Request: req, Patient: in.Patient, Need: in.Need, NeedErr: in.NeedErr, Earlier: in.Earlier, Now: now})
				di, erri := e.Decide(DecideInput{Assessment: a, Protocol: proto, Candidates: cands, OfPractice: ofPractice, OfCategory: ofCategory, OfTypeInCategory: ofTypeInCategory,
					Navigator: choice, Decider: decider, AllocationMap: cm, Declined: declined, Now: now, ManualReview: sc.Review})
				require.Equal(t, err, erri, "the same outcome with the candidate indexes")
				// reflect.DeepEqual, not require.Equal: a Decision holds the
				// directory's services, and testify's diff of two of them
				// runs for minutes; the rationales say what differs.
				if !reflect.DeepEqual(d, di) {
					var without, with []string
					if d != nil {
						without = d.Rationale
					}
					if di != nil {
						with = di.Rationale
					}
					t.Fatalf("the same decision with the candidate indexes: it differs; rationale without them:\n%s\nwith them:\n%s",
						strings.Join(without, "\n"), strings.Join(with, "\n"))
				}
				return d, err
			}
			d, err := decide(req, nil)
			var prior map[string]any
			if sc.Flow == "decline" {
				require.NoError(t, err)
				require.NotNil(t, d.Service, "the first decision allocates a service")
				// Not :=, which would shadow err: the declined decision's
				// error below must reach the checks after this block.
				var first *Records
				first, err = e.Records(RecordInput{Decision: d, Task: task, AllocationID: "first", ProvenanceID: "p0", ReviewID: "r0", Now: now, EngineIdentifierSystem: "urn:test"})
				require.NoError(t, err)
				prior = first.Allocation
				req.BusinessStatus, req.StatusReason = "declined", sc.DeclineReason
				d, err = decide(req, &Declined{Reference: "HealthcareService/" + d.Service.ID, Display: d.Service.Name, Reason: sc.DeclineReason, Allocation: "ServiceRequest/first"})
			}
			x := sc.Expect
			if x.Status != 0 && x.Status != 200 {
				require.Error(t, err)
				fe, ok := fhir.AsError(err)
				require.True(t, ok, "a client error: %v", err)
				assert.Equal(t, x.Status, fe.Status)
				assert.Contains(t, fe.Error(), x.ErrorRule)
				return
			}
			require.NoError(t, err)
			checkDecision(t, x, d)
			rec, err := e.Records(RecordInput{Decision: d, Task: task, Prior: prior, AllocationID: "alloc", ProvenanceID: "prov", ReviewID: "review",
				Now: now, Caller: decider, EngineIdentifierSystem: "urn:test"})
			require.NoError(t, err)
			for _, obj := range []map[string]any{rec.Task, rec.Allocation, rec.Provenance, rec.Review, rec.Revoked} {
				if obj == nil {
					continue
				}
				r, err := fhir.ResourceFromObject(obj)
				require.NoError(t, err)
				assert.Empty(t, navErrors(fhir.Validate(r, fhir.ValidateOptions{Strict: true})), "%s is valid R4", r.Type())
			}
			if x.Review != nil {
				assert.Equal(t, *x.Review, rec.Review != nil, "clinician-review Task")
			}
			if x.AllocationStatus != "" {
				assert.Equal(t, x.AllocationStatus, rec.Allocation["status"])
			}
			if x.Revoked {
				require.NotNil(t, rec.Revoked)
				assert.Equal(t, "revoked", rec.Revoked["status"])
				assert.Equal(t, "ServiceRequest/first", rec.Allocation["replaces"].([]any)[0].(map[string]any)["reference"])
			}
			checkOutputs(t, n, rec.Task)
			// The Task's priority is the allocation's, by the urgency.
			assert.Equal(t, priorityOf(d.Urgency), rec.Task["priority"], "Task.priority for %s", d.Urgency)
			assert.Equal(t, rec.Allocation["priority"], rec.Task["priority"], "the Task and its allocation have one priority")
		})
	}
}

func navErrors(issues []fhir.Issue) []fhir.Issue {
	var out []fhir.Issue
	for _, is := range issues {
		if is.Severity == fhir.SeverityError {
			out = append(out, is)
		}
	}
	return out
}

// checkDecision holds a decision to a scenario's expectations.
func checkDecision(t *testing.T, x scnExpect, d *Decision) {
	t.Helper()
	ids := map[string]bool{}
	for _, r := range d.Rules {
		ids[r.ID] = true
	}
	explain := strings.Join(d.Rationale, "\n")
	if x.Category != "" {
		assert.Equal(t, x.Category, string(d.Category), explain)
	}
	if x.Urgency != "" {
		assert.Equal(t, x.Urgency, string(d.Urgency), explain)
	}
	if x.Disposition != "" {
		assert.Equal(t, x.Disposition, string(d.Disposition), explain)
	}
	if x.Mode != "" {
		assert.Equal(t, x.Mode, d.Mode)
	}
	switch x.Destination {
	case "":
	case "none":
		assert.Empty(t, d.DestinationReference(), explain)
		assert.False(t, d.PracticeFallback)
	case "practice":
		assert.True(t, d.PracticeFallback, explain)
	default:
		assert.Equal(t, "HealthcareService/"+x.Destination, d.DestinationReference(), explain)
	}
	for _, r := range x.Rules {
		assert.True(t, ids[r], "rule %s applied; rules: %v", r, d.Rules)
	}
	for _, r := range x.NoRules {
		assert.False(t, ids[r], "rule %s does not apply; rules: %v", r, d.Rules)
	}
	for _, c := range x.NotCategories {
		assert.NotEqual(t, c, string(d.Category))
	}
	for _, s := range x.NotDestinations {
		assert.NotEqual(t, "HealthcareService/"+s, d.DestinationReference())
	}
	if x.Automated != nil {
		assert.Equal(t, *x.Automated, d.Automated)
	}
	if x.Continuity != nil {
		assert.Equal(t, *x.Continuity, d.Continuity)
	}
	if x.TurnaroundDays != 0 {
		assert.Equal(t, x.TurnaroundDays, d.TurnaroundDays)
		assert.Equal(t, d.From.AddDate(0, 0, x.TurnaroundDays), d.To)
	}
	if x.Requirement != "" {
		assert.Contains(t, strings.Join(d.Requirements, "\n"), x.Requirement)
	}
	if x.Rationale != "" {
		assert.Contains(t, explain, x.Rationale)
	}
	if x.Warning != "" {
		var all []string
		for _, is := range d.Issues {
			all = append(all, is.Diagnostics)
		}
		assert.Contains(t, strings.Join(all, "\n"), x.Warning)
	}
	if x.Netting != "" {
		assert.Contains(t, d.SafetyNetting, x.Netting)
	}
	if x.DecisionCode != "" {
		assert.Equal(t, x.DecisionCode, d.Codes.Code.Code)
	}
	// What holds for every decision: safety-netting is never empty and
	// agrees with the final category and urgency; a red flag is never
	// directed away; an emergency has no service.
	assert.NotEmpty(t, strings.TrimSpace(d.SafetyNetting))
	assert.Empty(t, AdviceAgrees(d.Category, d.Urgency, d.SafetyNetting), "advice %q for %s, %s", d.SafetyNetting, d.Category, d.Urgency)
	checkWording(t, d)
	switch {
	case d.Assessment.EmergencyFlag:
		assert.Contains(t, []Category{CategoryEmergency, CategoryClinician}, d.Category)
	case len(d.Assessment.RedFlags) > 0 && d.ServiceType == NHS111Service:
		// A red flag of the same day while the practice is closed: NHS
		// 111's clinicians, the same day.
		assert.Equal(t, UrgencySameDay, d.Urgency)
	case len(d.Assessment.RedFlags) > 0:
		assert.Contains(t, []Category{CategoryEmergency, CategoryClinician}, d.Category)
		assert.Contains(t, []Urgency{UrgencyEmergency, UrgencySameDay}, d.Urgency)
	}
}

// checkOutputs: every navigation-output code is in Task.output.
func checkOutputs(t *testing.T, n NavigationNames, task map[string]any) {
	t.Helper()
	seen := map[string]bool{}
	for _, o := range fhir.List(task["output"]) {
		seen[codeOfSystem(o.(map[string]any)["type"], n.System(snomed.NavigationOutput))] = true
	}
	for _, c := range localCodes[snomed.NavigationOutput] {
		assert.True(t, seen[c], "Task.output has %s", c)
	}
	assert.Equal(t, "in-progress", task["status"])
}

// candidateIndexes indexes cands as the gateway's directory snapshot does
// (DecideInput.OfPractice, OfCategory and OfTypeInCategory), in the
// order of cands.
func candidateIndexes(cands []Candidate) (ofPractice, ofCategory func(string) []Candidate, ofTypeInCategory func(string, string) []Candidate) {
	byPractice, byCategory, byBoth := map[string][]Candidate{}, map[string][]Candidate{}, map[string][]Candidate{}
	for _, c := range cands {
		for cat := range c.Service.Categories {
			byCategory[cat] = append(byCategory[cat], c)
			for k := range c.Service.Types {
				byBoth[cat+"\x00"+k] = append(byBoth[cat+"\x00"+k], c)
			}
		}
		if c.Service.Catchment != nil {
			for ods := range c.Service.Catchment.Practices {
				byPractice[ods] = append(byPractice[ods], c)
			}
		}
	}
	return func(ods string) []Candidate { return byPractice[ods] },
		func(cat string) []Candidate { return byCategory[cat] },
		func(key, cat string) []Candidate { return byBoth[cat+"\x00"+key] }
}

func TestExclusionLinesNameTheNearestAndCountTheRest(t *testing.T) {
	svc := func(i int) *Service {
		return &Service{ID: fmt.Sprintf("s%02d", i), Name: fmt.Sprintf("Service %02d", i)}
	}
	var excluded []Excluded
	for i := 0; i < 25; i++ {
		reasons := []Reason{{ReasonCatchment, "outside the catchment"}}
		if i%2 == 0 {
			reasons = append(reasons, Reason{ReasonNotAccepting, "not accepting"})
		}
		excluded = append(excluded, Excluded{svc(i), reasons})
	}
	lines := exclusionLines(excluded, nil)
	require.Len(t, lines, maxListedExclusions+1)
	// The 12 with one reason come first, in their order.
	for i, l := range lines[:maxListedExclusions] {
		assert.Equal(t, fmt.Sprintf("Not chosen: Service %02d (HealthcareService/s%02d): outside the catchment.", 2*i+1, 2*i+1), l)
	}
	// The other 15: 2 with one reason, 13 with two.
	assert.Equal(t, "Not chosen: 15 more services (by reason: catchment 15, not accepting referrals 13); HealthcareService/$match with the same query names each one and why.", lines[maxListedExclusions])

	few := exclusionLines(excluded[:3], nil)
	require.Len(t, few, 3)
	assert.Equal(t, "Not chosen: Service 00 (HealthcareService/s00): outside the catchment; not accepting.", few[0])
	assert.Empty(t, exclusionLines(nil, nil))

	// In any order, the same lines; explain gives the texts of the
	// services named.
	shuffled := slices.Clone(excluded)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	assert.Equal(t, lines, exclusionLines(shuffled, nil))
	bare := make([]Excluded, len(shuffled))
	for i, x := range shuffled {
		codes := make([]Reason, len(x.Reasons))
		for j, r := range x.Reasons {
			codes[j] = Reason{Code: r.Code}
		}
		bare[i] = Excluded{x.Service, codes}
	}
	byService := map[*Service][]Reason{}
	for _, x := range excluded {
		byService[x.Service] = x.Reasons
	}
	assert.Equal(t, lines, exclusionLines(bare, func(s *Service) []Reason { return byService[s] }))
}

// checkWording holds every decision to what people read: no navigation
// code where words belong, nothing said twice in the decision line, no
// age in days beyond the first weeks of life, and an administrative
// request's advice that speaks of the request, not of symptoms.
func checkWording(t *testing.T, d *Decision) {
	t.Helper()
	for _, line := range d.Rationale {
		if strings.HasPrefix(line, "Decision by ") {
			_, what, _ := strings.Cut(line, ": ")
			items := strings.Split(strings.TrimSuffix(what, "."), ", ")
			for i := 1; i < len(items); i++ {
				assert.NotEqual(t, items[i-1], items[i], "said twice in %q", line)
			}
			for _, code := range []string{"same-day", "within-week", "practice-team", "external-referral", "online-message", "face-to-face", "home-visit"} {
				assert.NotContains(t, line, code, "a code in %q", line)
			}
			for _, w := range []string{"emergency", "self-care"} {
				assert.LessOrEqual(t, strings.Count(line, w), 1, "%q said twice in %q", w, line)
			}
		}
		assert.NotRegexp(t, `ages [0-9]+ to [0-9]+ days|[0-9]{3,} days`, line, "an age in days")
		assert.NotRegexp(t, `support for: [0-9]{6,}`, line, "a bare SNOMED CT code")
	}
	if d.Category == CategoryAdministrative {
		assert.NotContains(t, strings.ToLower(d.SafetyNetting), "symptoms", "advice for an administrative request")
	}
}
