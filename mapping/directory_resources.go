package mapping

import (
	"fmt"
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/snomed"
)

// The directory's shipped conformance resources: a StructureDefinition per
// extension, the local CodeSystems with a ValueSet of each, and the
// OperationDefinition of HealthcareService/$match. They are seeded into
// the store with fixed ids (snomed.SeedResources), so each is read at its
// canonical URL's [type]/[id] and found by url search.

// DirectoryContentVersion is the business version of the shipped
// directory resources; bump it when they change.
const DirectoryContentVersion = "1.0.0"

const directoryDate = "2026-11-21"

// MatchOperation is the id of the OperationDefinition of
// HealthcareService/$match.
const MatchOperation = "HealthcareService-match"

type typeRef struct {
	code    string
	targets []string // Reference targets, resource type names
}

type extPart struct {
	name, short string
	min         int
	max         string
	types       []typeRef
	binding     string // a ValueSet canonical, required strength
}

type extDef struct {
	id, name, title, description string
	contexts                     []string
	max                          string
	types                        []typeRef // a simple extension's value[x]
	binding                      string
	parts                        []extPart // a complex extension's parts
}

func (d Directory) extensionDefs() []extDef {
	vs := d.ValueSet
	coding := []typeRef{{code: "Coding"}}
	cc := []typeRef{{code: "CodeableConcept"}}
	code := []typeRef{{code: "code"}}
	dateTime := []typeRef{{code: "dateTime"}}
	return []extDef{
		{id: ExtEligibility, name: "DirectoryEligibility", title: "Directory eligibility",
			description: "Machine-readable criteria of one HealthcareService.eligibility element: the patient must meet every criterion present (age range, sex, need group, conditions), and every eligibility element of the service. The element's comment carries the free text; its code may summarise. Matching excludes a patient for whom a restricted criterion is not known.",
			contexts:    []string{"HealthcareService.eligibility"}, max: "1",
			parts: []extPart{
				{name: "age", short: "Age range, inclusive, in UCUM a, mo, wk or d (one unit for both bounds)", max: "1", types: []typeRef{{code: "Range"}}},
				{name: "sex", short: "A sex the service takes (administrative gender); absent: any", max: "*", types: code, binding: "http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1"},
				{name: "needGroup", short: "A patient need group the service takes; absent: any", max: "*", types: coding, binding: vs(snomed.PatientNeedGroup)},
				{name: "suitable", short: "A condition or problem the service takes (coded); when listed and the caller gives the patient's condition, one must be listed", max: "*", types: cc},
				{name: "notSuitable", short: "A condition or problem the service does not take (coded)", max: "*", types: cc},
			}},
		{id: ExtReferralRoute, name: "DirectoryReferralRoute", title: "Directory referral route",
			description: "How to refer to the service, or how the patient contacts it: one route per method. Electronic referral names the Endpoint; a practice referral form names the form; phone and email routes carry the contact for referrers (which may differ from the public telecom).",
			contexts:    []string{"HealthcareService"}, max: "*",
			parts: []extPart{
				{name: "method", short: "The method", min: 1, max: "1", types: coding, binding: vs(ReferralMethodSystem)},
				{name: "endpoint", short: "The Endpoint receiving electronic referrals", max: "1", types: []typeRef{{code: "Reference", targets: []string{"Endpoint"}}}},
				{name: "form", short: "The referral form: a URL, or a Questionnaire or DocumentReference", max: "1", types: []typeRef{{code: "url"}, {code: "Reference", targets: []string{"Questionnaire", "DocumentReference"}}}},
				{name: "telecom", short: "The phone number or address referrals go to", max: "1", types: []typeRef{{code: "ContactPoint"}}},
				{name: "instructions", short: "What the referrer or patient must know (information to send, who to ask for)", max: "1", types: []typeRef{{code: "markdown"}}},
			}},
		{id: ExtCapacity, name: "DirectoryCapacity", title: "Directory capacity status",
			description: "Whether the service is accepting referrals, and since when: the status, the time it was set, and until when it holds if known. Matching never returns a service not accepting referrals for the needed window (one that reopens within the window is matched from then); limited capacity is matched, scored lower and noted. Absent: accepting.",
			contexts:    []string{"HealthcareService"}, max: "1",
			parts: []extPart{
				{name: "status", short: "accepting | limited | not-accepting", min: 1, max: "1", types: code, binding: vs(CapacityStatusSystem)},
				{name: "setAt", short: "When the status was set", min: 1, max: "1", types: dateTime},
				{name: "until", short: "Until when the status holds, if known", max: "1", types: dateTime},
				{name: "note", short: "Why, for navigators", max: "1", types: []typeRef{{code: "string"}}},
			}},
		{id: ExtBankHolidays, name: "DirectoryBankHolidays", title: "Directory bank holiday policy",
			description: "What the weekly hours (availableTime) mean on a bank holiday: closed (the default) or regular-hours. Opening on a given bank holiday is a directory-special-opening; closure on a date is notAvailable.",
			contexts:    []string{"HealthcareService"}, max: "1", types: code, binding: vs(BankHolidayPolicySystem)},
		{id: ExtSpecialOpening, name: "DirectorySpecialOpening", title: "Directory special opening",
			description: "Opening hours on a particular date (a bank holiday, a one-off session), as a Period with start and end. A special opening belongs to the local date (Europe/London) it starts on: on a date with any, the special openings are that date's hours and the weekly hours do not apply. One running past midnight is open time of the next date too, beside that date's own hours.",
			contexts:    []string{"HealthcareService"}, max: "*", types: []typeRef{{code: "Period"}}},
		{id: ExtCatchment, name: "DirectoryCatchment", title: "Directory catchment",
			description: "The patients the service takes by where they are registered or live: practices (ODS codes) and postcode districts (outward codes such as LS6) or areas (LS). A patient whose practice or postcode district matches any entry is inside. Absent: no catchment.",
			contexts:    []string{"HealthcareService"}, max: "1",
			parts: []extPart{
				{name: "practice", short: "A practice whose patients the service takes (ODS code)", max: "*", types: []typeRef{{code: "Identifier"}}},
				{name: "postcodeDistrict", short: "A postcode district (outward code) or area", max: "*", types: []typeRef{{code: "string"}}},
			}},
		{id: ExtTeam, name: "DirectoryTeam", title: "Directory team",
			description: "Whether the service is the practice's or the primary care network's own team (an internal service, such as a first contact physiotherapist or a social prescribing link worker), or a place-level or external service, and the roles that deliver it (SNOMED CT occupations, or navigation-role codes where the verified set has none).",
			contexts:    []string{"HealthcareService"}, max: "1",
			parts: []extPart{
				{name: "scope", short: "practice | pcn | place | external", min: 1, max: "1", types: code, binding: vs(TeamScopeSystem)},
				{name: "role", short: "A role delivering the service", max: "*", types: cc},
			}},
		{id: ExtLastVerified, name: "DirectoryLastVerified", title: "Directory last verified",
			description: "When the entry was last confirmed with the service (by the publisher or the directory lead).",
			contexts:    []string{"HealthcareService"}, max: "1", types: dateTime},
		{id: ExtSourceUpdated, name: "DirectorySourceUpdated", title: "Directory source updated",
			description: "The publisher's own timestamp of this entry. Updates are ordered by it: an update older than the stored entry with the same identifier is refused (409).",
			contexts:    []string{"HealthcareService"}, max: "1", types: []typeRef{{code: "instant"}}},
		{id: ExtMatchSubject, name: "DirectoryMatchSubject", title: "Directory match subject",
			description: "The HealthcareService an issue of a HealthcareService/$match outcome is about: a candidate excluded (with the reason in details) or a note on a match.",
			contexts:    []string{"OperationOutcome.issue"}, max: "1", types: []typeRef{{code: "Reference", targets: []string{"HealthcareService"}}}},
	}
}

