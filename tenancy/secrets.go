package tenancy

import (
	"context"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/internal/sealed"
	"github.com/signpost-fhir/signpost/secrets"
)

// checkSecrets is secrets.Keep for the guard, after CheckWrite has
// decided r's practice (t.practices): the owner of a Subscription is its
// practice, that of an Endpoint its managing organisation.
func (t *Tx) checkSecrets(ctx context.Context, r *fhir.Resource, storedBody []byte) error {
	typ := r.Type()
	if !secrets.Holds(typ) {
		return nil
	}
	owner, storedOwner := "", ""
	if typ == "Subscription" {
		if len(t.practices) > 0 {
			owner = t.practices[0]
		}
		if ps := t.g.PracticesOf(storedBody); len(ps) > 0 {
			storedOwner = ps[0]
		}
	} else {
		body, err := r.MarshalJSON()
		if err != nil {
			return err
		}
		if owner, _, err = t.directoryOwner(ctx, typ, body); err != nil {
			return err
		}
		if storedBody != nil {
			if storedOwner, _, err = t.directoryOwner(ctx, typ, storedBody); err != nil {
				return err
			}
		}
	}
	if storedBody == nil {
		storedOwner = owner
	}
	var box *sealed.Box
	if t.g.opts.Secrets != nil {
		b, err := t.g.opts.Secrets.Box(ctx)
		if err != nil {
			return err
		}
		box = b
	}
	return secrets.Keep(t.p, r, storedBody, owner, storedOwner, box)
}
