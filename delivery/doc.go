// Package delivery is outbound delivery as the API sees it: what a
// committed $navigate decision enqueues (Enqueue: the outcome Bundle, in
// the decision's own transaction) and the operations over the outbox —
// a Task's deliveries ($delivery-status), the dead letters of the
// caller's practices ($dead-letters) and sending dead ones again
// ($redeliver) — answered as Parameters.
//
// The workers that send what is enqueued, and the Bundle's format, are
// gateway/clinicalsystem's; registering the operations, their
// permissions and the HTTP translation are the gateway's. What the
// operations need of the gateway (a read under the caller's tenancy)
// is a function field of Operations.
//
// It imports gateway/clinicalsystem, gateway/requestid, auth, fhir/store
// and fhir; never the gateway, and knows nothing of HTTP.
package delivery
