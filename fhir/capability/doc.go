// Package capability generates what a FHIR server says of itself: the
// CapabilityStatement (R4 3.1.0.1 capabilities) and the
// OperationDefinitions of its own operations, from a plain description of
// what is served (Served: the types with their interactions, custom
// search parameters and operations; the system operations). The search
// parameters, _include and _revinclude values come from fhir/search, so a
// statement never claims a parameter the search registry does not
// support.
//
// It knows nothing of HTTP or of how requests are routed; the gateway
// fills Served from its registry and registered operations, and caches
// and serves the result.
//
// It imports fhir and fhir/search only.
package capability
