// Package officialexamples holds no code: its test stores every resource
// of HL7's official R4 examples package (hl7.fhir.r4.examples 4.0.1, an
// npm dependency of interop/js) through the gateway over HTTP on both
// stores and reads each back (docs/conformance.md, Official examples).
// It is a package of its own so that run, minutes on a small machine, has
// its own go test deadline and runs beside the gateway package's tests.
package officialexamples
