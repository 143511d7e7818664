package clinicalsystem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/requestid"
	"github.com/signpost-fhir/signpost/internal/sealed"
)

// DefaultWorkers is how many goroutines deliver unless told otherwise.
// Two fell behind while the engine ran flat out on two cores (outbox lag
// p99 2.8 s at 151 navigations/s, the workers starved of CPU by sixteen
// request handlers); four kept it at 135 ms at 163/s.
const DefaultWorkers = 4

// Config tunes the workers; zero values take the defaults.
type Config struct {
	// Workers is how many goroutines deliver (default DefaultWorkers).
	Workers int
	// Timeout bounds one HTTP attempt (default 10s).
	Timeout time.Duration
	// Backoff is the retry schedule and attempt limit
	// (store.DefaultBackoff).
	Backoff store.Backoff
	// Batch is how many deliveries a worker claims at once (default 8).
	Batch int
	// Poll is how long an idle worker waits before looking again
	// (default 200ms).
	Poll time.Duration
	// Lease is how long a claim is a worker's alone (default 2×Timeout +
	// 5s: an attempt is bounded by Timeout, recording its result by 5s).
	// A worker renews the claim of each delivery just before sending it
	// and sends nothing whose claim it lost, so a batch that takes longer
	// than the lease is safe. A worker that dies mid-delivery leaves its
	// claims to others once the lease runs out. It must outlast an
	// attempt: one no longer than Timeout is raised to Timeout + 5s.
	Lease time.Duration
	// Client sends the requests (default: a client of its own; its
	// Timeout is not relied on, each attempt has a context deadline).
	Client *http.Client
	Log    *slog.Logger
	// Now is the clock of the schedule (default time.Now).
	Now func() time.Time
	// Observer is told each attempt's outcome (default: nobody).
	Observer Observer
	// AllowSubscriptionEndpoint, when set, is asked before every send to
	// a Subscription's endpoint: a notification queued before the
	// operator's allow-list stopped allowing it is dead-lettered, never
	// sent. Nil allows every endpoint.
	AllowSubscriptionEndpoint func(endpoint string) bool
	// AllowEndpointAddress, when set, is asked before every send to a
	// practice's Endpoint.address (the same outbound allow-list): an
	// Endpoint stored before the list stopped allowing its address gets
	// nothing, the delivery is dead-lettered. Nil allows every address.
	AllowEndpointAddress func(address string) bool
	// Secrets opens sealed header values (internal/sealed); by default
	// the store's key, as the gateway seals them.
	Secrets *sealed.Source
}

// Deliverer drains the outbox into the practices' clinical systems.
type Deliverer struct {
	st  store.Store
	ob  store.Outbox
	cfg Config

	// claimFailing counts the workers whose last claim failed: the first
	// to fail logs the outage, the last to recover logs its end.
	mu           sync.Mutex
	claimFailing int
}

// maxClaimBackoff caps the wait between claims while claiming fails (the
// database is unreachable, restarting...): the poll interval doubles per
// failure up to it, so the workers neither hammer a database that is
// coming back nor wait long once it is back.
const maxClaimBackoff = 5 * time.Second

// claimBackoff is how long a worker waits after its failures-th claim
// failure in a row.
func claimBackoff(failures int, poll time.Duration) time.Duration {
	d := poll
	for i := 1; i < failures && d < maxClaimBackoff; i++ {
		d *= 2
	}
	return min(d, maxClaimBackoff)
}

// New makes a Deliverer; st finds the Endpoints, ob is the outbox (the
// same store, in practice).
func New(st store.Store, ob store.Outbox, cfg Config) *Deliverer {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Backoff == (store.Backoff{}) {
		cfg.Backoff = store.DefaultBackoff
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 8
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 200 * time.Millisecond
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2*cfg.Timeout + 5*time.Second
	}
	if cfg.Lease <= cfg.Timeout {
		cfg.Lease = cfg.Timeout + 5*time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: cfg.Workers * cfg.Batch,
			IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second,
		}, CheckRedirect: noRedirects}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	if ks, ok := st.(sealed.KeyStore); ok && cfg.Secrets == nil {
		cfg.Secrets = sealed.FromStore(ks)
	}
	ob = settlingOutbox{Outbox: ob, st: st, log: cfg.Log} // keeps Subscription.status true
	return &Deliverer{st: st, ob: ob, cfg: cfg}
}

