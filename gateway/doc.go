// Package gateway is Signpost's HTTP face: the FHIR REST routes, their
// handlers and middleware, and the one writer that turns errors into
// OperationOutcomes. It is the only package that imports Gin.
//
// Handlers take a parsed request and return a response or an error; they
// never see *gin.Context, so no goroutine or other package can hold one.
// A *fhir.Error becomes an OperationOutcome with the status from
// statusFor; any other error is logged and answered with a generic 500.
//
// Logs carry method, route, status, resource type and id and the request
// id. They never carry a resource body or a query string: both hold
// patient data.
package gateway
