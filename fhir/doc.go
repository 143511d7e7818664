// Package fhir is the FHIR R4 plumbing every other Signpost package uses:
// the lossless resource codec, the error vocabulary (errors are
// OperationOutcomes), validation generated from the official R4 package,
// Bundles and the resource-type registry.
//
// Lossless means a resource a client stored is read back with the same
// meaning: primitive extensions (`_status`), elements no Go struct knows,
// every value[x] choice and the exact text of decimals (1.50 stays 1.50).
// That is why a Resource keeps the client's JSON as a tree of plain values
// (objects, arrays, strings, json.Number, booleans, null) instead of decoding
// into the samply structs, which drop primitive extensions and unknown
// elements and marshal every value[x] variant of backbone elements. The
// samply structs are used only to build resources the gateway generates, and
// those always pass through Generate, which drops empty members.
//
// This package imports no other Signpost package and never Gin, pgx or
// go-oidc. Persistence lives in fhir/store and its subpackages.
package fhir
