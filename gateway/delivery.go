package gateway

import (
	"context"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/delivery"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
)

// Outcome delivery, the API side (package delivery): every committed
// $navigate decision is enqueued in the decision's own transaction, and
// the operations over the outbox are registered here. The workers are
// clinicalsystem.Deliverer, started by the command.
//
//	GET  [base]/Task/{id}/$delivery-status   the Task's deliveries
//	GET  [base]/$dead-letters                dead deliveries of the caller's practices
//	POST [base]/$redeliver  task=<Task ref or id> [delivery=<n>]   requeue dead ones
//	POST [base]/$redeliver  subscription=<id>          a Subscription's (subscriptions.go)

// RegisterDelivery makes $navigate enqueue its decisions into ob and
// serves the delivery operations. Call once, before Handler.
func (s *Server) RegisterDelivery(ob store.Outbox) {
	s.outbox = ob
	// Only now does a Subscription make the gateway send anything.
	s.RegisterWriteCheck("Subscription", s.checkSubscriptionEndpoint)
	s.RegisterWriteCheck("Endpoint", s.checkEndpointAddress) // directoryclaims.go
	s.odsUnique = true                                       // one Organization per ODS code: tenancy.Tx.claimODS
	base := s.opts.CanonicalBase + "/OperationDefinition/"
	s.RegisterOperation(Operation{Name: "delivery-status", Level: InstanceLevel, Type: "Task", Definition: base + "Task-delivery-status",
		Idempotent: true, Permissions: []Permission{{"Task", auth.Read}}, Run: func(ctx context.Context, in OperationInput) ([]byte, error) {
			return s.deliveries().Status(ctx, in.Principal, in.ID)
		}})
	s.RegisterOperation(Operation{Name: "dead-letters", Level: SystemLevel, Definition: base + "dead-letters",
		Idempotent: true, Permissions: []Permission{{"Task", auth.Read}}, Run: func(ctx context.Context, in OperationInput) ([]byte, error) {
			return s.deliveries().DeadLetters(ctx, in.Principal)
		}})
	s.RegisterOperation(Operation{Name: "redeliver", Level: SystemLevel, Definition: base + "redeliver",
		Permissions: []Permission{{"Task", auth.Update}}, Run: func(ctx context.Context, in OperationInput) ([]byte, error) {
			return s.deliveries().Redeliver(ctx, in.Principal, in.Base, in.Params, func(ctx context.Context, id string) ([]byte, error) {
				return s.redeliverSubscription(ctx, in, id)
			})
		}})
}

// deliveries are the delivery operations over the server's outbox, reading
// under the caller's tenancy.
func (s *Server) deliveries() delivery.Operations {
	return delivery.Operations{Outbox: s.outbox, PublicBase: s.opts.PublicBase,
		Read: func(ctx context.Context, p *auth.Principal, typ, id string) error {
			_, err := s.tenancy.Wrap(p, s.store).Read(ctx, typ, id)
			return err
		}}
}

// enqueueOutcome writes the delivery of a committed decision, in the
// decision's transaction (delivery.Enqueue). References to what only
// Signpost holds resolve at the base clients use (SIGNPOST_PUBLIC_URL),
// else at the canonical base.
func (s *Server) enqueueOutcome(ctx context.Context, tx store.Tx, practice string, written map[string][]byte) error {
	if s.outbox == nil {
		return nil
	}
	refs := s.opts.PublicBase
	if refs == "" {
		refs = s.opts.CanonicalBase
	}
	return delivery.Enqueue(ctx, tx, clinicalsystem.Bases{Canonical: s.opts.CanonicalBase, References: refs}, practice, written)
}

// requeue sends the deliveries of ds that pick selects again (delivery.Operations.Requeue).
func (s *Server) requeue(ctx context.Context, what string, ds []store.Delivery, pick func(store.Delivery) bool) ([]byte, error) {
	return s.deliveries().Requeue(ctx, what, ds, pick)
}
