package carerecord

import (
	"errors"
	"time"
)

// Observer is told about every pull from the record (the gateway's
// metrics implement it); this package does not import a metrics library.
// Its methods must be quick and safe for concurrent use.
type Observer interface {
	// CareRecordPull reports one search of the record, retries included:
	// its duration, and failure "" when it succeeded or else the reason
	// (see Reason).
	CareRecordPull(d time.Duration, failure string)
	// CareRecordFailure reports a failed lookup that is not a pull: none
	// was made because the circuit is open ("circuit_open"), or the
	// record's answer has no need-group mapping ("unmapped").
	CareRecordFailure(failure string)
}

// Reason names a lookup error for metrics and logs: unavailable,
// circuit_open, rejected, unmapped, invalid_answer or other; "" for nil.
// The set is fixed, so it is a safe metric label.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrCircuitOpen):
		return "circuit_open"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	case errors.Is(err, ErrRejected):
		return "rejected"
	case errors.Is(err, ErrUnmapped):
		return "unmapped"
	case errors.Is(err, ErrInvalidAnswer):
		return "invalid_answer"
	case errors.Is(err, ErrOtherPatient):
		return "other_patient"
	}
	return "other"
}

type noObserver struct{}

func (noObserver) CareRecordPull(time.Duration, string) {}
func (noObserver) CareRecordFailure(string)             {}
