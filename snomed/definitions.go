package snomed

// The shipped value sets and the default allocation ConceptMap. Every SNOMED
// CT code here comes from the shipped subset (a test checks each against
// shared/snomed/verified-codes.csv); what has no concept there is a local
// code (local.go).

// Shipped resource ids.
const (
	AllocationDecisionVS     = "allocation-decision"
	PerformerOccupationVS    = "performer-occupation"
	DestinationServiceTypeVS = "destination-service-type"
	ConsultationModeVS       = "consultation-mode"
	CommunicationNeedVS      = "communication-need"
	RedFlagFindingVS         = "red-flag-finding"
	NeedGroupFindingVS       = "need-group-finding"
	// AllocationMap is the id of the default allocation ConceptMap.
	AllocationMap = "allocation"
)

// ContentVersion is the business version of every shipped CodeSystem,
// ValueSet and ConceptMap; bump it when their content changes. (Seeding
// compares content hashes, so a forgotten bump still updates the store.)
const ContentVersion = "1.0.0"

// ReleaseDate is the date element of the shipped resources.
const ReleaseDate = "2026-11-21"

type snomedValueSet struct {
	ID, Name, Title, Description string
	// Categories select shipped concepts by their category column.
	Categories []string
	// Locals are local code systems included whole.
	Locals []string
}

var snomedValueSets = []snomedValueSet{
	{AllocationDecisionVS, "AllocationDecision", "Allocation decisions",
		"Codes for the allocation ServiceRequest.code: SNOMED CT referral and signposting procedures of the verified set, and the local navigation-decision codes for decisions with no SNOMED CT concept.",
		[]string{"A navigation/referral", "A signposting"}, []string{NavigationDecision}},
	{PerformerOccupationVS, "PerformerOccupation", "Performer occupations",
		"Codes for ServiceRequest.performerType: SNOMED CT occupations of the verified set, and the local navigation-role codes for roles with no SNOMED CT occupation.",
		[]string{"B occupation"}, []string{NavigationRole}},
	{DestinationServiceTypeVS, "DestinationServiceType", "Destination service types",
		"SNOMED CT service concepts for the destination of an allocation (HealthcareService.type) and for services already seen (Task input seen-elsewhere).",
		[]string{"A2 service"}, nil},
	{ConsultationModeVS, "ConsultationMode", "Consultation modes",
		"SNOMED CT concepts for the mode of consultation (face to face, telephone, video, online, home visit).",
		[]string{"E consultation mode"}, nil},
	{CommunicationNeedVS, "CommunicationNeed", "Communication and access needs",
		"SNOMED CT concepts for communication and access needs (Task input communication-need), from the NHS England reasonable adjustment flag and related sets.",
		[]string{"D access need"}, nil},
	{RedFlagFindingVS, "RedFlagFinding", "Red-flag findings",
		"SNOMED CT findings that are red flags: a request with one goes to emergency or a same-day clinician.",
		[]string{"F red flag"}, nil},
	{NeedGroupFindingVS, "NeedGroupFinding", "Need-group and register findings",
		"SNOMED CT findings and registers that bear on the patient need group and complex needs (frailty, pregnancy, learning disability, severe mental illness, end of life, care home, carer).",
		[]string{"C need group"}, nil},
}

// Dependency and product elements of the allocation ConceptMap.
const (
	// ServiceTypeElement is the dependsOn property: the destination
	// HealthcareService's type.
	ServiceTypeElement = "http://hl7.org/fhir/StructureDefinition/HealthcareService#HealthcareService.type"
	// PerformerTypeElement is the product property: the allocation's
	// ServiceRequest.performerType.
	PerformerTypeElement = "http://hl7.org/fhir/StructureDefinition/ServiceRequest#ServiceRequest.performerType"
)

// allocationRow is one default mapping: a navigation category and,
// optionally, a destination service type to a decision and a performer.
// Codes that are all digits are SNOMED CT; others are local
// (navigation-decision for decisions, navigation-role for performers).
type allocationRow struct {
	Category    string
	ServiceType string // SNOMED CT service; "" matches any destination
	Decision    string
	Performer   string // "" when the decision names no performer type
	Equivalence string
}

var allocationRows = []allocationRow{
	{"emergency", "310000008", "183660001", "", "narrower"},                                         // A&E service -> Refer to A & E department
	{"emergency", "", "emergency-services", "", "narrower"},                                         // advised to call 999
	{"clinician", "788007007", "183561008", "62247001", "narrower"},                                 // General practice service -> Referral to GP; General practitioner
	{"clinician", "", "183561008", "62247001", "narrower"},                                          // default: Referral to GP; General practitioner
	{"practice-team", "788007007", "308435009", "159002008", "narrower"},                            // Referral to practice nurse; Practice nurse
	{"practice-team", "310080006", "306362008", "734293001", "narrower"},                            // Pharmacy service -> Referral to pharmacist; Clinical pharmacist
	{"practice-team", "722140001", "308447003", "309401003", "narrower"},                            // Physiotherapy service -> Referral to physiotherapist; GP-based physiotherapist
	{"practice-team", "708168004", "279381000000103", "224563006", "narrower"},                      // Mental health service -> Referral to primary care mental health team; Mental health nurse
	{"practice-team", "413331009", "871731000000106", "social-prescribing-link-worker", "narrower"}, // Voluntary services -> Referral to social prescribing service
	{"practice-team", "", "practice-team-other", "", "narrower"},
	{"external-referral", "983341000000102", "2140231000000104", "159011008", "narrower"}, // Pharmacy First -> Referral to Community Pharmacy Pharmacy First Service; Retail pharmacist
	{"external-referral", "310080006", "306179008", "46255001", "narrower"},               // Pharmacy service -> Referral to pharmacy service; Pharmacist
	{"external-referral", "722140001", "306170007", "36682004", "narrower"},               // Physiotherapy service -> Referral to physiotherapy service; Physiotherapist
	{"external-referral", "708168004", "390866009", "", "narrower"},                       // Mental health service -> Referral to mental health team
	{"external-referral", "310134006", "306238000", "106328005", "narrower"},              // Social services -> Referral to Social Services; Social worker
	{"external-referral", "413331009", "413125004", "", "narrower"},                       // Voluntary services -> Referral to voluntary service
	{"external-referral", "908981000000101", "1090371000000106", "", "narrower"},          // Remote triage and advice service -> Referral to remote triage and advice service
	{"external-referral", "", "referral-other", "", "narrower"},
	{"signpost", "907301000000109", "signposting-nhs-111", "", "narrower"}, // NHS 111 service
	{"signpost", "310134006", "1084431000000106", "", "narrower"},          // Social services -> Signposting to Social Services
	{"signpost", "", "signposting", "", "narrower"},
	{"self-care", "", "self-care", "", "equivalent"},
	{"administrative", "", "administrative-request", "224608005", "narrower"}, // Administrative healthcare staff
}