// The R4 shapes of the shipped conformance resources, encoded by
// fhir.Generate (which drops empty elements).

// conformance is the metadata every shipped conformance resource has.
type conformance struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	URL          string `json:"url"`
	Version      string `json:"version"`
	Name         string `json:"name"`
	Title        string `json:"title,omitempty"`
	Status       string `json:"status"`
	Experimental bool   `json:"experimental"`
	Date         string `json:"date"`
	Publisher    string `json:"publisher"`
	Description  string `json:"description"`
}

type sdType struct {
	Code          string   `json:"code"`
	TargetProfile []string `json:"targetProfile,omitempty"`
}

type sdBinding struct {
	Strength string `json:"strength"`
	ValueSet string `json:"valueSet"`
}

type sdElement struct {
	ID         string     `json:"id"`
	Path       string     `json:"path"`
	SliceName  string     `json:"sliceName,omitempty"`
	Short      string     `json:"short,omitempty"`
	Definition string     `json:"definition,omitempty"`
	Min        *int       `json:"min,omitempty"`
	Max        string     `json:"max,omitempty"`
	Type       []sdType   `json:"type,omitempty"`
	FixedURI   string     `json:"fixedUri,omitempty"`
	Binding    *sdBinding `json:"binding,omitempty"`
}

type sdContext struct {
	Type       string `json:"type"`
	Expression string `json:"expression"`
}

