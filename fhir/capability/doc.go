// Package capability owns what a FHIR server serves and says of itself:
// the Registry of served types and their interactions (which routing
// and the statement both read), and, generated from it, the
// CapabilityStatement (R4 3.1.0.1 capabilities) and the
// OperationDefinitions of its own operations, from a plain description of
// what is served (Served: the types with their interactions, custom
// search parameters and operations; the system operations). The search
// parameters, _include and _revinclude values come from fhir/search, so a
// statement never claims a parameter the search registry does not
// support.
//
// It knows nothing of HTTP: the gateway routes by the Registry, fills
// Served from it and its registered operations, and caches and serves
// the result.
//
// It imports fhir, fhir/search and fhir/spec only.
package capability
