// Package terminology serves the terminology operations below HTTP:
// CodeSystem/$lookup, CodeSystem/$validate-code, ValueSet/$validate-code,
// ValueSet/$expand and ConceptMap/$translate read their operation
// Parameters into snomed's request structs and answer Parameters (or the
// expanded ValueSet); the expansion of token :in, :not-in, :below and
// :above for searches (Expanders); and the navigation code write check.
//
// Package snomed holds the concepts and the code-system logic and stays
// pure; this package joins it to the store (the CodeSystem, ValueSet and
// ConceptMap resources are read through snomed.Source at call time).
// Registering the operations and their permissions is the gateway's.
//
// It imports snomed, mapping, fhir/search and fhir; never the gateway,
// and knows nothing of HTTP: errors carry issue codes and fhir.Detail.
package terminology