type structureDefinition struct {
	conformance
	FhirVersion    string      `json:"fhirVersion"`
	Kind           string      `json:"kind"`
	Abstract       bool        `json:"abstract"`
	Context        []sdContext `json:"context"`
	Type           string      `json:"type"`
	BaseDefinition string      `json:"baseDefinition"`
	Derivation     string      `json:"derivation"`
	Differential   struct {
		Element []sdElement `json:"element"`
	} `json:"differential"`
}

type csConcept struct {
	Code       string `json:"code"`
	Display    string `json:"display"`
	Definition string `json:"definition"`
}

type codeSystem struct {
	conformance
	CaseSensitive bool        `json:"caseSensitive"`
	ValueSet      string      `json:"valueSet"`
	Content       string      `json:"content"`
	Count         int         `json:"count"`
	Concept       []csConcept `json:"concept"`
}

type valueSet struct {
	conformance
	Compose struct {
		Include []struct {
			System string `json:"system"`
		} `json:"include"`
	} `json:"compose"`
}

type opParameter struct {
	Name          string `json:"name"`
	Use           string `json:"use"`
	Min           int    `json:"min"`
	Max           string `json:"max"`
	Documentation string `json:"documentation"`
	Type          string `json:"type"`
	SearchType    string `json:"searchType,omitempty"`
}

type operationDefinition struct {
	conformance
	Kind         string        `json:"kind"`
	Code         string        `json:"code"`
	AffectsState bool          `json:"affectsState"`
	Resource     []string      `json:"resource"`
	System       bool          `json:"system"`
	Type         bool          `json:"type"`
	Instance     bool          `json:"instance"`
	Parameter    []opParameter `json:"parameter"`
}

type searchParameter struct {
	conformance
	Code        string   `json:"code"`
	Base        []string `json:"base"`
	Type        string   `json:"type"`
	MultipleOr  bool     `json:"multipleOr"`
	MultipleAnd bool     `json:"multipleAnd"`
	Comparator  []string `json:"comparator,omitempty"`
}

func (t typeRef) element() sdType {
	e := sdType{Code: t.code}
	for _, tg := range t.targets {
		e.TargetProfile = append(e.TargetProfile, "http://hl7.org/fhir/StructureDefinition/"+tg)
	}
	return e
}

func typeList(ts []typeRef) []sdType {
	out := make([]sdType, len(ts))
	for i, t := range ts {
		out[i] = t.element()
	}
	return out
}

func binding(vs string) *sdBinding {
	if vs == "" {
		return nil
	}
	return &sdBinding{Strength: "required", ValueSet: vs}
}

func intp(n int) *int { return &n }

