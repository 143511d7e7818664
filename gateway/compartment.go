package gateway

import (
	"net/http"
	"slices"
	"sort"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
)

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
// It is the search on [type] with the compartment as one more condition,
// so tenancy, scopes and audit are exactly those of that search
// (GET [type]?subject=Patient/[id]): search on [type] is needed, the
// caller's practices bound the answer, and it is audited as a search of
// [type] whose parameters include the compartment's. As with that search,
// a patient of another practice (or none) is not looked up: the answer is
// an empty searchset.

// patientCompartment is R4's CompartmentDefinition patient, type by type
// (the test holds it to the package's), plus Task.
var patientCompartment = map[string][]string{
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

// patientCompartmentTypes lists the served types of the Patient
// compartment that can be searched, sorted, Patient first.
func (s *Server) patientCompartmentTypes() []string {
	var out []string
	for t := range patientCompartment {
		if t != "Patient" && s.registry.Supports(t, SearchType) {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	if s.registry.Supports("Patient", SearchType) {
		out = append([]string{"Patient"}, out...)
	}
	return out
}

// patientCompartmentOf is the compartment condition of Patient/id on typ;
// ok is false when typ is not in the compartment.
func patientCompartmentOf(typ, id string) (*search.Compartment, bool) {
	params, ok := patientCompartment[typ]
	if !ok {
		return nil, false
	}
	return &search.Compartment{Type: "Patient", ID: id, Params: slices.Clone(params), Self: typ == "Patient"}, true
}

// compartmentRoute routes Patient/[id]/[type] and Patient/[id]/[type]/_search;
// ok is false for any other path.
func (s *Server) compartmentRoute(req *request, segs []string) (h handlerFunc, ok bool, err error) {
	if segs[0] != "Patient" || segs[2] == "" || segs[2][0] == '$' || segs[2] == "_history" {
		return nil, false, nil
	}
	if len(segs) == 4 && segs[3] != "_search" {
		return nil, false, nil
	}
	if !fhir.ValidID(req.id) {
		return nil, true, fhir.Errorf(fhir.CodeNotFound, "%q is not a valid id", req.id).WithStatus(http.StatusNotFound)
	}
	typ := segs[2]
	if !s.registry.Serves(typ) {
		return nil, true, fhir.Errorf(fhir.CodeNotSupported, "resource type %q is not served here", typ).WithStatus(http.StatusNotFound)
	}
	if _, in := patientCompartment[typ]; !in {
		return nil, true, fhir.Errorf(fhir.CodeNotSupported, "%s is not in the Patient compartment", typ).WithStatus(http.StatusBadRequest)
	}
	if !s.registry.Supports(typ, SearchType) {
		return nil, true, fhir.Errorf(fhir.CodeNotSupported, "search is not supported for %s", typ).WithStatus(http.StatusMethodNotAllowed)
	}
	path := "Patient/" + req.id + "/" + typ
	switch {
	case len(segs) == 3 && (req.method == http.MethodGet || req.method == http.MethodHead):
	case len(segs) == 4 && req.method == http.MethodPost:
		req.bodyKind = bodyForm
	default:
		return nil, true, methodNotAllowed(req.method, "Patient/[id]/"+typ)
	}
	c, _ := patientCompartmentOf(typ, req.id)
	req.compartment = &compartmentSearch{c: c, path: path}
	req.typ, req.id = typ, ""
	return s.search, true, nil
}

// compartmentSearch is the compartment a search is limited to, and the
// path its links use.
type compartmentSearch struct {
	c    *search.Compartment
	path string
}

// applyCompartment adds the compartment to a parsed search. A compartment
// of one parameter is an ordinary reference parameter (so every store
// path, the audit table's included, serves it); several, or the patient
// itself, are the store's compartment condition.
func applyCompartment(sr *searchRequest, cs *compartmentSearch) error {
	if sr.custom != nil {
		return fhir.Errorf(fhir.CodeNotSupported, "%s's custom search parameters cannot be used in a compartment search", sr.typ).WithStatus(http.StatusBadRequest)
	}
	sr.path = cs.path
	c := cs.c
	if len(c.Params) == 1 && !c.Self {
		q, err := search.ParseQuery(sr.typ, map[string][]string{c.Params[0]: {c.Type + "/" + c.ID}}, true)
		if err != nil {
			return err
		}
		sr.q.Params = append(sr.q.Params, q.Params...)
		return nil
	}
	sr.q.Compartment = c
	return nil
}

// compartmentAuditParams are the parameter names a compartment search is
// audited with besides those sent: the compartment's.
func compartmentAuditParams(cs *compartmentSearch) []string {
	if cs == nil {
		return nil
	}
	return cs.c.Params
}

// InPatientCompartment reports whether typ is in the Patient compartment
// as the gateway serves it (R4's, plus Task).
func InPatientCompartment(typ string) bool {
	_, ok := patientCompartment[typ]
	return ok
}
