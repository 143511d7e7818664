package gateway

import (
	"context"
	"net/http"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/gateway/dashboard"
	"github.com/signpost-fhir/signpost/measures"
	"github.com/signpost-fhir/signpost/snomed"
	"github.com/signpost-fhir/signpost/tenancy"
)

// RegisterMeasures seeds the success Measures and serves
// Measure/$evaluate-measure (type and instance level), which package
// measures evaluates. Call once, before Handler.
func (s *Server) RegisterMeasures(ctx context.Context) error {
	m := measures.New(measures.Config{Store: s.store, CanonicalBase: s.opts.CanonicalBase,
		PracticeSystem: s.labels().System, ODSOf: tenancy.ODSOf, Now: s.opts.Now})
	resources, err := m.Resources()
	if err != nil {
		return err
	}
	if _, err := snomed.SeedResources(ctx, s.store, resources); err != nil {
		return err
	}
	for _, sm := range m.Summarizers() {
		if err := s.store.RegisterSummarizer(ctx, sm); err != nil {
			return err
		}
	}
	perms := []Permission{{"Measure", auth.Read}, {"Task", auth.Read}, {"ServiceRequest", auth.Read}, {"Organization", auth.Read}, {"Patient", auth.Read}}
	evaluate := func(ctx context.Context, in OperationInput) ([]byte, error) {
		return m.Evaluate(ctx, measures.Request{ID: in.ID, Params: in.Params, Principal: in.Principal,
			Tx: s.tenancy.Wrap(in.Principal, s.store),
			Authorize: func(typ string, action auth.Action) error {
				return s.authorize(in.Principal, typ, action)
			}})
	}
	for _, level := range []OperationLevel{TypeLevel, InstanceLevel} {
		s.RegisterOperation(Operation{
			Name: "evaluate-measure", Level: level, Type: "Measure",
			Definition:  "http://hl7.org/fhir/OperationDefinition/Measure-evaluate-measure",
			Idempotent:  true,
			Permissions: perms,
			Run:         evaluate,
		})
	}
	return nil
}

// ServeDashboard serves the success-measures page at /dashboard (package
// dashboard: embedded HTML, CSS and JavaScript calling
// $evaluate-measure). Call before Handler.
func (s *Server) ServeDashboard() {
	s.pages = append(s.pages, page{paths: []string{"/dashboard", "/dashboard/", "/dashboard/app.js", "/dashboard/style.css"}, h: dashboard.Handler()})
}

// page is a non-FHIR page the gateway serves (GET and HEAD).
type page struct {
	paths []string
	h     http.Handler
}
