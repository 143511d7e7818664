package mapping

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/snomed"
)

// Measure facts: what the success measures read of each navigation Task,
// allocation ServiceRequest and Patient, small enough for the stores to
// keep beside every version (store.Summarizer) so that a year of a
// practice's navigations is counted without decoding a resource. The
// facts of a resource are derived from it alone, so they are the same
// whenever the resource is the same; CountMeasures derives them from
// decoded resources and counts exactly as CountMeasureFacts does from
// stored ones.

// TaskFact is what the measures read of a navigation Task.
type TaskFact struct {
	ID       string
	Status   string
	Practice string // the owner's ODS code, upper case
	Authored time.Time
	Route    string
	// Patient identifies the patient for reattendance ("nhs:..." or
	// "ref:Patient/..."); PatientRef and NHS find the Patient's facts.
	Patient, PatientRef, NHS string
	Problem                  string // lower case, single spaces
	Urgency                  string
	Allocation               string // "ServiceRequest/[id]" of the current allocation
	Continuity               bool   // safety rule 3 applied
}

// AllocationFact is what the measures read of an allocation
// ServiceRequest.
type AllocationFact struct {
	ID        string
	Status    string
	Category  string
	Code      string // the SNOMED CT code
	NeedGroup string // "unknown" when none
	Authored  time.Time
	Replaces  string // the last replaces reference
	// ContinuityRequired: orderDetail "Continuity of care ...";
	// DeclinedPharmacyFirst: a Pharmacy First referral revoked because
	// the patient declined it.
	ContinuityRequired, DeclinedPharmacyFirst bool
}

// PatientFact is what the measures read of a Patient.
type PatientFact struct {
	ID    string
	NHS   []string
	Birth time.Time // zero when unknown
	Sex   string
}

// TaskFactOf is the fact of a navigation Task (decoded JSON); ok is false
// for any other Task and for one without a valid authoredOn.
func TaskFactOf(names NavigationNames, t map[string]any) (TaskFact, bool) {
	if codeOfSystem(t["code"], names.System(snomed.NavigationTask)) != "navigate" {
		return TaskFact{}, false
	}
	a, _ := t["authoredOn"].(string)
	at, err := time.Parse(time.RFC3339, a)
	if err != nil {
		return TaskFact{}, false
	}
	f := TaskFact{Authored: at}
	f.ID, _ = t["id"].(string)
	f.Status, _ = t["status"].(string)
	f.Practice = strings.ToUpper(viewReference(t["owner"]).Identifier.Value)
	if fr := viewReference(t["for"]); fr.Raw != nil {
		if v := fr.Identifier.Value; v != "" {
			f.Patient = "nhs:" + v
			f.NHS = v
		}
		f.PatientRef = fr.Reference
		if f.Patient == "" && f.PatientRef != "" {
			f.Patient = "ref:" + f.PatientRef
		}
	}
	inputSys, outputSys := names.System(snomed.NavigationInput), names.System(snomed.NavigationOutput)
	for _, e := range fhir.List(t["input"]) {
		m := object(e)
		switch codeOfSystem(m["type"], inputSys) {
		case "contact-route":
			f.Route, _ = m["valueCode"].(string)
		case "problem":
			p, _ := m["valueString"].(string)
			f.Problem = strings.Join(strings.Fields(strings.ToLower(p)), " ")
		}
	}
	for _, e := range fhir.List(t["output"]) {
		m := object(e)
		switch codeOfSystem(m["type"], outputSys) {
		case "allocation":
			if r := viewReference(m["valueReference"]); r.Raw != nil {
				f.Allocation = r.Reference
			}
		case "urgency":
			f.Urgency = codeOfSystem(m["valueCodeableConcept"], names.System(snomed.NavigationUrgency))
		case "rule":
			if v, _ := m["valueString"].(string); strings.HasPrefix(v, RuleComplexNeeds+":") {
				f.Continuity = true
			}
		}
	}
	return f, true
}

// AllocationFactOf is the fact of an allocation ServiceRequest (one with a
// navigation category); ok is false for any other ServiceRequest. An
// allocation without a valid authoredOn has a zero Authored.
func AllocationFactOf(names NavigationNames, sr map[string]any) (AllocationFact, bool) {
	f := AllocationFact{}
	catSys := names.System(snomed.NavigationCategory)
	found := false
	for _, cc := range fhir.List(sr["category"]) {
		for _, c := range fhir.List(object(cc)["coding"]) {
			if fhir.Str(object(c)["system"]) == catSys {
				found = true
			}
		}
		if v := codeOfSystem(cc, catSys); v != "" {
			f.Category = v
		}
	}
	if !found {
		return AllocationFact{}, false
	}
	f.ID, _ = sr["id"].(string)
	f.Status, _ = sr["status"].(string)
	f.Code = codeOfSystem(sr["code"], snomed.System)
	f.NeedGroup = measureNeedGroup(fhir.List(sr["supportingInfo"]))
	if a, _ := sr["authoredOn"].(string); a != "" {
		f.Authored, _ = time.Parse(time.RFC3339, a)
	}
	for _, r := range fhir.List(sr["replaces"]) {
		f.Replaces = viewReference(r).Reference
	}
	f.ContinuityRequired = continuityRequired(fhir.List(sr["orderDetail"]))
	f.DeclinedPharmacyFirst = declinedPharmacyFirst(f.Status, f.Code, fhir.List(sr["note"]))
	return f, true
}

