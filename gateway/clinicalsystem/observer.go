package clinicalsystem

// Observer is told the outcome of every delivery attempt (the gateway's
// metrics implement it); this package does not import a metrics library.
// Its methods must be quick and safe for concurrent use.
type Observer interface {
	// DeliveryAttempt reports one attempt's outcome: OutcomeDelivered,
	// OutcomeRetry (failed, will be tried again) or OutcomeDead (refused
	// for good, or out of attempts). An attempt abandoned because the
	// process stops is not reported.
	DeliveryAttempt(outcome string)
}

// Outcomes of an attempt, as reported to an Observer.
const (
	OutcomeDelivered = "delivered"
	OutcomeRetry     = "retry"
	OutcomeDead      = "dead"
)

type noObserver struct{}

func (noObserver) DeliveryAttempt(string) {}
