// Package clinicalsystem delivers navigation outcomes to the practices'
// clinical systems: it builds the transaction Bundle a decision is sent as
// (OutcomeBundle), finds where a practice's system listens (its FHIR
// Endpoint), and runs the workers that drain the delivery outbox
// (Deliverer).
//
// Delivery is at least once; the Bundle is idempotent at the receiver
// (conditional updates on business identifiers, a conditional create of
// the Provenance), so a repeated send applies once and the receiver ends
// with the latest content. One Task's deliveries go in order, one at a
// time (see store.Outbox), and the Task names its version in meta.source
// so a receiver can refuse a stale Bundle it applies late. Workers are
// goroutines of their own with their own timeouts, so a slow or dead
// receiver never holds up the API; several gateway processes share one
// outbox (PostgreSQL FOR UPDATE SKIP LOCKED) without sending twice: a
// worker renews its claim just before each send (store.Outbox.Renew) and
// sends nothing whose claim it lost. The receiver's side is
// docs/delivery.md.
//
// Where a practice listens: the Organization with the practice's ODS code
// (https://fhir.nhs.uk/Id/ods-organization-code) lists Endpoints in
// Organization.endpoint; the first active one whose connectionType is
// hl7-fhir-rest (or that has none) is used. Endpoint.address is the FHIR
// base the Bundle is POSTed to. Authentication, for now, is a header
// entry of the Endpoint ("Authorization: Bearer <token>"); every
// "Name: value" entry of Endpoint.header is sent. A practice with no such
// Endpoint is not an error at decision time: the delivery is enqueued and
// the worker dead-letters it with "no endpoint", from where $redeliver
// sends it once the Endpoint exists.
//
// Redirects are not followed (a 3xx is a refusal, so a dead letter): the
// payload and headers go only where an Endpoint or an allowed
// Subscription says.
//
// Each attempt's outcome is reported to Config.Observer (the gateway's
// metrics), and a delivery's request id is sent as X-Request-ID; this
// package does not import Prometheus.
//
// It also holds the demo clinical system (DemoInbox, DemoEndpoint): the
// stand-in for a practice's clinical system that development mode serves,
// which receives outcome Bundles and shows what arrived.
//
// This package talks to the store and to HTTP; it must not import Gin or
// the gateway package (the gateway imports it).
package clinicalsystem
