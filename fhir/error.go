package fhir

import (
	"errors"
	"fmt"
	"strings"
)

// IssueCode is an OperationOutcome issue type (http://hl7.org/fhir/issue-type).
type IssueCode string

// The issue codes Signpost raises. The gateway maps each to an HTTP status in
// one table; an Error may pin a status where the code alone is ambiguous
// (a stale If-Match is a conflict, but FHIR answers it with 412).
const (
	CodeInvalid       IssueCode = "invalid"
	CodeStructure     IssueCode = "structure"
	CodeRequired      IssueCode = "required"
	CodeValue         IssueCode = "value"
	CodeInvariant     IssueCode = "invariant"
	CodeSecurity      IssueCode = "security"
	CodeLogin         IssueCode = "login"
	CodeForbidden     IssueCode = "forbidden"
	CodeProcessing    IssueCode = "processing"
	CodeNotSupported  IssueCode = "not-supported"
	CodeDuplicate     IssueCode = "duplicate"
	CodeMultiple      IssueCode = "multiple-matches"
	CodeNotFound      IssueCode = "not-found"
	CodeDeleted       IssueCode = "deleted"
	CodeTooLong       IssueCode = "too-long"
	CodeCodeInvalid   IssueCode = "code-invalid"
	CodeBusinessRule  IssueCode = "business-rule"
	CodeConflict      IssueCode = "conflict"
	CodeTransient     IssueCode = "transient"
	CodeException     IssueCode = "exception"
	CodeTimeout       IssueCode = "timeout"
	CodeThrottled     IssueCode = "throttled"
	CodeInformational IssueCode = "informational"
	CodeTooCostly     IssueCode = "too-costly"
)

// MaxIssues bounds the issues an OperationOutcome lists and validation
// collects, so that a body made of errors costs no more to answer than a
// short one: past it, one issue says how many more there are (Outcome,
// Error) or that validation stopped (Validate).
const MaxIssues = 100

// boundedIssues is issues as they are shown: all of them when there are
// at most MaxIssues+1 (one more takes no more room than the line that
// would say so), else the first MaxIssues and an issue "and N more",
// as severe as the worst of those it stands for.
func boundedIssues(issues []Issue) []Issue {
	if len(issues) <= MaxIssues+1 {
		return issues
	}
	rest := issues[MaxIssues:]
	sev := SeverityInformation
	for _, is := range rest {
		if severityRank[is.Severity] > severityRank[sev] {
			sev = is.Severity
		}
	}
	return append(issues[:MaxIssues:MaxIssues], Issue{Severity: sev, Code: CodeTooCostly,
		Diagnostics: fmt.Sprintf("and %d more issues", len(rest))})
}

var severityRank = map[Severity]int{SeverityInformation: 0, SeverityWarning: 1, SeverityError: 2, SeverityFatal: 3}

// Severity is an OperationOutcome issue severity.
type Severity string

const (
	SeverityFatal       Severity = "fatal"
	SeverityError       Severity = "error"
	SeverityWarning     Severity = "warning"
	SeverityInformation Severity = "information"
)

// Issue is one OperationOutcome issue. Expression holds FHIRPath locations
// of the offending element, e.g. "Task.input[2].valueCode".
type Issue struct {
	Severity    Severity
	Code        IssueCode
	Diagnostics string
	Expression  []string
}

