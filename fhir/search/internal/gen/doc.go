// Command gen writes the search-parameter registry of package search
// (table_gen.go) from the official R4 SearchParameter Bundle and the R4
// StructureDefinitions. Run it through `go generate ./fhir/search`.
//
// For every kept resource type it keeps each parameter the specification
// defines for it, splits the parameter's union expression into the parts
// that start at that type, and works out from the StructureDefinitions the
// static FHIR type at the end of each part and which element names on the
// way are choice elements. The output is sorted and gofmt'd, so the same
// inputs always give the same bytes (a test checks the committed file).
//
// It imports the FHIRPath parser of package search (internal/fhirpath) so
// that an expression it accepts is one the evaluator understands, and
// nothing else of Signpost.
package main
