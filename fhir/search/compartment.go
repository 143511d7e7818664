package search

import "slices"

// Patient compartment search: GET [base]/Patient/[id]/[type]?params (and
// POST .../[type]/_search), the resources of [type] in the patient's
// compartment, as R4's CompartmentDefinition patient defines it: those
// whose reference parameters named below point at Patient/[id] on this
// server (any of them: they are ORed), and for Patient the patient itself
// besides the patients that link to it. Task is Signpost's addition
// (Task.for, the search parameter patient): Signpost holds Task as
// patient data (auth.IsPatientLinked), and a patient's navigation
// requests belong to their record.
//
// It is the search on [type] with the compartment as one more condition
// (PatientCompartmentOf).

// PatientCompartment is R4's CompartmentDefinition patient, type by type
// (the gateway's test holds it to the package's), plus Task. Read only.
var PatientCompartment = map[string][]string{
	"Account":                     {"subject"},
	"AdverseEvent":                {"subject"},
	"AllergyIntolerance":          {"patient", "recorder", "asserter"},
	"Appointment":                 {"actor"},
	"AppointmentResponse":         {"actor"},
	"AuditEvent":                  {"patient"},
	"Basic":                       {"patient", "author"},
	"BodyStructure":               {"patient"},
	"CarePlan":                    {"patient", "performer"},
	"CareTeam":                    {"patient", "participant"},
	"ChargeItem":                  {"subject"},
	"Claim":                       {"patient", "payee"},
	"ClaimResponse":               {"patient"},
	"ClinicalImpression":          {"subject"},
	"Communication":               {"subject", "sender", "recipient"},
	"CommunicationRequest":        {"subject", "sender", "recipient", "requester"},
	"Composition":                 {"subject", "author", "attester"},
	"Condition":                   {"patient", "asserter"},
	"Consent":                     {"patient"},
	"Coverage":                    {"policy-holder", "subscriber", "beneficiary", "payor"},
	"CoverageEligibilityRequest":  {"patient"},
	"CoverageEligibilityResponse": {"patient"},
	"DetectedIssue":               {"patient"},
	"DeviceRequest":               {"subject", "performer"},
	"DeviceUseStatement":          {"subject"},
	"DiagnosticReport":            {"subject"},
	"DocumentManifest":            {"subject", "author", "recipient"},
	"DocumentReference":           {"subject", "author"},
	"Encounter":                   {"patient"},
	"EnrollmentRequest":           {"subject"},
	"EpisodeOfCare":               {"patient"},
	"ExplanationOfBenefit":        {"patient", "payee"},
	"FamilyMemberHistory":         {"patient"},
	"Flag":                        {"patient"},
	"Goal":                        {"patient"},
	"Group":                       {"member"},
	"ImagingStudy":                {"patient"},
	"Immunization":                {"patient"},
	"ImmunizationEvaluation":      {"patient"},
	"ImmunizationRecommendation":  {"patient"},
	"Invoice":                     {"subject", "patient", "recipient"},
	"List":                        {"subject", "source"},
	"MeasureReport":               {"patient"},
	"Media":                       {"subject"},
	"MedicationAdministration":    {"patient", "performer", "subject"},
	"MedicationDispense":          {"subject", "patient", "receiver"},
	"MedicationRequest":           {"subject"},
	"MedicationStatement":         {"subject"},
	"MolecularSequence":           {"patient"},
	"NutritionOrder":              {"patient"},
	"Observation":                 {"subject", "performer"},
	"Patient":                     {"link"},
	"Person":                      {"patient"},
	"Procedure":                   {"patient", "performer"},
	"Provenance":                  {"patient"},
	"QuestionnaireResponse":       {"subject", "author"},
	"RelatedPerson":               {"patient"},
	"RequestGroup":                {"subject", "participant"},
	"ResearchSubject":             {"individual"},
	"RiskAssessment":              {"subject"},
	"Schedule":                    {"actor"},
	"ServiceRequest":              {"subject", "performer"},
	"Specimen":                    {"subject"},
	"SupplyDelivery":              {"patient"},
	"SupplyRequest":               {"subject"},
	"VisionPrescription":          {"patient"},
	// Signpost's addition (see above).
	"Task": {"patient"},
}

// PatientCompartmentOf is the compartment condition of Patient/id on typ;
// ok is false when typ is not in the compartment.
func PatientCompartmentOf(typ, id string) (*Compartment, bool) {
	params, ok := PatientCompartment[typ]
	if !ok {
		return nil, false
	}
	return &Compartment{Type: "Patient", ID: id, Params: slices.Clone(params), Self: typ == "Patient"}, true
}

// InPatientCompartment reports whether typ is in the Patient compartment
// (R4's, plus Task).
func InPatientCompartment(typ string) bool {
	_, ok := PatientCompartment[typ]
	return ok
}

// LimitTo limits q, a search of typ, to the compartment c. A compartment
// of one parameter is an ordinary reference parameter (so every store
// path, the audit table's included, serves it); several, or the patient
// itself, are the store's compartment condition.
func LimitTo(q *Query, typ string, c *Compartment) error {
	if len(c.Params) == 1 && !c.Self {
		p, err := ParseQuery(typ, map[string][]string{c.Params[0]: {c.Type + "/" + c.ID}}, true)
		if err != nil {
			return err
		}
		q.Params = append(q.Params, p.Params...)
		return nil
	}
	q.Compartment = c
	return nil
}
