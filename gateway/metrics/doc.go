// Package metrics owns the gateway's Prometheus metrics: the Metrics type
// (HTTP requests, deliveries, care record pulls, audit batches, the
// outbox gauges) in a registry of its own, the Observer the delivery
// workers and the care record client report to, and the FHIR interaction
// label of a request (Interaction). What it reads of the gateway (the
// outbox) comes in as a function.
package metrics