// Run runs the workers until ctx ends, then waits for them: a send in
// progress is abandoned (its delivery is due again at once, so another
// process or the next start sends it).
func (d *Deliverer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range d.cfg.Workers {
		wg.Go(func() { d.work(ctx) })
	}
	wg.Wait()
}

func (d *Deliverer) work(ctx context.Context) {
	failures := 0 // claims failed in a row
	for ctx.Err() == nil {
		batch, err := d.ob.Claim(ctx, d.cfg.Now(), d.cfg.Batch, d.cfg.Lease)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			if failures == 1 {
				d.claimFailed(ctx, err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(claimBackoff(failures, d.cfg.Poll)):
			}
			continue
		}
		if failures > 0 {
			d.claimRecovered(ctx, failures)
			failures = 0
		}
		// A batch is mostly one practice's: its Endpoint is looked up once.
		endpoints := endpointCache{}
		for i, dl := range batch {
			if ctx.Err() != nil {
				// Give the rest back rather than wait out their lease.
				d.giveBack(batch[i:], "not sent: the gateway stopped")
				return
			}
			// The fence: a delivery is sent only under a claim renewed
			// just now, so the whole attempt (bounded by Timeout, shorter
			// than the lease) runs while nobody else may claim it. A
			// batch that outlived its lease stops at the first claim
			// another worker took; what this worker still holds goes back.
			rctx, cancel := recordContext(ctx)
			held, err := d.ob.Renew(rctx, dl, d.cfg.Now().Add(d.cfg.Lease))
			cancel()
			if err != nil {
				d.logFor(dl).Error("delivery: renewing the claim failed: not sent", slog.String("error", err.Error()))
				break // the leases run out and the deliveries are claimed again
			}
			if !held {
				d.logFor(dl).Warn("delivery: claim lost before sending (another worker took it after the lease ran out): not sent")
				d.giveBack(batch[i+1:], "not sent: the worker's batch outlived its lease")
				break
			}
			d.deliver(ctx, dl, endpoints)
		}
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d.cfg.Poll):
			}
		}
	}
}

// claimFailed logs that claiming fails, once for all workers until they
// all claim again: while the database is away every poll would fail.
func (d *Deliverer) claimFailed(ctx context.Context, err error) {
	d.mu.Lock()
	d.claimFailing++
	first := d.claimFailing == 1
	d.mu.Unlock()
	if first {
		d.cfg.Log.LogAttrs(ctx, slog.LevelError, "delivery claim failed: retrying with backoff; nothing is sent meanwhile",
			slog.String("error", err.Error()))
	}
}

// claimRecovered logs, once the last failing worker claims again, that
// deliveries resume.
func (d *Deliverer) claimRecovered(ctx context.Context, failures int) {
	d.mu.Lock()
	d.claimFailing--
	last := d.claimFailing == 0
	d.mu.Unlock()
	if last {
		d.cfg.Log.LogAttrs(ctx, slog.LevelWarn, "delivery claims work again: deliveries resume", slog.Int("failed_claims", failures))
	}
}

// giveBack makes the deliveries this worker still holds due again at once.
func (d *Deliverer) giveBack(rest []store.Delivery, cause string) {
	for _, dl := range rest {
		d.finish(dl, cause, d.cfg.Now(), false)
	}
}

// outcome of one attempt.
type outcome int

const (
	delivered outcome = iota
	retry
	dead
)

func (d *Deliverer) logFor(dl store.Delivery) *slog.Logger {
	log := d.cfg.Log.With(slog.Int64("delivery", dl.ID), slog.String("task", dl.TaskID), slog.Int64("seq", dl.Seq),
		slog.String("practice", dl.Endpoint), slog.Int("attempt", dl.Attempts))
	if dl.RequestID != "" {
		log = log.With(slog.String(requestid.LogKey, dl.RequestID))
	}
	return log
}