func (d Directory) structureDefinition(x extDef) *structureDefinition {
	url := d.Extension(x.id)
	sd := &structureDefinition{
		conformance: conformance{ResourceType: "StructureDefinition", ID: x.id, URL: url, Version: DirectoryContentVersion,
			Name: x.name, Title: x.title, Status: "active", Date: directoryDate, Publisher: "Signpost", Description: x.description},
		FhirVersion: "4.0.1", Kind: "complex-type", Type: "Extension",
		BaseDefinition: "http://hl7.org/fhir/StructureDefinition/Extension", Derivation: "constraint",
	}
	for _, c := range x.contexts {
		sd.Context = append(sd.Context, sdContext{Type: "element", Expression: c})
	}
	els := []sdElement{{ID: "Extension", Path: "Extension", Short: x.title, Definition: x.description, Min: intp(0), Max: x.max}}
	if x.parts != nil {
		for _, p := range x.parts {
			id := "Extension.extension:" + p.name
			els = append(els,
				sdElement{ID: id, Path: "Extension.extension", SliceName: p.name, Short: p.short, Definition: p.short,
					Min: intp(p.min), Max: p.max, Type: []sdType{{Code: "Extension"}}},
				sdElement{ID: id + ".extension", Path: "Extension.extension.extension", Max: "0"},
				sdElement{ID: id + ".url", Path: "Extension.extension.url", Type: []sdType{{Code: "uri"}}, FixedURI: p.name},
				sdElement{ID: id + ".value[x]", Path: "Extension.extension.value[x]", Min: intp(1), Type: typeList(p.types), Binding: binding(p.binding)})
		}
		els = append(els,
			sdElement{ID: "Extension.url", Path: "Extension.url", FixedURI: url},
			sdElement{ID: "Extension.value[x]", Path: "Extension.value[x]", Min: intp(0), Max: "0"})
	} else {
		els = append(els,
			sdElement{ID: "Extension.extension", Path: "Extension.extension", Max: "0"},
			sdElement{ID: "Extension.url", Path: "Extension.url", FixedURI: url},
			sdElement{ID: "Extension.value[x]", Path: "Extension.value[x]", Min: intp(1), Type: typeList(x.types), Binding: binding(x.binding)})
	}
	sd.Differential.Element = els
	return sd
}

type localCS struct {
	id, name, title, description string
	concepts                     [][3]string // code, display, definition
}

