package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/directory"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/mapping"
	navsvc "github.com/signpost-fhir/signpost/navigation"
	"github.com/signpost-fhir/signpost/snomed"
)

// Care navigation (package navigation) served over HTTP: the write checks
// it declares, Task/$navigate, and the BaRS receiver that re-navigates.

// NavigationOptions configures care navigation.
type NavigationOptions = navsvc.Options

// RegisterNavigation serves care navigation: PlanDefinition (the practice
// protocols: read, write, history; no search), the write checks of
// navigation Tasks (the contract and the R4 state machine) and of
// protocols, and Task/$navigate. Call once, before Handler.
func (s *Server) RegisterNavigation(ctx context.Context, opts NavigationOptions) error {
	if opts.Now == nil {
		opts.Now = s.opts.Now
	}
	svc, err := navsvc.New(ctx, navHost{s}, opts)
	if err != nil {
		return err
	}
	s.registry.Serve("PlanDefinition", allInteractions...)
	s.RegisterWriteCheck("Task", svc.CheckTask)
	s.RegisterWriteCheck("PlanDefinition", svc.CheckProtocol)
	s.RegisterWriteCheck("CodeSystem", svc.CheckLexicon)
	for _, typ := range []string{"PlanDefinition", "ConceptMap", "ValueSet"} {
		s.RegisterWriteCheck(typ, svc.Unsettle)
	}
	s.RegisterOperation(Operation{
		Name: "navigate", Level: InstanceLevel, Type: "Task",
		Definition: s.opts.CanonicalBase + "/OperationDefinition/Task-navigate",
		Permissions: []Permission{
			{"Task", auth.Read}, {"Task", auth.Update}, {"ServiceRequest", auth.Create},
			{"Provenance", auth.Create}, {"HealthcareService", auth.Read},
		},
		Run: func(ctx context.Context, in OperationInput) ([]byte, error) {
			return svc.Navigate(ctx, navsvc.Request{ID: in.ID, Params: in.Params, Principal: in.Principal, Audit: in.AuditIn})
		},
	})
	s.registerBaRSReceiver(svc)
	return nil
}

// navHost is the server as navigation's Host.
type navHost struct{ s *Server }

var _ navsvc.Host = navHost{}

func (h navHost) Store() store.Store { return h.s.store }
func (h navHost) Guard(p *auth.Principal, tx store.Tx) navsvc.GuardedTx {
	return h.s.tenancy.Wrap(p, tx)
}
func (h navHost) Visible(p *auth.Principal, typ string, body []byte) bool {
	return h.s.labels().Visible(p, typ, body)
}
func (h navHost) PracticeSystem() string { return h.s.labels().System }
func (h navHost) SetPracticeLabel(r *fhir.Resource, practice string) {
	h.s.labels().Set(r, practice)
}
func (h navHost) Validate(ctx context.Context, r *fhir.Resource, strict bool) error {
	return h.s.writeChecks.Validate(ctx, r, strict)
}
func (h navHost) EnqueueOutcome(ctx context.Context, tx store.Tx, practice string, written map[string][]byte) error {
	return h.s.enqueueOutcome(ctx, tx, practice, written)
}
func (h navHost) EnqueueReferral(ctx context.Context, tx store.Tx, practice string, written map[string][]byte) error {
	return h.s.enqueueBaRS(ctx, tx, practice, written)
}

// ReferralWithheld is bars.Service.ReferralWithheld.
func (h navHost) ReferralWithheld(ctx context.Context, task, allocation map[string]any) (bool, error) {
	return h.s.barsService().ReferralWithheld(ctx, task, allocation)
}
func (h navHost) NoteSeeded(ctx context.Context, what string, seeded []snomed.SeedResult) {
	h.s.NoteSeeded(ctx, what, seeded)
}
func (h navHost) NewDirectoryCache(d mapping.Directory, overlap time.Duration, now func() time.Time) *directory.Cache {
	return h.s.newDirectoryCache(d, overlap, now)
}
func (h navHost) CanonicalBase() string         { return h.s.opts.CanonicalBase }
func (h navHost) RequestTimeout() time.Duration { return h.s.opts.RequestTimeout }
func (h navHost) Logger() *slog.Logger          { return h.s.log }