// Error is the one error type of Signpost: it is an OperationOutcome.
// Any error that is not (and does not wrap) an *Error is an internal error:
// clients see a generic 500 and the cause is logged.
type Error struct {
	// Status pins the HTTP status; zero lets the gateway's table decide
	// from the first issue's code.
	Status int
	// Kind refines the first issue's code where the code alone does not
	// say how the gateway answers (see Kind); zero for most errors.
	Kind   Kind
	Issues []Issue
	// cause is kept for logs and errors.Is/As; never shown to clients.
	cause error
	// sentinel marks the package's sentinel values (ErrNotFound, ...).
	sentinel IssueCode
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, is := range boundedIssues(e.Issues) {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(string(is.Code))
		if is.Diagnostics != "" {
			b.WriteString(": ")
			b.WriteString(is.Diagnostics)
		}
		if len(is.Expression) > 0 {
			b.WriteString(" at ")
			b.WriteString(strings.Join(is.Expression, ", "))
		}
	}
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(e.cause.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.cause }

// Code is the first issue's code, the one that decides the HTTP status.
func (e *Error) Code() IssueCode {
	if len(e.Issues) == 0 {
		return CodeException
	}
	return e.Issues[0].Code
}

// Is lets errors.Is(err, ErrNotFound) match any Error with the same first
// issue code as a sentinel.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || len(t.Issues) != 0 || t.sentinel == "" {
		return false
	}
	return e.Code() == t.sentinel
}

// Errorf builds an Error with one error-severity issue.
func Errorf(code IssueCode, format string, args ...any) *Error {
	return &Error{Issues: []Issue{{Severity: SeverityError, Code: code, Diagnostics: fmt.Sprintf(format, args...)}}}
}

// At sets the expression of every issue that has none and returns e.
func (e *Error) At(expression ...string) *Error {
	for i := range e.Issues {
		if len(e.Issues[i].Expression) == 0 {
			e.Issues[i].Expression = expression
		}
	}
	return e
}

// Kind is a refinement of an issue code for the few errors whose answer
// the code alone does not decide: a conditional update whose If-Match
// cannot hold is a conflict, but one a client caused by a precondition.
// Packages below the gateway say what happened with a Kind; only the
// gateway maps kinds (like codes) to HTTP statuses.
type Kind uint8

const (
	// KindNone leaves the answer to the issue code.
	KindNone Kind = iota
	// KindPrecondition: a condition the request set does not hold
	// (If-Match against nothing).
	KindPrecondition
	// KindBadRequest: the request as sent cannot be processed, whatever
	// the issue code says about its content (a conditional reference
	// that matches nothing).
	KindBadRequest
	// KindMediaType: content of a type this interaction does not take.
	KindMediaType
	// KindUnprocessable: the request is well formed but cannot be
	// carried out on what it names (a Group of other than practices).
	KindUnprocessable
)

// Refine sets e's Kind and returns e.
func (e *Error) Refine(k Kind) *Error {
	e.Kind = k
	return e
}

// WithStatus pins the HTTP status and returns e.
func (e *Error) WithStatus(status int) *Error {
	e.Status = status
	return e
}

// Wrap keeps cause behind e for logs and errors.Is.
func (e *Error) Wrap(cause error) *Error {
	e.cause = cause
	return e
}

// Sentinels for errors.Is. They compare by first issue code only.
var (
	ErrNotFound     = &Error{sentinel: CodeNotFound}
	ErrDeleted      = &Error{sentinel: CodeDeleted}
	ErrConflict     = &Error{sentinel: CodeConflict}
	ErrInvalid      = &Error{sentinel: CodeInvalid}
	ErrNotSupported = &Error{sentinel: CodeNotSupported}
	ErrDuplicate    = &Error{sentinel: CodeDuplicate}
)

// NotFound reports an unknown resource id.
func NotFound(resourceType, id string) *Error {
	return Errorf(CodeNotFound, "%s/%s is not known", resourceType, id)
}

// Gone reports a resource whose current version is a deletion.
func Gone(resourceType, id string) *Error {
	return Errorf(CodeDeleted, "%s/%s has been deleted", resourceType, id)
}

// VersionConflict reports a stale If-Match (HTTP 412).
func VersionConflict(resourceType, id, want, have string) *Error {
	return Errorf(CodeConflict, "%s/%s is at version %s, not %s", resourceType, id, have, want).WithStatus(412)
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var fe *Error
	if errors.As(err, &fe) {
		return fe, true
	}
	return nil, false
}
