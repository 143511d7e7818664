// Package accesslog owns the gateway's request log: every request gets an
// id (package requestid) and, when it ends, one log line and one
// observation for the metrics. The gateway's handlers name the request's
// resource type, id and FHIR interaction in the Gin context under this
// package's keys.
package accesslog
