package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// statusFor is the one table from OperationOutcome issue codes to HTTP
// statuses. An error may pin its own status (412 for a stale If-Match,
// 410 for a deleted resource...).
var statusFor = map[fhir.IssueCode]int{
	fhir.CodeInvalid:      http.StatusBadRequest,
	fhir.CodeStructure:    http.StatusBadRequest,
	fhir.CodeRequired:     http.StatusUnprocessableEntity,
	fhir.CodeValue:        http.StatusBadRequest,
	fhir.CodeInvariant:    http.StatusUnprocessableEntity,
	fhir.CodeCodeInvalid:  http.StatusUnprocessableEntity,
	fhir.CodeBusinessRule: http.StatusUnprocessableEntity,
	fhir.CodeSecurity:     http.StatusForbidden,
	fhir.CodeLogin:        http.StatusUnauthorized,
	fhir.CodeForbidden:    http.StatusForbidden,
	fhir.CodeProcessing:   http.StatusUnprocessableEntity,
	fhir.CodeNotSupported: http.StatusNotImplemented,
	fhir.CodeDuplicate:    http.StatusConflict,
	fhir.CodeMultiple:     http.StatusPreconditionFailed,
	fhir.CodeNotFound:     http.StatusNotFound,
	fhir.CodeDeleted:      http.StatusGone,
	fhir.CodeTooLong:      http.StatusRequestEntityTooLarge,
	fhir.CodeConflict:     http.StatusConflict,
	fhir.CodeTransient:    http.StatusServiceUnavailable,
	fhir.CodeTimeout:      http.StatusGatewayTimeout,
	fhir.CodeThrottled:    http.StatusTooManyRequests,
	fhir.CodeException:    http.StatusInternalServerError,
}

// statusForKind maps the refinements of an issue code (fhir.Kind) that
// packages below the gateway use where the code alone does not decide
// the status.
var statusForKind = map[fhir.Kind]int{
	fhir.KindPrecondition:  http.StatusPreconditionFailed,
	fhir.KindBadRequest:    http.StatusBadRequest,
	fhir.KindMediaType:     http.StatusUnsupportedMediaType,
	fhir.KindUnprocessable: http.StatusUnprocessableEntity,
}

// errorResponse turns any error into the response a client sees, and says
// whether the cause must be logged (everything that is not a client error).
func errorResponse(err error) (status int, body []byte, internal bool) {
	fe, ok := fhir.AsError(err)
	if !ok {
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			fe = fhir.Errorf(fhir.CodeTimeout, "the request did not complete in time")
		default:
			return http.StatusInternalServerError,
				fhir.Outcome(fhir.Issue{Severity: fhir.SeverityError, Code: fhir.CodeException, Diagnostics: "internal error; the cause has been logged"}),
				true
		}
	}
	status = fe.Status
	if status == 0 {
		status = statusForKind[fe.Kind]
	}
	if status == 0 {
		status = statusFor[fe.Code()]
	}
	if status == 0 {
		status = http.StatusBadRequest
	}
	return status, fe.Outcome(), status >= 500
}

// unavailableRetryAfter is the Retry-After, in seconds, of the 503 that
// answers a request the database could not serve because it was
// unreachable (restarting, failing over).
const unavailableRetryAfter = "5"

// asUnavailable turns an error that means the database could not be
// reached (store.Availability) into a 503 transient OperationOutcome,
// keeping the cause for the log; any other error comes back unchanged,
// and ok is false.
func (s *Server) asUnavailable(err error) (_ error, ok bool) {
	if _, isFHIR := fhir.AsError(err); isFHIR {
		return err, false
	}
	a, can := s.store.(store.Availability)
	if !can || !a.Unavailable(err) {
		return err, false
	}
	return fhir.Errorf(fhir.CodeTransient, "the database is unavailable; try again shortly").
		WithStatus(http.StatusServiceUnavailable).Wrap(err), true
}
