package gateway

import (
	"slices"
	"sync"

	"github.com/signpost-fhir/signpost/auth"
)

// ownedTypes are the types practiceOwned reports, sorted.
var ownedTypes = sync.OnceValue(func() []string {
	out := append(auth.PatientLinkedTypes(), "Subscription")
	slices.Sort(out)
	return out
})

// practiceOwnedTypes lists, sorted, the types under practice tenancy (the
// patient-linked types and Subscription): what history filters and what
// chains and _has may reach of other practices' data. A copy, since
// queries keep it.
func practiceOwnedTypes() []string { return slices.Clone(ownedTypes()) }
