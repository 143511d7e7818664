package gateway

import (
	"context"
	"log/slog"
	"strings"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/subscriptions"
	"github.com/signpost-fhir/signpost/tenancy"
)

// R4 rest-hook Subscriptions (package subscriptions): the gateway's side
// is the allow-list in force, the Follower of every guarded write (tenancy.Tx) that
// enqueues handshakes and notifications in the write's transaction, and
// $redeliver for a Subscription. Nothing is enqueued unless
// RegisterDelivery was called (no workers would send it); Subscriptions
// are still validated.

// SubscriptionEndpoints is the outbound allow-list of rest-hook (and
// Endpoint) addresses (subscriptions.Endpoints).
type SubscriptionEndpoints = subscriptions.Endpoints

// LoopbackSubscriptionEndpoints allows any http or https URL whose host is
// localhost or a loopback IP (development mode's default).
func LoopbackSubscriptionEndpoints() SubscriptionEndpoints { return subscriptions.LoopbackEndpoints() }

// ParseSubscriptionEndpoints reads an allow-list of URL prefixes
// separated by commas (subscriptions.ParseEndpoints).
func ParseSubscriptionEndpoints(list string) (SubscriptionEndpoints, error) {
	return subscriptions.ParseEndpoints(list)
}

// followWrites is the tenancy.Follower of one guarded transaction tx
// (subscriptions.Follower).
func (s *Server) followWrites(tx store.Tx) tenancy.Follower {
	return subscriptions.NewFollower((*subscriptionHost)(s), &s.subsCache, tx)
}

// subscriptionHost is the Server as subscriptions.Host.
type subscriptionHost Server

func (h *subscriptionHost) Delivering() bool       { return h.outbox != nil }
func (h *subscriptionHost) PracticeSystem() string { return (*Server)(h).labels().System }
func (h *subscriptionHost) AllowedEndpoints() SubscriptionEndpoints {
	return (*Server)(h).allowedEndpoints()
}
func (h *subscriptionHost) Restrict(p *auth.Principal, q *search.Query) (*search.Query, error) {
	return (*Server)(h).labels().RestrictQuery(p, q)
}
func (h *subscriptionHost) Skipped(ctx context.Context, sub string) {
	h.log.LogAttrs(ctx, slog.LevelWarn, "subscription endpoint not allowed: no notification", slog.String("subscription", sub))
}

// redeliverSubscription requeues the dead deliveries of a Subscription
// the caller may read: $redeliver with subscription instead of task.
func (s *Server) redeliverSubscription(ctx context.Context, in OperationInput, id string) ([]byte, error) {
	if _, err := s.tenancy.Wrap(in.Principal, s.store).Read(ctx, "Subscription", id); err != nil {
		return nil, err
	}
	ds, err := s.outbox.DeadLetters(ctx, 10000)
	if err != nil {
		return nil, err
	}
	key := "Subscription/" + id + "/"
	return s.requeue(ctx, "Subscription/"+id, ds, func(d store.Delivery) bool { return strings.HasPrefix(d.TaskID, key) })
}

// SetSubscriptionEndpoints sets the allow-list of rest-hook endpoints
// (replacing the default, loopback URLs only). Call before Handler.
func (s *Server) SetSubscriptionEndpoints(e SubscriptionEndpoints) {
	s.subscriptionEndpoints = &e
}

// allowedEndpoints is the allow-list in force.
func (s *Server) allowedEndpoints() SubscriptionEndpoints {
	if s.subscriptionEndpoints != nil {
		return *s.subscriptionEndpoints
	}
	return LoopbackSubscriptionEndpoints()
}

// checkSubscriptionEndpoint is the write check of the allow-list.
func (s *Server) checkSubscriptionEndpoint(_ context.Context, r *fhir.Resource, _ bool) ([]fhir.Issue, error) {
	return s.allowedEndpoints().Check(r), nil
}
