package gateway

import (
	"context"
	"log/slog"
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
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

// followWrites is the tenancy.Follower of one guarded transaction tx:
// the handshake of a Subscription written, the notifications of a Task
// or ServiceRequest written or deleted, enqueued in tx.
func (s *Server) followWrites(tx store.Tx) tenancy.Follower {
	return &subscriptionFollower{s: s, tx: tx}
}

// subscriptionFollower follows the writes of one transaction.
type subscriptionFollower struct {
	s  *Server
	tx store.Tx
	// subs are the active Subscriptions of each practice this transaction
	// read (matching).
	subs map[string][]subscriptions.Channel
	// wroteSubscription: this transaction wrote a Subscription, so its
	// view of them is its own (subscriptions.Active).
	wroteSubscription bool
}

// matching finds the active Subscriptions of practice whose criteria
// match typ/id as the transaction now holds it.
func (f *subscriptionFollower) matching(ctx context.Context, practice, typ, id string) ([]subscriptions.Match, error) {
	s, tx := f.s, f.tx
	if s.outbox == nil || !subscriptions.Subscribable(typ) || practice == "" {
		return nil, nil
	}
	// A transaction writing several resources of one practice (a
	// navigation: its Task and ServiceRequest) reads the practice's
	// Subscriptions once; writing a Subscription forgets them.
	subs, ok := f.subs[practice]
	if !ok {
		var err error
		if subs, err = s.subsCache.Of(ctx, tx, s.practiceSystem(), practice, f.wroteSubscription); err != nil {
			return nil, err
		}
		if f.subs == nil {
			f.subs = map[string][]subscriptions.Channel{}
		}
		f.subs[practice] = subs
	}
	return subscriptions.Matching(ctx, tx, practice, typ, id, subs, s.allowedEndpoints(), s.restrictQuery, func(sub string) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "subscription endpoint not allowed: no notification", slog.String("subscription", sub))
	})
}

// Written follows every successful create and update that changed
// something: the handshake of a Subscription, the notifications of a Task
// or ServiceRequest.
func (f *subscriptionFollower) Written(ctx context.Context, practice string, res store.WriteResult) error {
	switch {
	case res.Version.Type == "Subscription":
		f.subs, f.wroteSubscription = nil, true
		if f.s.outbox == nil {
			return nil
		}
		return subscriptions.Handshake(ctx, f.tx, practice, res)
	case subscriptions.Subscribable(res.Version.Type):
		matches, err := f.matching(ctx, practice, res.Version.Type, res.Version.ID)
		if err != nil {
			return err
		}
		return subscriptions.Notify(ctx, f.tx, practice, res, matches)
	}
	return nil
}

// Deleting finds whom the version a delete removes matches; they are
// notified of the deletion.
func (f *subscriptionFollower) Deleting(ctx context.Context, practice, typ, id string) (func(context.Context, store.WriteResult) error, error) {
	matches, err := f.matching(ctx, practice, typ, id)
	if err != nil || len(matches) == 0 {
		return nil, err
	}
	return func(ctx context.Context, res store.WriteResult) error {
		return subscriptions.Notify(ctx, f.tx, practice, res, matches)
	}, nil
}

// redeliverSubscription requeues the dead deliveries of a Subscription
// the caller may read: $redeliver with subscription instead of task.
func (s *Server) redeliverSubscription(ctx context.Context, in OperationInput, id string) ([]byte, error) {
	if _, err := s.guard(in.Principal, s.store).Read(ctx, "Subscription", id); err != nil {
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
	ch, _ := r.Object()["channel"].(map[string]any)
	endpoint, _ := ch["endpoint"].(string)
	if s.allowedEndpoints().Allows(endpoint) {
		return nil, nil
	}
	return []fhir.Issue{{Severity: fhir.SeverityError, Code: fhir.CodeBusinessRule, Expression: []string{"Subscription.channel.endpoint"},
		Diagnostics: "Subscription.channel.endpoint is not an endpoint this gateway may notify: its operator allows a list of URLs for rest-hook Subscriptions"}}, nil
}
