// Package requestid carries the id of the API request on whose behalf work
// is done: in the context (NewContext, FromContext), onto outbound HTTP
// requests (Set, as X-Request-ID) and into every log line written with
// that context (LogHandler).
//
// The gateway takes the id from the caller's X-Request-ID or
// X-Correlation-ID (Sanitize) or makes one; the care record client
// forwards it on its pulls, and the outbox keeps it with each delivery so
// the worker forwards it to the clinical system, long after the request
// ended. One id then joins the caller's logs, Signpost's and the
// receivers'.
//
// It is a package of its own, beside the gateway rather than in fhir/,
// because it is about HTTP plumbing, not the FHIR model, and the gateway's
// adapters (carerecord, clinicalsystem) must use it without importing the
// gateway. It imports only the standard library.
package requestid
