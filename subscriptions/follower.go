package subscriptions

import (
	"context"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Host is what following writes needs from the gateway, asked at each
// write (its settings may be set after the Follower was made).
type Host interface {
	// Delivering reports whether notices are enqueued at all (workers
	// registered to send them); without, Subscriptions are only checked.
	Delivering() bool
	// PracticeSystem is the identifier system of practices' ODS codes.
	PracticeSystem() string
	// AllowedEndpoints is the allow-list in force.
	AllowedEndpoints() Endpoints
	// Restrict bounds q to what scope may see (Matching's restrict).
	Restrict(scope *auth.Principal, q *search.Query) (*search.Query, error)
	// Skipped is told of a Subscription whose endpoint the allow-list no
	// longer allows: it is not notified.
	Skipped(ctx context.Context, id string)
}

// Follower follows the writes of one transaction (a tenancy.Follower):
// the handshake of a Subscription written, the notifications of a Task
// or ServiceRequest written or deleted, enqueued in that transaction.
type Follower struct {
	host   Host
	active *Active
	tx     store.Tx
	// subs are the active Subscriptions of each practice this transaction
	// read (matching).
	subs map[string][]Channel
	// wroteSubscription: this transaction wrote a Subscription, so its
	// view of them is its own (Active).
	wroteSubscription bool
}

// NewFollower follows the writes of tx, reading active Subscriptions
// through active.
func NewFollower(h Host, active *Active, tx store.Tx) *Follower {
	return &Follower{host: h, active: active, tx: tx}
}

// matching finds the active Subscriptions of practice whose criteria
// match typ/id as the transaction now holds it.
func (f *Follower) matching(ctx context.Context, practice, typ, id string) ([]Match, error) {
	if !f.host.Delivering() || !Subscribable(typ) || practice == "" {
		return nil, nil
	}
	// A transaction writing several resources of one practice (a
	// navigation: its Task and ServiceRequest) reads the practice's
	// Subscriptions once; writing a Subscription forgets them.
	subs, ok := f.subs[practice]
	if !ok {
		var err error
		if subs, err = f.active.Of(ctx, f.tx, f.host.PracticeSystem(), practice, f.wroteSubscription); err != nil {
			return nil, err
		}
		if f.subs == nil {
			f.subs = map[string][]Channel{}
		}
		f.subs[practice] = subs
	}
	return Matching(ctx, f.tx, practice, typ, id, subs, f.host.AllowedEndpoints(), f.host.Restrict, func(sub string) {
		f.host.Skipped(ctx, sub)
	})
}

// Written follows every successful create and update that changed
// something: the handshake of a Subscription, the notifications of a Task
// or ServiceRequest.
func (f *Follower) Written(ctx context.Context, practice string, res store.WriteResult) error {
	switch {
	case res.Version.Type == "Subscription":
		f.subs, f.wroteSubscription = nil, true
		if !f.host.Delivering() {
			return nil
		}
		return Handshake(ctx, f.tx, practice, res)
	case Subscribable(res.Version.Type):
		matches, err := f.matching(ctx, practice, res.Version.Type, res.Version.ID)
		if err != nil {
			return err
		}
		return Notify(ctx, f.tx, practice, res, matches)
	}
	return nil
}

// Deleting finds whom the version a delete removes matches; they are
// notified of the deletion.
func (f *Follower) Deleting(ctx context.Context, practice, typ, id string) (func(context.Context, store.WriteResult) error, error) {
	matches, err := f.matching(ctx, practice, typ, id)
	if err != nil || len(matches) == 0 {
		return nil, err
	}
	return func(ctx context.Context, res store.WriteResult) error {
		return Notify(ctx, f.tx, practice, res, matches)
	}, nil
}