func directoryCodeSystems() []localCS {
	return []localCS{
		{ReferralMethodSystem, "DirectoryReferralMethod", "Directory referral method",
			"How a patient gets to a service in the directory: the routes of the care navigation guide's directory entries.",
			[][3]string{
				{ReferralSelf, "Self-referral", "The patient contacts the service themselves (signposting)."},
				{ReferralForm, "Practice referral form", "The practice completes the service's referral form or template."},
				{ReferralPhone, "Phone", "The practice refers by phone."},
				{ReferralElectronic, "Electronic", "The practice refers electronically to the service's Endpoint."},
				{ReferralEmail, "Email", "The practice refers by (secure) email."},
			}},
		{CapacityStatusSystem, "DirectoryCapacityStatus", "Directory capacity status",
			"Whether a service is accepting referrals.",
			[][3]string{
				{CapacityAccepting, "Accepting", "Accepting referrals."},
				{CapacityLimited, "Limited", "Accepting referrals with limited capacity (longer waits, urgent cases only); navigators should know before sending a patient."},
				{CapacityNotAccepting, "Not accepting", "Not accepting referrals: no patient is navigated to it."},
			}},
		{BankHolidayPolicySystem, "DirectoryBankHolidayPolicy", "Directory bank holiday policy",
			"What a service's weekly hours mean on a bank holiday.",
			[][3]string{
				{BankHolidaysClosed, "Closed on bank holidays", "The weekly hours do not apply on bank holidays; the service opens only as its special openings say."},
				{BankHolidaysRegular, "Regular hours on bank holidays", "The weekly hours apply on bank holidays too."},
			}},
		{AccessSupportSystem, "DirectoryAccessSupport", "Directory access support",
			"Access features a service offers that have no concept in Signpost's verified SNOMED CT set (HealthcareService.characteristic). Communication support with a SNOMED CT concept (interpreter, British Sign Language, easy read, hearing loop, text relay) is coded in SNOMED CT.",
			[][3]string{
				{"step-free-access", "Step-free access", "Step-free access for wheelchair users and people who cannot use stairs."},
				{"accessible-toilet", "Accessible toilet", "An accessible toilet."},
				{"disabled-parking", "Disabled parking", "Parking for disabled badge holders."},
				{"large-print", "Large print", "Information in large print."},
			}},
		{TeamScopeSystem, "DirectoryTeamScope", "Directory team scope",
			"Whose team delivers a service: the practice's, the primary care network's, or a service outside them.",
			[][3]string{
				{"practice", "Practice team", "The practice's own team (internal directory)."},
				{"pcn", "Primary care network team", "A team of the primary care network (ARRS roles and shared services)."},
				{"place", "Place or neighbourhood service", "A service run at place, neighbourhood or ICS level."},
				{"external", "External service", "A service outside the practice and network (external directory)."},
			}},
		{MatchReasonSystem, "DirectoryMatchReason", "Directory match reason",
			"Why HealthcareService/$match excluded a candidate, or what a caller should know about a match.",
			[][3]string{
				{ReasonInactive, "Inactive", "The service is delisted."},
				{ReasonNotAccepting, "Not accepting referrals", "The service is not accepting referrals in the window."},
				{ReasonClosed, "Closed", "The service is not open at any time in the window."},
				{ReasonAge, "Age", "The patient's age is outside the service's age range, or not known well enough to tell."},
				{ReasonSex, "Sex", "The service does not take patients of the patient's sex, or it is not known."},
				{ReasonNeedGroup, "Need group", "The service does not take the patient's need group, or it is not known."},
				{ReasonCondition, "Condition", "The patient's condition is one the service does not take, or not among those it takes."},
				{ReasonCatchment, "Catchment", "The patient's practice and postcode are outside the service's catchment, or not known."},
				{ReasonReferralMethod, "Referral method", "The service takes no referral by the method needed."},
				{ReasonUnreadable, "Unreadable entry", "The entry does not follow the directory representation."},
				{NoteLimitedCapacity, "Limited capacity", "A match with limited capacity."},
				{NoteCommunication, "Communication need not listed", "A match that does not list support for one of the patient's communication needs."},
				{NoteHoursUnpublished, "Hours not published", "A match whose opening times are not published."},
				{NoteOpensLater, "Opens later", "A match that is first open and accepting after the start of the window."},
			}},
	}
}

func (d Directory) header(typ, id, name, title, description string) conformance {
	return conformance{
		ResourceType: typ, ID: id, URL: d.base + "/" + typ + "/" + id, Version: DirectoryContentVersion,
		Name: name, Title: title, Status: "active", Date: directoryDate,
		Publisher: "Signpost", Description: description,
	}
}

func (d Directory) codeSystem(cs localCS) *codeSystem {
	out := &codeSystem{conformance: d.header("CodeSystem", cs.id, cs.name, cs.title, cs.description),
		CaseSensitive: true, ValueSet: d.ValueSet(cs.id), Content: "complete", Count: len(cs.concepts)}
	for _, c := range cs.concepts {
		out.Concept = append(out.Concept, csConcept{Code: c[0], Display: c[1], Definition: c[2]})
	}
	return out
}

func (d Directory) valueSet(cs localCS) *valueSet {
	out := &valueSet{conformance: d.header("ValueSet", cs.id, cs.name, cs.title, "All codes of the "+cs.title+" code system.")}
	out.Compose.Include = append(out.Compose.Include, struct {
		System string `json:"system"`
	}{d.CodeSystem(cs.id)})
	return out
}