// PatientFactOf is the fact of a Patient.
func PatientFactOf(p map[string]any) PatientFact {
	var f PatientFact
	f.ID, _ = p["id"].(string)
	if b, _ := p["birthDate"].(string); len(b) == 10 {
		f.Birth, _ = time.ParseInLocation("2006-01-02", b, London)
	}
	f.Sex, _ = p["gender"].(string)
	for _, e := range fhir.List(p["identifier"]) {
		if id, _ := viewIdentifier(e); id.System == NHSNumberSystem && id.Value != "" {
			f.NHS = append(f.NHS, id.Value)
		}
	}
	return f
}

// The stored form: fields separated by the unit separator, control
// characters dropped from free text, times as Unix seconds ("" for zero),
// flags as 1 or 0.
const factSep = "\x1f"

func factText(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

func factTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.Unix(), 10)
}

func factFlag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func parseFactTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(n, 0).UTC(), nil
}

func factFields(kind, s string, n int) ([]string, error) {
	f := strings.Split(s, factSep)
	if len(f) != n {
		return nil, fmt.Errorf("%s fact: %d fields, want %d", kind, len(f), n)
	}
	return f, nil
}

// Encode is the stored form of f.
func (f TaskFact) Encode() string {
	return strings.Join([]string{factText(f.ID), factText(f.Status), factText(f.Practice), factTime(f.Authored), factText(f.Route),
		factText(f.Patient), factText(f.PatientRef), factText(f.NHS), factText(f.Problem), factText(f.Urgency), factText(f.Allocation), factFlag(f.Continuity)}, factSep)
}

// DecodeTaskFact reads TaskFact.Encode's form.
func DecodeTaskFact(s string) (TaskFact, error) {
	x, err := factFields("Task", s, 12)
	if err != nil {
		return TaskFact{}, err
	}
	at, err := parseFactTime(x[3])
	if err != nil {
		return TaskFact{}, err
	}
	return TaskFact{ID: x[0], Status: x[1], Practice: x[2], Authored: at, Route: x[4], Patient: x[5], PatientRef: x[6], NHS: x[7],
		Problem: x[8], Urgency: x[9], Allocation: x[10], Continuity: x[11] == "1"}, nil
}

// Encode is the stored form of f.
func (f AllocationFact) Encode() string {
	return strings.Join([]string{factText(f.ID), factText(f.Status), factText(f.Category), factText(f.Code), factText(f.NeedGroup),
		factTime(f.Authored), factText(f.Replaces), factFlag(f.ContinuityRequired), factFlag(f.DeclinedPharmacyFirst)}, factSep)
}

// DecodeAllocationFact reads AllocationFact.Encode's form.
func DecodeAllocationFact(s string) (AllocationFact, error) {
	x, err := factFields("ServiceRequest", s, 9)
	if err != nil {
		return AllocationFact{}, err
	}
	at, err := parseFactTime(x[5])
	if err != nil {
		return AllocationFact{}, err
	}
	return AllocationFact{ID: x[0], Status: x[1], Category: x[2], Code: x[3], NeedGroup: x[4], Authored: at, Replaces: x[6],
		ContinuityRequired: x[7] == "1", DeclinedPharmacyFirst: x[8] == "1"}, nil
}

// Encode is the stored form of f (NHS numbers separated by spaces).
func (f PatientFact) Encode() string {
	nhs := make([]string, len(f.NHS))
	for i, v := range f.NHS {
		nhs[i] = strings.ReplaceAll(factText(v), " ", "")
	}
	birth := ""
	if !f.Birth.IsZero() {
		birth = f.Birth.Format("2006-01-02")
	}
	return strings.Join([]string{factText(f.ID), strings.Join(nhs, " "), birth, factText(f.Sex)}, factSep)
}

// DecodePatientFact reads PatientFact.Encode's form.
func DecodePatientFact(s string) (PatientFact, error) {
	x, err := factFields("Patient", s, 4)
	if err != nil {
		return PatientFact{}, err
	}
	f := PatientFact{ID: x[0], Sex: x[3], NHS: strings.Fields(x[1])}
	if x[2] != "" {
		if f.Birth, err = time.ParseInLocation("2006-01-02", x[2], London); err != nil {
			return PatientFact{}, err
		}
	}
	return f, nil
}
