package tenancy

import (
	"context"
	"strings"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/mapping"
)

// Deletes meet the authorisation of writes.
//
// Write checks (the gateway's RegisterWriteCheck) see the resource a
// write stores. A delete stores none, so a rule about who may write a
// resource said nothing about who may delete it: DELETE of a practice's
// navigation protocol passed where PUT and PATCH of it were refused. A
// DeleteCheck sees the stored version a delete removes. Tx.Delete runs
// the checks of the type, so DELETE by id, conditional DELETE and the
// DELETE entries of batches and transactions all meet them, after
// tenancy (a resource the caller may not see is a 404 before any check)
// and inside the delete's transaction.
//
// Write checks are not run on deletes: most check content (codes,
// state transitions, endpoints), which a delete must not depend on —
// a Subscription whose endpoint is no longer allowed must still be
// deletable.

// DeleteCheck is a rule the caller must pass to delete a resource. It is
// given the live stored version the delete removes; the caller is
// auth.FromContext(ctx). An error refuses the delete: a fhir.Error
// (forbidden for a caller who may not) or a failure of the check itself.
// Deleting what does not exist, or no longer does, changes nothing and
// runs no check.
type DeleteCheck func(ctx context.Context, stored store.Version) error

// RegisterDeleteCheck adds a check run on every delete of resources of
// typ (by id, conditional, and every batch or transaction entry); call
// before serving.
func (g *Guard) RegisterDeleteCheck(typ string, check DeleteCheck) {
	if g.deleteChecks == nil {
		g.deleteChecks = map[string][]DeleteCheck{}
	}
	g.deleteChecks[typ] = append(g.deleteChecks[typ], check)
}

// CheckDelete runs the delete checks of stored's type.
func (g *Guard) CheckDelete(ctx context.Context, stored store.Version) error {
	for _, check := range g.deleteChecks[stored.Type] {
		if err := check(ctx, stored); err != nil {
			return err
		}
	}
	return nil
}

// MayManageProtocol reports whether p may load, change or delete the
// navigation protocol of practice: an administrator acting for that
// practice, or the developer.
func MayManageProtocol(p *auth.Principal, practice string) bool {
	return p != nil && (p.Dev || (p.HasRole(auth.RoleAdmin) && p.CanSeePractice(practice)))
}

// ProtocolDeleteCheck refuses the deletion of a navigation protocol
// (PlanDefinition) to anyone but who may load it. Without its protocol a
// practice's next $navigate decides on the fallback rules, so deleting it
// is changing it. A PlanDefinition is a protocol when its id says so
// (what $navigate reads) or its content does (what the protocol's write
// check guards); the practice is the id's, as for a write.
func ProtocolDeleteCheck(names mapping.NavigationNames) DeleteCheck {
	return func(ctx context.Context, stored store.Version) error {
		practice, prefixed := strings.CutPrefix(stored.ID, mapping.ProtocolIDPrefix)
		if !prefixed {
			obj, err := fhir.DecodeObject(stored.Body)
			if err != nil {
				return err
			}
			if !names.IsNavigationProtocol(obj) {
				return nil
			}
		}
		p, _ := auth.FromContext(ctx)
		if MayManageProtocol(p, practice) {
			return nil
		}
		return fhir.Errorf(fhir.CodeForbidden, "only an administrator acting for practice %s may delete its navigation protocol", practice)
	}
}
