// Package measures is the care navigation success measures
// (NAVIGATION-API.md, Success measures) as FHIR: the Measure resources
// Signpost ships, the summarizers whose rows the stores keep beside every
// Task, ServiceRequest and Patient version (mapping's measure facts), and
// the evaluation of Measure/$evaluate-measure into a MeasureReport for a
// practice or a Group of practices and a period.
//
// Counting is package mapping's (mapping.CountMeasureFacts); who may see
// which practice is the caller's: Evaluate reads through the store.Tx it
// is given, which enforces tenancy, and refuses practices the principal's
// token does not cover. Errors are *fhir.Error with issue codes; the
// gateway maps them to statuses.
//
// It imports auth, fhir, fhir/store, mapping and snomed.
package measures
