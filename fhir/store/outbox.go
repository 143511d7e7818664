package store

import (
	"context"
	"math/rand/v2"
	"time"
)

// DeliveryStatus is where a delivery stands in the outbox.
type DeliveryStatus string

const (
	// DeliveryPending waits for its next attempt (NextAttemptAt).
	DeliveryPending DeliveryStatus = "pending"
	// DeliveryInFlight is claimed by a worker until NextAttemptAt (its
	// lease); a worker that dies leaves it to be claimed again then.
	DeliveryInFlight DeliveryStatus = "in-flight"
	// DeliveryDelivered was accepted by the receiver.
	DeliveryDelivered DeliveryStatus = "delivered"
	// DeliveryDead was refused for good, or ran out of attempts; it waits
	// for Requeue, and holds back the later deliveries of its Task.
	DeliveryDead DeliveryStatus = "dead"
)

// Delivery is one row of the outbox: a payload for the receiver Endpoint
// names, in the order of Seq among the deliveries of TaskID.
type Delivery struct {
	ID int64
	// Endpoint says whose receiver gets it: the practice's ODS code.
	Endpoint string
	TaskID   string
	// Seq orders the deliveries of one Task, from 1.
	Seq int64
	// Payload is JSON (the transaction Bundle to send).
	Payload       []byte
	Status        DeliveryStatus
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time
	DeliveredAt   time.Time
	// RequestID is the id of the API request that enqueued it ("" for
	// none), forwarded to the receiver so logs on both sides join up.
	RequestID string
}

// OutboxStats summarises the outbox for monitoring.
type OutboxStats struct {
	// Depth counts the deliveries not delivered, by status (pending,
	// in-flight, dead); delivered ones are not counted (the delivery
	// counters do that without a scan of the whole history).
	Depth map[DeliveryStatus]int64
	// OldestPending is when the oldest delivery still to be sent
	// (pending or in flight) was enqueued; zero when there is none.
	OldestPending time.Time
}

// Outbox is how delivery workers and the delivery operations use the
// outbox; both stores implement it. Times come from the caller (the
// worker's clock), so tests can drive the schedule.
//
// Order: a delivery is claimed only when every earlier delivery of its
// Task is delivered, so one Task's deliveries reach the receiver in Seq
// order, one at a time; a dead one holds back the rest of its Task until
// it is requeued.
type Outbox interface {
	// Claim takes up to limit due deliveries (pending, or in flight with
	// an expired lease), marks them in flight until now+lease and counts
	// the attempt. Concurrent claimers, in any number of processes, never
	// get the same delivery while its lease runs.
	Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Delivery, error)
	// Renew extends the lease of the attempt a claim returned (d's ID and
	// Attempts) to until, atomically and only while that claim still
	// holds: the delivery is in flight and no other claim has counted an
	// attempt since. It reports false when the claim was lost; a worker
	// then must not send. This is the fence a worker passes before each
	// send, so a batch that outlived its lease is not sent by two.
	Renew(ctx context.Context, d Delivery, until time.Time) (bool, error)
	// MarkDelivered records success of the attempt a claim returned (d's
	// ID and Attempts); it reports false when the claim was lost (the
	// lease ran out and another worker claimed it).
	MarkDelivered(ctx context.Context, d Delivery, at time.Time) (bool, error)
	// MarkFailed records a failed attempt: pending again from retryAt, or
	// dead when dead is true. cause is kept as LastError; it must hold no
	// patient data. Same claim check as MarkDelivered.
	MarkFailed(ctx context.Context, d Delivery, cause string, retryAt time.Time, dead bool) (bool, error)
	// DeadLetters lists dead deliveries, oldest first, up to limit.
	DeadLetters(ctx context.Context, limit int) ([]Delivery, error)
	// Deliveries lists the deliveries of one Task in Seq order.
	Deliveries(ctx context.Context, taskID string) ([]Delivery, error)
	// Requeue makes a dead delivery pending, due at now, with its
	// attempts reset; anything else is a not-found error.
	Requeue(ctx context.Context, id int64, now time.Time) error
}

// Backoff is the retry schedule: exponential from Base, capped at Max,
// with jitter, and dead after MaxAttempts attempts. It is a pure function
// of the attempt count the outbox stores, so any process can compute the
// next attempt of any delivery; backoff libraries (cenkalti/backoff) keep
// the count in a stateful object per retry loop instead, which does not
// fit a schedule that outlives the process.
type Backoff struct {
	Base        time.Duration
	Max         time.Duration
	MaxAttempts int
}

// DefaultBackoff retries for about a day: 1s doubling to 15 minutes,
// 100 attempts.
var DefaultBackoff = Backoff{Base: time.Second, Max: 15 * time.Minute, MaxAttempts: 100}

// After says how long to wait after the attempts-th failed attempt, and
// whether the delivery is dead instead. The wait is uniformly random in
// [d/2, d] for d = min(Max, Base*2^(attempts-1)): half jitter, so
// receivers coming back are not hit by every retry at once, while a
// delivery is never retried sooner than half its schedule.
func (b Backoff) After(attempts int) (time.Duration, bool) {
	if b.MaxAttempts > 0 && attempts >= b.MaxAttempts {
		return 0, true
	}
	d := b.Base
	for i := 1; i < attempts && d < b.Max; i++ {
		d *= 2
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	if d <= 1 {
		return d, false
	}
	half := d / 2
	return half + rand.N(d-half+1), false
}
