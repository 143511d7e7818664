package gateway

import (
	"context"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/tenancy"
)

// Practice tenancy, the publisher's scope and the delete checks are
// package tenancy's; the gateway builds its Guard (newTenancy) and keeps
// the names below, which delegate to it, for the code that calls them.

// tenantTx is the store.Tx every interaction runs on (tenancy.Tx).
type tenantTx = tenancy.Tx

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
func (s *Server) labels() tenancy.Labels { return tenancy.NewLabels(s.opts.CanonicalBase) }

// practiceSystem is the system of the practice security label.
func (s *Server) practiceSystem() string { return s.labels().System }

// restricted reports whether p's view of typ is bounded by tenancy.
func restricted(p *auth.Principal, typ string) bool { return tenancy.Restricted(p, typ) }

// practiceOwned reports whether typ carries the practice label.
func practiceOwned(typ string) bool { return tenancy.Owned(typ) }

// practiceOwnedTypes lists, sorted, the types under practice tenancy.
func practiceOwnedTypes() []string { return tenancy.OwnedTypes() }

// practicesOf lists the practice labels of a stored body.
func (s *Server) practicesOf(body []byte) []string { return s.labels().PracticesOf(body) }

// visible reports whether p may see a stored version of typ.
func (s *Server) visible(p *auth.Principal, typ string, body []byte) bool {
	return s.labels().Visible(p, typ, body)
}

// restrictQuery is q with p's tenancy.
func (s *Server) restrictQuery(p *auth.Principal, q *search.Query) (*search.Query, error) {
	return s.labels().RestrictQuery(p, q)
}

// setPracticeLabel replaces the practice labels of r by code's ("" for
// none).
func (s *Server) setPracticeLabel(r *fhir.Resource, code string) { s.labels().Set(r, code) }

// guard wraps tx for p.
func (s *Server) guard(p *auth.Principal, tx store.Tx) *tenantTx { return s.tenancy.Wrap(p, tx) }

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
	s.RegisterWriteCheck("Bundle", checkStoredBundle)
}

// checkEndpointAddress is the Endpoint write check of the outbound
// allow-list (tenancy.EndpointAddressIssues).
func (s *Server) checkEndpointAddress(_ context.Context, r *fhir.Resource, _ bool) ([]fhir.Issue, error) {
	return tenancy.EndpointAddressIssues(r, s.allowedEndpoints(), "SIGNPOST_OUTBOUND_ENDPOINTS"), nil
}
