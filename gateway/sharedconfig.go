package gateway

import (
	"context"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Cross-practice configuration (auth.SharedConfigTypes: terminology, the
// directory's StructureDefinitions, Measures): only an operator may
// change it. The checks below see every resource written (REST,
// conditional, PATCH results, Bundle entries) and every one deleted.
func (s *Server) registerSharedConfigChecks() {
	for _, typ := range auth.SharedConfigTypes {
		s.RegisterWriteCheck(typ, func(ctx context.Context, _ *fhir.Resource, _ bool) ([]fhir.Issue, error) {
			return nil, auth.CheckSharedConfig(ctx, typ)
		})
		s.RegisterDeleteCheck(typ, func(ctx context.Context, _ store.Version) error {
			return auth.CheckSharedConfig(ctx, typ)
		})
	}
}
