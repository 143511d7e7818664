package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

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
	// The one status table is fhir's (status.go): an error's issue code
	// and Detail decide; a status the gateway pinned comes first.
	status = fhir.HTTPStatus(fe)
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
