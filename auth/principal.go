package auth

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
)

// Tier is a care navigator's tier in the competency framework. The zero
// value means the caller has no navigator tier.
type Tier string

// The navigator tiers, lowest first.
const (
	TierNone      Tier = ""
	TierEssential Tier = "essential"
	TierEnhanced  Tier = "enhanced"
	TierExpert    Tier = "expert"
)

// ParseTier reads a tier claim value (case-insensitive). An empty value is
// TierNone; ok is false for any value that is not a tier.
func ParseTier(s string) (t Tier, ok bool) {
	switch Tier(strings.ToLower(strings.TrimSpace(s))) {
	case TierNone:
		return TierNone, true
	case TierEssential:
		return TierEssential, true
	case TierEnhanced:
		return TierEnhanced, true
	case TierExpert:
		return TierExpert, true
	}
	return TierNone, false
}

func (t Tier) rank() int {
	switch t {
	case TierEssential:
		return 1
	case TierEnhanced:
		return 2
	case TierExpert:
		return 3
	}
	return 0
}

// AtLeast reports whether t is min or a higher tier (essential < enhanced
// < expert). Every tier, TierNone included, is at least TierNone.
func (t Tier) AtLeast(min Tier) bool { return t.rank() >= min.rank() }

// Role is what the caller does in the practice or the directory.
type Role string

// The roles Signpost knows. Other values in the role claim are ignored,
// because issuers often share one roles claim between applications.
const (
	RoleNavigator Role = "navigator"
	RoleClinician Role = "clinician"
	RoleAdmin     Role = "admin"
	RolePublisher Role = "publisher"
	RoleAuditor   Role = "auditor"
	// RoleOperator changes the configuration every practice shares (the
	// terminology, the clinical lexicon, the allocation map, measures):
	// an ICB's or the service's configuration administrator, who signs
	// off clinical safety changes. It grants no practice and so no
	// patient data.
	RoleOperator Role = "operator"
)

// ParseRole reads one role value (case-insensitive).
func ParseRole(s string) (Role, bool) {
	switch r := Role(strings.ToLower(strings.TrimSpace(s))); r {
	case RoleNavigator, RoleClinician, RoleAdmin, RolePublisher, RoleAuditor, RoleOperator:
		return r, true
	}
	return "", false
}

// PublisherScope is what a directory publisher may write. It comes from
// the publisher claim: a list (or a space/comma-separated string) whose
// entries are either
//
//   - ODS codes ("QWE", "U12345", "A81001"): the publisher may write
//     directory entries owned by those organisations
//     (HealthcareService.providedBy, Location.managingOrganization,
//     Endpoint.managingOrganization, the Organization itself);
//   - identifier system URIs (any entry with a colon, such as
//     "https://directory.example-icb.nhs.uk/service-id" or "urn:oid:..."):
//     the publisher may write entries whose identifier is in that system,
//     its own catalogue namespace.
//
// The gateway extracts the owner and identifier systems from the resource
// and asks CanPublish, for the stored version (on update and delete) and
// for the new one, so a publisher can neither take over nor hand away an
// entry outside its scope.
type PublisherScope struct {
	Organizations     []string
	IdentifierSystems []string
}

// Empty reports whether the scope names nothing.
func (s PublisherScope) Empty() bool {
	return len(s.Organizations) == 0 && len(s.IdentifierSystems) == 0
}

// Principal is the authenticated caller of one request: who it is, for
// which practices it acts and what it may do.
type Principal struct {
	// Subject is the token's sub (the user, or the client for system
	// tokens); the client ID when the token has no sub.
	Subject string
	// ClientID is the OAuth client the token was issued to (client_id, or
	// azp).
	ClientID string
	// Issuer is the token's iss.
	Issuer string
	// Scopes are the SMART resource scopes of the token.
	Scopes []Scope
	// OtherScopes are the token's other scopes (openid, launch...), as
	// given.
	OtherScopes []string
	// ODS are the practices (ODS codes, upper case, no duplicates) the
	// caller acts for. Issuers expand a PCN or ICB into its practices;
	// Signpost does not resolve organisation hierarchies.
	ODS []string
	// AllPractices lifts tenancy: only DevPrincipal sets it; no token
	// claim can.
	AllPractices bool
	// Tier is the navigator tier; the navigation engine gates decisions
	// on it.
	Tier Tier
	// Roles are the known roles of the token, without duplicates.
	Roles []Role
	// Publisher is what a directory publisher may write.
	Publisher PublisherScope
	// Expiry is the token's exp.
	Expiry time.Time
	// Dev marks the development-mode principal.
	Dev bool
}

