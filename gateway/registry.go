package gateway

import (
	"context"
	"fmt"
	"slices"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/capability"
)

// The registry of served types and interactions is fhir/capability's
// (capability.Registry); these names are the gateway's API for it.
type (
	Interaction = capability.Interaction
	Registry    = capability.Registry
)

const (
	Read            = capability.Read
	VRead           = capability.VRead
	Update          = capability.Update
	Delete          = capability.Delete
	Create          = capability.Create
	HistoryInstance = capability.HistoryInstance
	HistoryType     = capability.HistoryType
	Patch           = capability.Patch
	SearchType      = capability.SearchType
)

var allInteractions = capability.AllInteractions

// DefaultRegistry serves every concrete R4 type (capability.DefaultRegistry).
func DefaultRegistry() *Registry { return capability.DefaultRegistry() }

// storedBundleTypes are the Bundle.type values a stored Bundle may have,
// as HAPI's default: a transaction or batch is posted to the base to be
// processed, and searchset, history and the responses are answers.
var storedBundleTypes = []string{"collection", "document", "message"}

// checkStoredBundle refuses to store a Bundle of another type.
func checkStoredBundle(_ context.Context, r *fhir.Resource, _ bool) ([]fhir.Issue, error) {
	kind, _ := r.Object()["type"].(string)
	if slices.Contains(storedBundleTypes, kind) {
		return nil, nil
	}
	return []fhir.Issue{{Severity: fhir.SeverityError, Code: fhir.CodeBusinessRule, Expression: []string{"Bundle.type"},
		Diagnostics: fmt.Sprintf("a stored Bundle is a collection, document or message, not %q (transactions and batches are posted to the base)", kind)}}, nil
}
