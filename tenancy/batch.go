package tenancy

import (
	"context"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/subscriptions"
)

// What the run of a batch or transaction Bundle asks of the transaction
// it writes through (fhir/interaction's Guarded, which Tx is): a run
// checks and writes several resources together, so it asks for the
// checks Create and Update would make, and makes AfterWrite's follow-ups
// itself.

// PracticesOf are the practices of a stored body (for the AuditEvent of
// a read).
func (t *Tx) PracticesOf(body []byte) []string { return t.g.PracticesOf(body) }

// Restricted tells whether tenancy bounds t's caller's view of typ.
func (t *Tx) Restricted(typ string) bool { return Restricted(t.p, typ) }

// Batchable tells whether creates (update false) or updates of typ may be
// written in a batch. Not for types whose writes notify subscribers
// (Task, ServiceRequest, Subscription): they are written one by one, so
// notifications keep the Bundle's order; nor for updates of types whose
// owner is a practice, whose practice label is decided against the
// stored version.
func (t *Tx) Batchable(typ string, update bool) bool {
	if subscriptions.Subscribable(typ) || typ == "Subscription" {
		return false
	}
	return !update || !Owned(typ)
}

// CheckCreate is the check Create makes before writing r, and the
// practices of r.
func (t *Tx) CheckCreate(ctx context.Context, r *fhir.Resource) ([]string, error) {
	if err := t.CheckWrite(ctx, r, nil, nil); err != nil {
		return nil, err
	}
	return t.Practices(), nil
}

// CheckUpdate is the check Update makes before writing r, for the types
// Batchable lets through (a directory entry's publisher, against the
// stored version too), and the practices of r.
func (t *Tx) CheckUpdate(ctx context.Context, r *fhir.Resource) ([]string, error) {
	if auth.IsDirectoryType(r.Type()) && !t.p.Dev {
		stored, storedBody, err := t.Current(ctx, r.Type(), r.ID())
		if err != nil {
			return nil, err
		}
		if err := t.CheckWrite(ctx, r, stored, storedBody); err != nil {
			return nil, err
		}
	}
	return t.Practices(), nil
}
