// Package subscriptions is R4 rest-hook Subscriptions on Task and
// ServiceRequest: what a client may write (Check, Criteria), where a
// Subscription may send (Endpoints, the outbound allow-list), which
// Subscriptions a write matches (Active, Matching) and the notices a
// write enqueues in its own transaction (Handshake, Notify; Follower, the
// tenancy.Follower of a transaction, over the gateway's Host), which the
// delivery workers (gateway/clinicalsystem) send.
//
// It works over a store.Tx the caller gives it: the gateway's tenancy
// decorator calls it on every write, so a rolled-back write notifies
// nobody, and runs its queries under the practice's tenancy (the restrict
// function Matching takes). Errors are *fhir.Error with issue codes.
//
// It imports auth, fhir, fhir/search, fhir/store and, for the notice
// format and the request id, gateway/clinicalsystem and gateway/requestid
// (outbound clients that import nothing of the gateway itself).
package subscriptions
