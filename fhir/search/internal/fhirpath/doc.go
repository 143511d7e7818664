// Package fhirpath evaluates the subset of FHIRPath that the R4
// SearchParameter expressions of Signpost's resource types use, on the JSON
// trees package fhir keeps (map[string]any, []any, string, json.Number,
// bool).
//
// Supported: paths from a type name (Task.owner, Resource.meta.tag),
// member steps with choice elements found through their variants
// (Observation.value reads valueQuantity, valueString ...), the union |,
// (x as T) and x.as(T), x.ofType(T), x is T and x.is(T), where(criteria)
// with member names resolved on each item, resolve() (answering only the
// target type a reference names, which is all "resolve() is Patient" needs),
// exists(), exists(criteria), empty(), not(), first(), extension(url),
// indexers [n], =, !=, and, or, string, number and boolean literals, {} and
// $this. Anything else is a parse error, so the registry cannot hold an
// expression this package would evaluate wrongly; a test parses every
// expression of the registry.
//
// Evaluation needs no type model at run time: the registry generator works
// out, from the R4 StructureDefinitions, which element names are choice
// elements and the static type at the end of every path, and passes them
// in.
//
// Why not a FHIRPath library: the Go implementations evaluate over their
// own generated model types (decoding each resource into them first), and
// none fits both the lossless JSON tree Signpost stores and the budget of
// an index pass on every write. The subset here is small, parsed once, and
// checked against every expression it must serve.
//
// This package imports only the standard library.
package fhirpath
