// Package bars is Signpost's side of the NHS Booking and Referral Standard
// (BaRS, docs/bars.md): the referral and cancellation messages a committed
// navigation decision enqueues for a service with a BaRS Endpoint
// (send.go); the messages received at $process-message (receive.go): a
// service's response to a referral Signpost sent, a referral addressed to
// a practice (referral.go), which becomes a navigation Task navigated at
// once, and its sender's updates and cancellation (update.go); and the
// demo Pharmacy First's receiver (demo.go).
//
// It knows nothing of HTTP. The gateway registers $process-message and the
// demo routes and translates headers and answers; what this package needs
// of it (the store, the outbox, validation, the practice labels, the
// outbound allow-list, the clock) is the Host interface, and of
// navigation the Navigator interface, both implemented by small adapters
// in the gateway. A message the standard refuses is an *Error: the
// standard's OperationOutcome and error code, whose issue code decides the
// HTTP status in the one table (fhir.HTTPStatus). Other errors are
// *fhir.Error with issue codes, or internal.
//
// The message formats and the outbox workers that send them are
// gateway/clinicalsystem's.
package bars