// DevPrincipal is the caller in development mode (no issuer configured,
// loopback only): every scope, every practice, every role, expert tier.
func DevPrincipal() *Principal {
	s, _ := ParseScope("system/*.cruds")
	return &Principal{
		Subject:      "developer",
		ClientID:     "signpost-dev",
		Scopes:       []Scope{s},
		AllPractices: true,
		Tier:         TierExpert,
		Roles:        []Role{RoleNavigator, RoleClinician, RoleAdmin, RolePublisher, RoleAuditor},
		Dev:          true,
	}
}

// Allows reports whether the principal's scopes permit action on
// resourceType. Restricted scopes (v2 parameters, patient/) grant nothing.
// user/ and system/ scopes grant alike; the difference is who acts, which
// tenancy bounds either way.
func (p *Principal) Allows(resourceType string, action Action) bool {
	if p == nil {
		return false
	}
	if p.Dev {
		return true
	}
	for _, s := range p.Scopes {
		if !s.Restricted() && s.Grants(resourceType, action) {
			return true
		}
	}
	return false
}

// Authorize is the type-level check of one interaction (each entry of a
// batch or transaction, each type an _include brings in, each operation
// mapped to the action it performs, e.g. $navigate on Task as Update):
//
//   - the scopes must allow it (Allows);
//   - patient-linked types need CanReadPatientData;
//   - writes to directory types need the publisher role; which entries a
//     publisher may write is CanPublish's question, per resource.
//
// It answers nil or a 403 fhir.Error (code forbidden). Whether a given
// resource belongs to one of the caller's practices is a per-resource
// question (CanSeePractice), answered with 404 so existence does not leak.
func (p *Principal) Authorize(resourceType string, action Action) error {
	if p == nil {
		return fhir.Errorf(fhir.CodeLogin, "no authenticated caller")
	}
	if p.Dev {
		return nil
	}
	if !p.Allows(resourceType, action) {
		return fhir.Errorf(fhir.CodeForbidden, "the token's scopes do not allow %s of %s", action, resourceType)
	}
	if IsPatientLinked(resourceType) && !p.CanReadPatientData() {
		if p.IsPublisher() {
			return fhir.Errorf(fhir.CodeForbidden, "directory publishers cannot access %s (patient data)", resourceType)
		}
		return fhir.Errorf(fhir.CodeForbidden, "the token names no practice, so it cannot access %s (patient data)", resourceType)
	}
	if IsDirectoryType(resourceType) && action&(Create|Update|Delete) != 0 && !p.IsPublisher() {
		return fhir.Errorf(fhir.CodeForbidden, "only directory publishers may %s %s", action, resourceType)
	}
	return nil
}

// CanSeePractice reports whether the caller acts for the practice with
// this ODS code (compared case-insensitively).
func (p *Principal) CanSeePractice(ods string) bool {
	if p == nil {
		return false
	}
	if p.Dev || p.AllPractices {
		return true
	}
	ods = strings.ToUpper(strings.TrimSpace(ods))
	return ods != "" && slices.Contains(p.ODS, ods)
}

// Practices are the ODS codes the caller acts for (a copy). When
// AllPractices is set it is nil, and callers must check AllPractices
// first: an empty list means no practice at all.
func (p *Principal) Practices() []string {
	if p == nil || p.AllPractices {
		return nil
	}
	return slices.Clone(p.ODS)
}

// HasRole reports whether the token carries role r.
func (p *Principal) HasRole(r Role) bool {
	return p != nil && slices.Contains(p.Roles, r)
}

// IsPublisher reports whether the caller is a directory publisher.
func (p *Principal) IsPublisher() bool { return p.HasRole(RolePublisher) }

// CanReadPatientData reports whether the caller may see patient-linked
// resources at all: never a publisher (a token with the publisher role
// is a publisher, whatever other roles it has), and only for a caller
// that acts for at least one practice. The developer may.
func (p *Principal) CanReadPatientData() bool {
	if p == nil {
		return false
	}
	if p.Dev {
		return true
	}
	if p.IsPublisher() {
		return false
	}
	return p.AllPractices || len(p.ODS) > 0
}

// CanPublish reports whether the caller may write a directory entry owned
// by the organisation with ODS code org ("" when it names none) or
// carrying an identifier in one of systems. See PublisherScope.
func (p *Principal) CanPublish(org string, systems ...string) bool {
	if p == nil {
		return false
	}
	if p.Dev {
		return true
	}
	if !p.IsPublisher() {
		return false
	}
	if org = strings.ToUpper(strings.TrimSpace(org)); org != "" && slices.Contains(p.Publisher.Organizations, org) {
		return true
	}
	for _, s := range systems {
		if s != "" && slices.Contains(p.Publisher.IdentifierSystems, s) {
			return true
		}
	}
	return false
}

