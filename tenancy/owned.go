package tenancy

import (
	"slices"
	"sync"

	"github.com/signpost-fhir/signpost/auth"
)

// Owned reports whether typ carries the practice label: the
// patient-linked types and Subscription.
func Owned(typ string) bool { return auth.IsPatientLinked(typ) || typ == "Subscription" }

// ownedTypes are the types Owned reports, sorted.
var ownedTypes = sync.OnceValue(func() []string {
	out := append(auth.PatientLinkedTypes(), "Subscription")
	slices.Sort(out)
	return out
})

// OwnedTypes lists, sorted, the types under practice tenancy (the
// patient-linked types and Subscription): what history filters and what
// chains and _has may reach of other practices' data. A copy, since
// queries keep it.
func OwnedTypes() []string { return slices.Clone(ownedTypes()) }

// Restricted reports whether p's view of typ is bounded by tenancy.
func Restricted(p *auth.Principal, typ string) bool {
	return Owned(typ) && !p.Dev && !p.AllPractices
}
