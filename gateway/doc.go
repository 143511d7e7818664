// Package gateway is Signpost's HTTP face: the FHIR REST routes, their
// handlers and middleware, and the one writer that turns errors into
// OperationOutcomes. It is the only package that imports Gin.
//
// Handlers take a parsed request and return a response or an error; they
// never see *gin.Context, so no goroutine or other package can hold one.
// A *fhir.Error becomes an OperationOutcome with the status from the one
// table, fhir.HTTPStatus (its issue code and Detail); any other error is
// logged and answered with a generic 500.
//
// # Security
//
// Every request passes, in this order: authentication (auth.go: the
// bearer token through Options.Verifier, or the developer in development
// mode; the principal goes into the request struct and its context),
// per-client rate limiting (hardening.go), then the handler, which
// checks the scopes its interaction needs (authorize.go) before it
// touches the store. Handlers run every store call on a tenancy.Tx
// (package tenancy, built in tenancy.go), which stamps the practice label
// on writes, hides other practices' patient data and keeps publishers in
// their scope, for REST requests and Bundle entries alike; it also runs
// the delete checks (tenancy.DeleteCheck), the per-type rules of who may
// delete, as write checks (validate.go) are those of who may write and
// what. Interactions on patient data leave one AuditEvent each (package
// audit; audit.go fills it from the request), written in the same
// transaction as a write and before a read's answer is sent.
//
// Logs carry method, route, status, resource type and id and the request
// id. They never carry a resource body, a query string or a token: all
// three hold patient data or secrets.
//
// Observability (metrics.go): Prometheus metrics in a registry of each
// Server's own, by FHIR interaction and served type only (never ids or
// query values); the delivery workers and the care record client report
// through Observer interfaces they declare, which Metrics implements. The
// request id (package requestid) is put in the request's context, so it is
// on every log line written with it, on the care record pull and, through
// the outbox row, on the delivery to the clinical system.
//
// This package imports auth, fhir, fhir/search, fhir/store, mapping and
// snomed; never pgx, a database driver or go-oidc directly.
package gateway