// CanPublishODS reports whether a directory entry may carry the ODS code
// as an identifier: the code is one of the publisher's organisations. An
// identifier system in the scope does not cover ODS codes: delivery to a
// practice's clinical system follows the Organization carrying its code.
func (p *Principal) CanPublishODS(code string) bool {
	if p == nil {
		return false
	}
	if p.Dev {
		return true
	}
	code = strings.ToUpper(strings.TrimSpace(code))
	return p.IsPublisher() && code != "" && slices.Contains(p.Publisher.Organizations, code)
}

// CanPublishSystem reports whether a directory entry may carry an
// identifier in system (other than ODS codes): the system is one of the
// publisher's identifier systems.
func (p *Principal) CanPublishSystem(system string) bool {
	if p == nil {
		return false
	}
	if p.Dev {
		return true
	}
	return p.IsPublisher() && system != "" && slices.Contains(p.Publisher.IdentifierSystems, system)
}

// patientLinked holds the resource types that carry or reveal patient
// data and so are subject to practice tenancy and hidden from publishers:
// every type of the FHIR R4 Patient compartment (the gateway's test holds
// this list to the package's CompartmentDefinition), plus Signpost's
// additions, which R4 leaves out of the compartment because they have no
// patient parameter, yet which carry patient data: Task (Signpost's
// navigation request), Bundle (stored documents and messages, received
// BaRS referrals among them) and Binary (the content of documents and
// attachments). MeasureReport is in:
// individual reports name a patient, and summary reports are a practice's
// own figures. Everything else (directory, terminology, conformance,
// Subscription) is governed by scopes alone.
var patientLinked = map[string]bool{}

func init() {
	for _, t := range []string{
		"Account", "AdverseEvent", "AllergyIntolerance", "Appointment", "AppointmentResponse",
		"AuditEvent", "Basic", "BodyStructure", "CarePlan", "CareTeam", "ChargeItem", "Claim",
		"ClaimResponse", "ClinicalImpression", "Communication", "CommunicationRequest",
		"Composition", "Condition", "Consent", "Coverage", "CoverageEligibilityRequest",
		"CoverageEligibilityResponse", "DetectedIssue", "DeviceRequest", "DeviceUseStatement",
		"DiagnosticReport", "DocumentManifest", "DocumentReference", "Encounter",
		"EnrollmentRequest", "EpisodeOfCare", "ExplanationOfBenefit", "FamilyMemberHistory",
		"Flag", "Goal", "Group", "ImagingStudy", "Immunization", "ImmunizationEvaluation",
		"ImmunizationRecommendation", "Invoice", "List", "MeasureReport", "Media",
		"MedicationAdministration", "MedicationDispense", "MedicationRequest",
		"MedicationStatement", "MolecularSequence", "NutritionOrder", "Observation", "Patient",
		"Person", "Procedure", "Provenance", "QuestionnaireResponse", "RelatedPerson",
		"RequestGroup", "ResearchSubject", "RiskAssessment", "Schedule", "ServiceRequest",
		"Specimen", "SupplyDelivery", "SupplyRequest", "VisionPrescription",
		// Signpost's additions (see above).
		"Task", "Bundle", "Binary",
	} {
		patientLinked[t] = true
	}
}

// IsPatientLinked reports whether resources of this type carry patient
// data (see PatientLinkedTypes).
func IsPatientLinked(resourceType string) bool { return patientLinked[resourceType] }

// PatientLinkedTypes lists, sorted, the resource types under practice
// tenancy and hidden from directory publishers: the FHIR R4 Patient
// compartment plus Task, Bundle and Binary.
func PatientLinkedTypes() []string {
	out := make([]string, 0, len(patientLinked))
	for t := range patientLinked {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// IsDirectoryType reports whether the type is part of the directory of
// services that publishers sync.
func IsDirectoryType(resourceType string) bool {
	switch resourceType {
	case "HealthcareService", "Location", "Organization", "Endpoint":
		return true
	}
	return false
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal NewContext stored, if any.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}

// NamesSystemScope reports whether the token holds a system/ scope that
// names resourceType itself (not the * wildcard) and grants action a:
// what an interaction needs when a wildcard client scope is not enough
// (sending BaRS referrals: system/MessageHeader.c).
func (p *Principal) NamesSystemScope(resourceType string, a Action) bool {
	if p == nil {
		return false
	}
	for _, s := range p.Scopes {
		if s.Context == "system" && s.ResourceType == resourceType && !s.Restricted() && s.Actions.Has(a) {
			return true
		}
	}
	return false
}
