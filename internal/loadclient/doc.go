// Package loadclient is the small FHIR client that load and process tests
// drive a gateway with over loopback: an HTTP client sized for the
// concurrent clients, create and read of a Task, readiness polling, and
// the navigation Task fixture they send. signpost-bench and the commands'
// process tests share it.
package loadclient
