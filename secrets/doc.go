// Package secrets keeps the header secrets of Endpoint and Subscription
// resources (Endpoint.header, Subscription.channel.header) write-only
// through the API: Mask shows every header as "Name: ******" with the
// MASKED label in every answer, Keep restores the stored values a write
// sends back masked, refuses a change of secrets (or of where a kept
// secret goes) by anyone but the owning practice's administrator, and
// seals header values at rest (internal/sealed).
//
// Which practice owns a resource is the caller's to say (the gateway's
// tenancy); errors are *fhir.Error with issue codes.
//
// It imports auth, fhir and internal/sealed.
package secrets
