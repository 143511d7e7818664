package gateway

import (
	"context"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/interaction"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/tenancy"
)

// Practice tenancy, the publisher's scope and the delete checks are
// package tenancy's; the gateway builds its Guard (newTenancy) and calls
// it (s.tenancy.Wrap) and the practice labels (s.labels()) directly.

// DeleteCheck is a rule the caller must pass to delete a resource
// (tenancy.DeleteCheck).
type DeleteCheck = tenancy.DeleteCheck

// newTenancy builds s's Guard over its options and hooks: the gateway's
// type rules for included resources, value set expansion, the ODS claim
// set with delivery, the secrets box and the Subscriptions that follow
// every write.
func (s *Server) newTenancy() *tenancy.Guard {
	return tenancy.New(tenancy.Options{
		CanonicalBase: s.opts.CanonicalBase,
		Store:         s.store,
		Authorize:     s.authorize,
		Expand: func(ctx context.Context, tx store.Tx, q *search.Query) (*search.Query, error) {
			return s.expandValueSets(ctx, tx, q) // tokensets.go
		},
		ClaimODS: func() bool { return s.odsUnique },
		Secrets:  s.opts.Secrets,
		Follow:   s.followWrites, // subscriptions.go
	})
}

// labels are the practice labels under s's canonical base.
func (s *Server) labels() tenancy.Labels { return s.practiceLabels }

// RegisterDeleteCheck adds a check run on every delete of resources of
// typ (by id, conditional, and every batch or transaction entry); call
// before Handler.
func (s *Server) RegisterDeleteCheck(typ string, check DeleteCheck) {
	s.tenancy.RegisterDeleteCheck(typ, check)
}

// registerConfigurationChecks guards what every decision of a practice,
// or of every practice, depends on: a practice's navigation protocol
// (here, its deletion; checkProtocol guards its writes) and the
// cross-practice configuration (sharedconfig.go).
func (s *Server) registerConfigurationChecks() {
	s.RegisterDeleteCheck("PlanDefinition", tenancy.ProtocolDeleteCheck(mapping.NewNavigationNames(s.opts.CanonicalBase)))
	s.registerSharedConfigChecks()
	s.RegisterWriteCheck("Bundle", interaction.CheckStoredBundle)
}

// checkEndpointAddress is the Endpoint write check of the outbound
// allow-list (tenancy.EndpointAddressIssues).
func (s *Server) checkEndpointAddress(_ context.Context, r *fhir.Resource, _ bool) ([]fhir.Issue, error) {
	return tenancy.EndpointAddressIssues(r, s.allowedEndpoints(), "SIGNPOST_OUTBOUND_ENDPOINTS"), nil
}
