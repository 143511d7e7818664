// Package spec is the FHIR R4 specification as data: every base resource,
// complex and primitive type of the official hl7.fhir.r4.core 4.0.1 package
// with its elements (path, cardinality, types, reference targets,
// contentReference, required binding), the regex of every primitive, and the
// expansion of every ValueSet a required binding uses.
//
// The data is generated, not written by hand: fhir/internal/specgen reads the
// package's StructureDefinitions, ValueSets and CodeSystems and writes
// r4.json.gz, which this package embeds (run `go generate ./fhir` after
// changing the generator). It is decoded once, on first use, into lookup
// structures meant for hot paths: per object shape a map from JSON member
// name (choice variants such as valueString included) to element, the
// required elements in a slice, anchored regexes compiled once and code sets
// as maps. After loading everything is read-only and safe for concurrent
// use.
//
// The gateway uses ResourceTypes and IsResourceType for its registry and the
// CapabilityStatement; package fhir's Validate walks the Structures.
//
// This package must not import package fhir (fhir imports it) nor any other
// Signpost package; it imports only the standard library and the shared wire
// format in fhir/internal/specfile.
package spec