// matchParameters are the inputs of HealthcareService/$match.
var matchParameters = []struct {
	name, typ, searchType, max, doc string
}{
	{"birthdate", "date", "", "1", "The patient's date of birth: ages are then exact."},
	{"age", "integer", "", "1", "The patient's age in whole years, when the birth date is not known (an age range in months, weeks or days may then not be decidable: the candidate is excluded with reason age)."},
	{"sex", "code", "", "1", "The patient's administrative gender (male | female | other | unknown)."},
	{"need-group", "code", "", "1", "The patient's need group (patient-need-group code 1 to 11)."},
	{"practice", "string", "", "1", "The ODS code of the patient's practice."},
	{"postcode", "string", "", "1", "The patient's postcode or postcode district."},
	{"from", "dateTime", "", "1", "Start of the window in which the service must be able to act (default: now)."},
	{"to", "dateTime", "", "1", "End of the window (default: from + 7 days)."},
	{"service-type", "string", "token", "*", "A service type, [system]|[code] or [code], matched against type, specialty and team role; several: any of them. Absent: every type."},
	{"category", "string", "token", "*", "A navigation-category code; several: any of them."},
	{"condition", "string", "token", "*", "The patient's condition or problem, [system]|[code] or [code], matched with the services' suitable and notSuitable lists."},
	{"communication-need", "string", "token", "*", "A communication or access need (SNOMED CT or directory-access-support); unmet needs lower a match's score and are noted."},
	{"referral-method", "code", "", "*", "A directory-referral-method code the service must offer (e.g. self-referral to signpost); several: any of them."},
}

func (d Directory) operationDefinition() *operationDefinition {
	out := &operationDefinition{conformance: d.header("OperationDefinition", MatchOperation, "HealthcareServiceMatch", "",
		"Who can take this patient, for this need, in this timeframe: the HealthcareServices of the wanted type and category that are active, accepting referrals, open in the window and whose eligibility and catchment the patient meets. Returns a searchset Bundle of the matches (search.mode match, best first, with search.score) and an OperationOutcome (search.mode outcome) with one information issue per reason a candidate was excluded and per note on a match; each issue names its service in the directory-match-subject extension and its reason in details (directory-match-reason)."),
		Kind: "operation", Code: "match", Resource: []string{"HealthcareService"}, Type: true}
	for _, p := range matchParameters {
		out.Parameter = append(out.Parameter, opParameter{Name: p.name, Use: "in", Max: p.max, Documentation: p.doc, Type: p.typ, SearchType: p.searchType})
	}
	out.Parameter = append(out.Parameter, opParameter{Name: "return", Use: "out", Min: 1, Max: "1", Type: "Bundle",
		Documentation: "A searchset Bundle: the matches, and an OperationOutcome listing each excluded candidate with its reasons."})
	return out
}

