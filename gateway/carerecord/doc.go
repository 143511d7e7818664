// Package carerecord is the client of the shared care record: the FHIR R4
// server of linked GP, hospital and community data from which Signpost
// pulls each patient's need group. Client implements
// mapping.NeedGroupSource and plugs into gateway.NavigationOptions.NeedGroups.
//
// A lookup reads the need-group Observation cached in Signpost's store for
// the patient and practice; when there is none or it is older than the
// configured maximum age, it searches the record (a configured query
// template, by NHS number), translates the record's code to the
// patient-need-group code system through a ConceptMap read from the store,
// and writes the result back as an Observation with its source, date and a
// Provenance naming the record.
//
// The record is someone else's server, so every call has a timeout, GETs
// are retried with exponential backoff and jitter on 5xx answers, timeouts
// and connection errors (never on 4xx), a circuit breaker stops calling a
// record that keeps failing until a half-open probe succeeds, and
// concurrent lookups of the same patient share one upstream call. Any
// failure is an error, which the navigation engine reports as a warning
// while treating the need group as unknown, never as low.
//
// Each pull and failure is reported to Config.Observer (the gateway's
// metrics; this package does not import Prometheus), and the request id
// in the context is sent as X-Request-ID.
//
// This package must not import Gin or the gateway package: it is an
// outbound adapter the gateway is given.
package carerecord