// lostClaim is logged, once, when an attempt's result could not be
// recorded because the claim had gone to another worker.
const lostClaim = "delivery: claim lost before the result was recorded (another worker took it after the lease ran out)"

func (d *Deliverer) deliver(ctx context.Context, dl store.Delivery, endpoints endpointCache) {
	log := d.logFor(dl)
	res, cause, wait := d.attempt(ctx, dl, endpoints)
	now := d.cfg.Now()
	switch {
	case res == delivered:
		d.cfg.Observer.DeliveryAttempt(OutcomeDelivered)
		rctx, cancel := recordContext(ctx)
		ok, err := d.ob.MarkDelivered(rctx, dl, now)
		cancel()
		if err != nil {
			log.Error("delivery: recording success failed", slog.String("error", err.Error()))
		} else if !ok {
			log.Warn(lostClaim, slog.String("result", "delivered"))
		} else {
			log.Info("delivered")
		}
		return
	case ctx.Err() != nil:
		d.finish(dl, "not sent: the gateway stopped", now, false)
		return
	case res == dead:
		d.cfg.Observer.DeliveryAttempt(OutcomeDead)
		if d.finish(dl, cause, now, true) {
			log.Warn("delivery refused: dead letter", slog.String("cause", firstLine(cause)))
		} else {
			log.Warn(lostClaim, slog.String("result", "refused"), slog.String("cause", firstLine(cause)))
		}
		return
	}
	after, give := d.cfg.Backoff.After(dl.Attempts)
	if give {
		d.cfg.Observer.DeliveryAttempt(OutcomeDead)
		if d.finish(dl, fmt.Sprintf("gave up after %d attempts: %s", dl.Attempts, cause), now, true) {
			log.Warn("delivery failed: attempts exhausted, dead letter", slog.String("cause", firstLine(cause)))
		} else {
			log.Warn(lostClaim, slog.String("result", "failed"), slog.String("cause", firstLine(cause)))
		}
		return
	}
	after = max(after, wait)
	d.cfg.Observer.DeliveryAttempt(OutcomeRetry)
	if d.finish(dl, cause, now.Add(after), false) {
		log.Info("delivery failed: will retry", slog.String("cause", firstLine(cause)), slog.Duration("after", after))
	} else {
		log.Warn(lostClaim, slog.String("result", "failed"), slog.String("cause", firstLine(cause)))
	}
}

// finish records a failure, outside ctx's cancellation: stopping must
// still give the delivery back.
// It reports whether the claim still held (false too when recording
// failed, which is logged here).
// recordTimeout bounds the outbox's bookkeeping (renewing a claim,
// recording a result). It runs even when the gateway is stopping, so a
// sent delivery is recorded as sent, but never waits on the database for
// longer than this: an unrecorded result leaves the claim to run out, and
// the delivery is sent again (at least once, never lost).
const recordTimeout = 5 * time.Second

// recordContext is ctx without its cancellation, bounded by recordTimeout.
func recordContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
}

func (d *Deliverer) finish(dl store.Delivery, cause string, retryAt time.Time, isDead bool) bool {
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	ok, err := d.ob.MarkFailed(ctx, dl, cause, retryAt, isDead)
	if err != nil {
		d.cfg.Log.LogAttrs(ctx, slog.LevelError, "delivery: recording failure failed", slog.Int64("delivery", dl.ID), slog.String("error", err.Error()))
		return true // not a lost claim: the error says what happened
	}
	return ok
}

// setHeaders sets a receiver's headers on req, sealed values opened.
func (d *Deliverer) setHeaders(ctx context.Context, req *http.Request, headers [][2]string) error {
	var box *sealed.Box
	for _, h := range headers {
		v := h[1]
		if sealed.IsSealed(v) {
			if box == nil && d.cfg.Secrets != nil {
				b, err := d.cfg.Secrets.Box(ctx)
				if err != nil {
					return err
				}
				box = b
			}
			if box == nil {
				return fmt.Errorf("header %s is sealed and this gateway has no secrets key", h[0])
			}
			opened, err := box.Open(v)
			if err != nil {
				return fmt.Errorf("header %s cannot be opened with this gateway's secrets key (SIGNPOST_SECRETS_KEY changed?)", h[0])
			}
			v = opened
		}
		req.Header.Set(h[0], v)
	}
	return nil
}

