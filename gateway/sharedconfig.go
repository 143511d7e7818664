package gateway

import (
	"context"
	"slices"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
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
// or delete one: a write check sees every resource written (REST,
// conditional, PATCH results, Bundle entries) and a delete check every
// resource deleted. The gateway's own seeding writes to the store
// directly and is not a caller.
//
// With an issuer configured, the caller is a token with the operator role
// (auth.RoleOperator: a configuration administrator, who acts for no
// practice and reads no patient data). Their versions stay in their
// history, and every change, refused or made, leaves an AuditEvent (as
// the practices' navigation protocols do: auditedConfig), without a
// practice label since it concerns every practice: an auditor acting for
// all practices reads them.

// sharedConfigTypes are the types of cross-practice configuration.
var sharedConfigTypes = []string{"CodeSystem", "ValueSet", "ConceptMap", "StructureDefinition", "Measure"}

// mayChangeSharedConfig reports whether p may change cross-practice
// configuration.
func mayChangeSharedConfig(p *auth.Principal) bool {
	return p != nil && (p.Dev || (p.AllPractices && p.HasRole(auth.RoleAdmin)) || p.HasRole(auth.RoleOperator))
}

func (s *Server) registerSharedConfigChecks() {
	for _, typ := range sharedConfigTypes {
		s.RegisterWriteCheck(typ, func(ctx context.Context, _ *fhir.Resource, _ bool) ([]fhir.Issue, error) {
			return nil, checkSharedConfig(ctx, typ)
		})
		s.RegisterDeleteCheck(typ, func(ctx context.Context, _ store.Version) error {
			return checkSharedConfig(ctx, typ)
		})
	}
}

func checkSharedConfig(ctx context.Context, typ string) error {
	if p, _ := auth.FromContext(ctx); mayChangeSharedConfig(p) {
		return nil
	}
	return fhir.Errorf(fhir.CodeForbidden, "%s resources are shared by every practice: only an operator (role operator) may change them", typ)
}

// isSharedConfig reports whether typ is cross-practice configuration.
func isSharedConfig(typ string) bool { return slices.Contains(sharedConfigTypes, typ) }
