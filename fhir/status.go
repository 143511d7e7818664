package fhir

import "net/http"

// Detail refines an issue code where the code alone does not say how a
// request failed: a stale If-Match and a duplicate are both conflicts,
// but FHIR answers the first 412 and the second 409. It is Signpost's
// own code (Error.Detail), set with Because; the one status table below
// turns a code and its detail into the HTTP status a client sees.
type Detail string

// The details Signpost's domain and stores raise.
const (
	// DetailMalformed: the request itself is not well formed (its body,
	// a parameter, a header, a paging cursor): 400, whatever the code.
	DetailMalformed Detail = "malformed"
	// DetailUnsupportedSearch: a search (type, parameter, modifier,
	// sort) the server does not implement, under strict handling: 400,
	// as R4's search page says a search that cannot be processed is
	// answered (the plain not-supported code would be 501).
	DetailUnsupportedSearch Detail = "unsupported-search"
	// DetailPreconditionFailed: an If-Match that does not match the
	// current version, or names a resource that does not exist: 412.
	DetailPreconditionFailed Detail = "precondition-failed"
	// DetailAppendOnly: a change to a record that is never changed
	// (AuditEvent): 405.
	DetailAppendOnly Detail = "append-only"
	// DetailExpired: a search's paging snapshot that can no longer be
	// exact: 410.
	DetailExpired Detail = "expired"
	// DetailInvalidContent: a well-formed resource that is not valid R4
	// (incomplete, a code outside a required value set, an invariant
	// broken): 422, whatever the code.
	DetailInvalidContent Detail = "invalid-content"
	// DetailRefused: a business or safety rule refuses the request as
	// sent (a navigator's decision, a destination): 422.
	DetailRefused Detail = "refused"
	// DetailStale: content older than what is stored (a publisher's
	// entry out of order): 409.
	DetailStale Detail = "stale"
	// DetailMediaType: content of a type the interaction does not take
	// (a PATCH entry's Binary that is not a JSON Patch): 415.
	DetailMediaType Detail = "unsupported-media-type"
	// DetailNotPermitted: a rule of who may make the change refuses the
	// caller (a navigation Task's role rules): 403, and, being a rule of
	// the content, a write check's refusal $validate reports as issues.
	DetailNotPermitted Detail = "not-permitted"
	// DetailUnsupportedParameter: an operation parameter, or a value of
	// one, the server does not serve (a $validate profile other than the
	// base definition, $everything's start): 400, as a request the
	// server cannot process (not-supported alone would be 501).
	DetailUnsupportedParameter Detail = "unsupported-parameter"
)

// statusOfDetail and statusOfCode are the one table from OperationOutcome
// issues to HTTP statuses: a detail decides first, then the issue code.
var statusOfDetail = map[Detail]int{
	DetailMalformed:            http.StatusBadRequest,
	DetailUnsupportedSearch:    http.StatusBadRequest,
	DetailPreconditionFailed:   http.StatusPreconditionFailed,
	DetailAppendOnly:           http.StatusMethodNotAllowed,
	DetailExpired:              http.StatusGone,
	DetailInvalidContent:       http.StatusUnprocessableEntity,
	DetailRefused:              http.StatusUnprocessableEntity,
	DetailStale:                http.StatusConflict,
	DetailMediaType:            http.StatusUnsupportedMediaType,
	DetailNotPermitted:         http.StatusForbidden,
	DetailUnsupportedParameter: http.StatusBadRequest,
}

var statusOfCode = map[IssueCode]int{
	CodeInvalid:      http.StatusBadRequest,
	CodeStructure:    http.StatusBadRequest,
	CodeRequired:     http.StatusUnprocessableEntity,
	CodeValue:        http.StatusBadRequest,
	CodeInvariant:    http.StatusUnprocessableEntity,
	CodeCodeInvalid:  http.StatusUnprocessableEntity,
	CodeBusinessRule: http.StatusUnprocessableEntity,
	CodeSecurity:     http.StatusForbidden,
	CodeLogin:        http.StatusUnauthorized,
	CodeForbidden:    http.StatusForbidden,
	CodeProcessing:   http.StatusUnprocessableEntity,
	CodeNotSupported: http.StatusNotImplemented,
	CodeDuplicate:    http.StatusConflict,
	CodeMultiple:     http.StatusPreconditionFailed,
	CodeNotFound:     http.StatusNotFound,
	CodeDeleted:      http.StatusGone,
	CodeTooLong:      http.StatusRequestEntityTooLarge,
	CodeConflict:     http.StatusConflict,
	CodeTransient:    http.StatusServiceUnavailable,
	CodeTimeout:      http.StatusGatewayTimeout,
	CodeThrottled:    http.StatusTooManyRequests,
	CodeException:    http.StatusInternalServerError,
}

// Because sets e's detail and the status it implies
// (Status, which callers that are not HTTP read too: a write check's
// refusal, a transaction entry's answer), and returns e.
func (e *Error) Because(d Detail) *Error {
	e.Detail = d
	e.Status = statusOfDetail[d]
	return e
}

// HTTPStatus is the status a client is answered for e: the status its
// detail (or the HTTP edge) set, else the first issue code's, else 400.
func HTTPStatus(e *Error) int {
	if e.Status != 0 {
		return e.Status
	}
	if s := statusOfCode[e.Code()]; s != 0 {
		return s
	}
	return http.StatusBadRequest
}