// maxKeptBody caps the OperationOutcome kept in last_error.
const maxKeptBody = 4096

// attempt sends dl once. cause never holds the payload; for a refusal it
// holds the receiver's answer (an OperationOutcome, by the FHIR spec),
// which is kept in the outbox for the dead-letter listing, never logged.
func (d *Deliverer) attempt(ctx context.Context, dl store.Delivery, endpoints endpointCache) (outcome, string, time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	if isSubscriptionDelivery(dl) {
		return d.attemptSubscription(ctx, dl)
	}
	if IsBaRSKey(dl.TaskID) {
		return d.attemptBaRS(ctx, dl)
	}
	ep, err := endpoints.lookup(ctx, d.st, dl.Endpoint)
	var none *errNoEndpoint
	if errors.As(err, &none) {
		return dead, none.msg, 0
	}
	if err != nil {
		return retry, "finding the endpoint: " + err.Error(), 0
	}
	if allow := d.cfg.AllowEndpointAddress; allow != nil && !allow(ep.Address) {
		return dead, fmt.Sprintf("not sent: the address of Endpoint/%s is not on the gateway's outbound allow-list", ep.ID), 0
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.Address, bytes.NewReader(dl.Payload))
	if err != nil {
		return dead, fmt.Sprintf("Endpoint/%s: bad address", ep.ID), 0
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Accept", "application/fhir+json")
	setRequestID(req, dl)
	code, header, body, failed, cause := d.send(ctx, req, ep.ID, ep.Headers)
	if failed != delivered {
		return failed, cause, 0
	}
	switch {
	case code >= 200 && code < 300:
		return delivered, "", 0
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return retry, fmt.Sprintf("Endpoint/%s: HTTP %d", ep.ID, code), retryAfter(header.Get("Retry-After"))
	default:
		return dead, fmt.Sprintf("Endpoint/%s: HTTP %d%s", ep.ID, code, refusalReason(body)), 0
	}
}

// send opens the headers of Endpoint/id onto req, sends it and reads the answer (its
// first maxKeptBody+1 bytes). failed is delivered when an answer came,
// whatever its status; otherwise it is what the attempt ends as, with
// cause: a dead letter for headers that cannot be opened, a retry for no
// answer.
func (d *Deliverer) send(ctx context.Context, req *http.Request, id string, headers [][2]string) (code int, header http.Header, body []byte, failed outcome, cause string) {
	if err := d.setHeaders(ctx, req, headers); err != nil {
		return 0, nil, nil, dead, fmt.Sprintf("Endpoint/%s: %v", id, err)
	}
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return 0, nil, nil, retry, fmt.Sprintf("Endpoint/%s: no answer within %s", id, d.cfg.Timeout)
		}
		return 0, nil, nil, retry, fmt.Sprintf("Endpoint/%s: %s", id, sendError(err))
	}
	defer resp.Body.Close()
	body, _ = io.ReadAll(io.LimitReader(resp.Body, maxKeptBody+1))
	return resp.StatusCode, resp.Header, body, delivered, ""
}

// noRedirects makes a redirect the answer: following one would send the
// payload (and an Endpoint's or Subscription's headers) to an address
// nobody configured, past the Subscription endpoint allow-list. A 3xx is
// then a refusal like any other 4xx-class answer (a dead letter).
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// retryAfter reads a Retry-After in seconds (a date form is ignored: the
// backoff applies), capped at an hour.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, time.Hour)
}

// firstLine keeps a cause's summary for logs: the receiver's body, kept
// on the lines after it, may echo patient data.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// setRequestID sends the id of the API request that made the delivery, so
// the receiver's logs join the caller's and Signpost's; deliveries enqueued
// without one get an id naming the delivery and attempt.
func setRequestID(req *http.Request, dl store.Delivery) {
	if dl.RequestID != "" {
		req.Header.Set(requestid.Header, dl.RequestID)
		return
	}
	req.Header.Set(requestid.Header, fmt.Sprintf("signpost-delivery-%d-%d", dl.ID, dl.Attempts))
}