// Resources builds the shipped directory resources afresh, each tagged
// for snomed.SeedResources.
func (d Directory) Resources() ([]*fhir.Resource, error) {
	var objs []any
	for _, x := range d.extensionDefs() {
		objs = append(objs, d.structureDefinition(x))
	}
	for _, cs := range directoryCodeSystems() {
		objs = append(objs, d.codeSystem(cs))
	}
	for _, cs := range directoryCodeSystems() {
		objs = append(objs, d.valueSet(cs))
	}
	objs = append(objs, d.operationDefinition())
	for _, sp := range MatchSearchParams {
		objs = append(objs, d.searchParameter(sp))
	}
	out := make([]*fhir.Resource, 0, len(objs))
	for _, o := range objs {
		r, err := fhir.GenerateResource(o)
		if err != nil {
			return nil, fmt.Errorf("directory: build %T: %w", o, err)
		}
		if err := snomed.MarkShipped(r, DirectoryContentVersion); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// The matching search (HealthcareService?eligible-age=...): custom search
// parameters that run the same matcher as $match. Each is a
// SearchParameter at [base]/SearchParameter/HealthcareService-[code]
// (SearchParameterURL). They have no FHIRPath expression: what they test
// is not an element of the resource but the patient against its
// eligibility, catchment, capacity and hours together, which the matcher
// decides; they are not indexed and cannot be chained or sorted on.
const (
	SearchEligibleAge       = "eligible-age"
	SearchEligibleBirthdate = "eligible-birthdate"
	SearchEligibleSex       = "eligible-sex"
	SearchEligibleNeedGroup = "eligible-need-group"
	SearchEligiblePractice  = "eligible-practice"
	SearchEligiblePostcode  = "eligible-postcode"
	SearchEligibleCondition = "eligible-condition"
	SearchCommunicationNeed = "communication-need"
	SearchReferralMethod    = "referral-method"
	SearchAvailableFrom     = "available-from"
	SearchAvailableTo       = "available-to"
	SearchAccepting         = "accepting"
)

// MatchSearchParam is one custom search parameter of the matching search.
type MatchSearchParam struct {
	Code string
	// Type is the SearchParameter.type (token, number, date, string).
	Type string
	// Multiple tells whether several values (comma-separated or repeated)
	// are taken; single-valued parameters refuse a second value.
	Multiple    bool
	Description string
}

// MatchSearchParams are the matching search's parameters, in the order
// the CapabilityStatement lists them.
var MatchSearchParams = []MatchSearchParam{
	{SearchEligibleAge, "number", false, "Services that can take a patient of this age in whole years (0 to 150), by their eligibility age ranges; an age range in months, weeks or days that whole years cannot decide excludes the service with reason age (give eligible-birthdate instead). No prefixes."},
	{SearchEligibleBirthdate, "date", false, "Services that can take a patient born on this date (YYYY-MM-DD): ages are then exact, at the start of the window. No prefixes."},
	{SearchEligibleSex, "token", false, "Services that take a patient of this administrative gender (male | female | other | unknown; system http://hl7.org/fhir/administrative-gender or none). A service restricted by sex excludes a patient whose sex is unknown."},
	{SearchEligibleNeedGroup, "token", false, "Services that take a patient of this need group (patient-need-group code 1 to 11; system the patient-need-group CodeSystem or none). A service restricted by need group excludes a patient whose need group is not given."},
	{SearchEligiblePractice, "token", false, "Services whose catchment holds the patient's practice (ODS code; system https://fhir.nhs.uk/Id/ods-organization-code or none). With eligible-postcode, a patient inside either is inside the catchment."},
	{SearchEligiblePostcode, "string", false, "Services whose catchment holds the patient's postcode or postcode district (LS6 3AA, LS6)."},
	{SearchEligibleCondition, "token", true, "The patient's conditions or problem ([system]|[code] or [code]), matched with the services' suitable and not-suitable lists: a service that does not take one of them, or that lists the conditions it takes and none of these, is excluded."},
	{SearchCommunicationNeed, "token", true, "The patient's communication and access needs (SNOMED CT, or directory-access-support codes). A service that does not list support for one is still a match, scored lower and noted (_explain)."},
	{SearchReferralMethod, "token", true, "Services offering one of these referral methods (directory-referral-method codes, e.g. self-referral)."},
	{SearchAvailableFrom, "date", false, "Start of the window in which the service must be open and accepting referrals (a dateTime; without a zone, Europe/London; default now). No prefixes."},
	{SearchAvailableTo, "date", false, "End of the window (default available-from + 7 days; at most 92 days after it). No prefixes."},
	{SearchAccepting, "token", false, "true: services accepting referrals and open in the window, with no other criterion needed. Every matching search answers only such services, so false is refused."},
}

// SearchParameterID is the id of the matching search's parameter code.
func SearchParameterID(code string) string { return "HealthcareService-" + code }

// SearchParameterURL is the canonical URL of the parameter code.
func (d Directory) SearchParameterURL(code string) string {
	return d.base + "/SearchParameter/" + SearchParameterID(code)
}

func (d Directory) searchParameter(p MatchSearchParam) *searchParameter {
	name := "HealthcareService"
	for _, w := range strings.Split(p.Code, "-") {
		name += strings.ToUpper(w[:1]) + w[1:]
	}
	out := &searchParameter{conformance: d.header("SearchParameter", SearchParameterID(p.Code), name, "", p.Description+
		" Part of the matching search: any of these parameters makes a HealthcareService search answer the services able to take the patient in the window (the same matcher as HealthcareService/$match), best first; _explain=true adds why each other candidate was excluded."),
		Code: p.Code, Base: []string{"HealthcareService"}, Type: p.Type, MultipleOr: p.Multiple, MultipleAnd: p.Multiple}
	switch p.Type {
	case "number", "date":
		out.Comparator = []string{"eq"}
	}
	return out
}
