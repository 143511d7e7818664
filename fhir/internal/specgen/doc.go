// Command specgen reads the official FHIR R4 core package
// (hl7.fhir.r4.core 4.0.1: StructureDefinitions, ValueSets, CodeSystems) and
// writes the trimmed, gzipped JSON that package fhir/spec embeds and fhir's
// Validate checks resources against. It is run by `go generate ./fhir`:
//
//	go run ./internal/specgen -src ../testdata/fhir/r4-core-4.0.1 -out spec/r4.json.gz
//
// What it keeps:
//   - every StructureDefinition that is a base definition (kind resource,
//     complex-type or primitive-type, derivation specialization or none;
//     profiles, i.e. derivation constraint, and logical models are skipped);
//   - per resource and complex type, its snapshot elements: path, min, max,
//     type codes (with targetProfile for references), contentReference and
//     the ValueSet of a required binding;
//   - per primitive type, the regex of its value element (the
//     http://hl7.org/fhir/StructureDefinition/regex type extension) and its
//     maxLength;
//   - the expansion of every ValueSet a kept element binds with strength
//     required, computed from ValueSet.compose against the package's
//     CodeSystems. A ValueSet that cannot be expanded from the package (a code
//     system the package does not hold, such as MIME types, UCUM or ISO 4217,
//     an unsupported filter, a missing ValueSet) is written as unchecked, with
//     the reason.
//
// The output is deterministic: types and value sets are sorted by name and
// URL, codes are sorted, elements keep snapshot order, and the gzip header
// carries no name or time, so regenerating from the same package gives the
// same bytes. A test in this package regenerates and compares when the
// package folder is present.
//
// This command imports only the standard library and the wire format in
// fhir/internal/specfile, which fhir/spec decodes; nothing imports it.
package main
