package auth

import (
	"context"
	"slices"

	"github.com/signpost-fhir/signpost/fhir"
)

// Cross-practice configuration.
//
// Tenancy gives each practice its own patient data. Some resources belong
// to no practice because every practice's requests read them: the
// terminology (CodeSystems; ValueSets, the red-flag findings among them;
// ConceptMaps, the allocation map every decision is coded from, and
// canonical URLs resolve to fixed ids, so any of them can be what a
// decision reads), the StructureDefinitions of the directory's
// extensions, and the Measures every practice is measured by. A change to
// one changes every practice's navigation, so only an administrator
// acting for all practices, or the developer, may create, update, patch
// or delete one: the gateway's write and delete checks
// (CheckSharedConfig) see every resource written or deleted. The
// gateway's own seeding writes to the store directly and is not a
// caller.
//
// With an issuer configured, the caller is a token with the operator role
// (RoleOperator: a configuration administrator, who acts for no practice
// and reads no patient data). Their versions stay in their history, and
// every change, refused or made, leaves an AuditEvent, without a practice
// label since it concerns every practice: an auditor acting for all
// practices reads them.

// SharedConfigTypes are the types of cross-practice configuration.
var SharedConfigTypes = []string{"CodeSystem", "ValueSet", "ConceptMap", "StructureDefinition", "Measure"}

// MayChangeSharedConfig reports whether p may change cross-practice
// configuration.
func MayChangeSharedConfig(p *Principal) bool {
	return p != nil && (p.Dev || (p.AllPractices && p.HasRole(RoleAdmin)) || p.HasRole(RoleOperator))
}

// CheckSharedConfig refuses a change to a resource of typ (cross-practice
// configuration) unless the caller of ctx may change it.
func CheckSharedConfig(ctx context.Context, typ string) error {
	if p, _ := FromContext(ctx); MayChangeSharedConfig(p) {
		return nil
	}
	return fhir.Errorf(fhir.CodeForbidden, "%s resources are shared by every practice: only an operator (role operator) may change them", typ)
}

// IsSharedConfig reports whether typ is cross-practice configuration.
func IsSharedConfig(typ string) bool { return slices.Contains(SharedConfigTypes, typ) }
