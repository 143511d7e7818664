package gateway

import "github.com/signpost-fhir/signpost/fhir/capability"

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
