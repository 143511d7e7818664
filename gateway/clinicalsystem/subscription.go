package clinicalsystem

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// R4 rest-hook Subscription deliveries share the outbox and the workers
// with outcome deliveries (gateway/subscription.go enqueues them). A
// delivery is one when its order key (Delivery.TaskID) starts with
// "Subscription/": "Subscription/<sid>/$handshake/<version>" is the
// handshake of one version, "Subscription/<sid>/<type>/<id>" orders its
// notifications about one resource. Its Endpoint is the Subscription's practice (so it shows
// in that practice's dead letters) and its Payload a SubscriptionNotice.
//
// Where to send is read from the Subscription when sending (as outcome
// deliveries read the Endpoint), so the outbox holds no channel.header
// secrets. A Subscription that is off or deleted by then gets nothing:
// its deliveries die at once with that cause.
//
// Status is kept true by settlingOutbox: once the outbox records a
// subscription delivery as delivered, the Subscription is made active
// (from requested or error); once it records one as dead (refused, or out
// of attempts), the Subscription is made error, with the cause in
// Subscription.error. A handshake gets a single attempt: failing it is
// error at once, and the client updates the Subscription to try again.

// FHIRJSON is the one channel.payload Signpost sends (the full resource).
const FHIRJSON = "application/fhir+json"

const subscriptionKeyPrefix = "Subscription/"

// HandshakeKey marks a handshake's order key (no resource type starts
// with $).
const HandshakeKey = "$handshake"

// SubscriptionNotice is the outbox payload of a Subscription delivery.
type SubscriptionNotice struct {
	// Subscription is the Subscription's id.
	Subscription string `json:"subscription"`
	// Handshake marks the R4 handshake: an empty POST to the endpoint.
	Handshake bool `json:"handshake,omitempty"`
	// Type, ID and Version name the written resource (Version is the
	// Subscription's own for a handshake).
	Type    string `json:"type,omitempty"`
	ID      string `json:"id,omitempty"`
	Version int64  `json:"version,omitempty"`
	// Method is PUT (Resource is the version written) or DELETE to
	// [endpoint]/[type]/[id] for a full-payload Subscription; empty for
	// an empty POST to [endpoint].
	Method   string          `json:"method,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`
}

// Key is the outbox order key of n.
func (n SubscriptionNotice) Key() string {
	if n.Handshake {
		// One queue per version: a dead handshake must not hold back the
		// one of the update that fixes the endpoint.
		return fmt.Sprintf("%s%s/%s/%d", subscriptionKeyPrefix, n.Subscription, HandshakeKey, n.Version)
	}
	return subscriptionKeyPrefix + n.Subscription + "/" + n.Type + "/" + n.ID
}

// isSubscriptionDelivery tells Subscription deliveries from outcomes.
func isSubscriptionDelivery(dl store.Delivery) bool {
	return strings.HasPrefix(dl.TaskID, subscriptionKeyPrefix)
}

// subscriptionOf reads the Subscription a delivery is for, with the
// channel parts that sending needs.
type storedSubscription struct {
	version int64
	obj     map[string]any
	status  string
	endpnt  string
	headers [][2]string
}

func readSubscription(ctx context.Context, st store.Tx, id string) (storedSubscription, error) {
	v, err := st.Read(ctx, "Subscription", id)
	if err != nil {
		return storedSubscription{}, err
	}
	var obj map[string]any
	if err := json.Unmarshal(v.Body, &obj); err != nil {
		return storedSubscription{}, err
	}
	out := storedSubscription{version: v.VersionID, obj: obj}
	out.status, _ = obj["status"].(string)
	ch, _ := obj["channel"].(map[string]any)
	out.endpnt, _ = ch["endpoint"].(string)
	hs, _ := ch["header"].([]any)
	for _, h := range hs {
		s, _ := h.(string)
		name, value, ok := strings.Cut(s, ":")
		if ok && strings.TrimSpace(name) != "" {
			out.headers = append(out.headers, [2]string{strings.TrimSpace(name), strings.TrimSpace(value)})
		}
	}
	return out, nil
}

// attemptSubscription sends a Subscription delivery once; see attempt.
func (d *Deliverer) attemptSubscription(ctx context.Context, dl store.Delivery) (outcome, string, time.Duration) {
	var n SubscriptionNotice
	if err := json.Unmarshal(dl.Payload, &n); err != nil {
		return dead, "not a Subscription notification: " + err.Error(), 0
	}
	sub, err := readSubscription(ctx, d.st, n.Subscription)
	if errors.Is(err, fhir.ErrNotFound) || errors.Is(err, fhir.ErrDeleted) {
		return dead, fmt.Sprintf("Subscription/%s no longer exists", n.Subscription), 0
	}
	if err != nil {
		return retry, fmt.Sprintf("reading Subscription/%s: %v", n.Subscription, err), 0
	}
	if sub.status == "off" {
		return dead, fmt.Sprintf("Subscription/%s is off", n.Subscription), 0
	}
	if n.Handshake && sub.version != n.Version {
		// Updated since: that update queued a handshake of its own.
		return dead, fmt.Sprintf("Subscription/%s changed before its handshake was sent", n.Subscription), 0
	}
	if allow := d.cfg.AllowSubscriptionEndpoint; allow != nil && !allow(sub.endpnt) {
		return dead, fmt.Sprintf("Subscription/%s: its endpoint is not on the allow-list (SIGNPOST_SUBSCRIPTION_ENDPOINTS)", n.Subscription), 0
	}
	method, target, body := http.MethodPost, strings.TrimRight(sub.endpnt, "/"), []byte(nil)
	if n.Method != "" {
		method, target, body = n.Method, target+"/"+n.Type+"/"+n.ID, n.Resource
	}
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return dead, fmt.Sprintf("Subscription/%s: bad endpoint: %v", n.Subscription, err), 0
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", FHIRJSON)
	}
	setRequestID(req, dl)
	if err := d.setHeaders(ctx, req, sub.headers); err != nil {
		return dead, fmt.Sprintf("Subscription/%s: %v", n.Subscription, err), 0
	}
	what := "Subscription/" + n.Subscription + " endpoint"
	if n.Handshake {
		what = "Subscription/" + n.Subscription + " handshake"
	}
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		cause := fmt.Sprintf("%s: %s", what, sendError(err))
		if ctx.Err() == context.DeadlineExceeded {
			cause = fmt.Sprintf("%s: no answer within %s", what, d.cfg.Timeout)
		}
		if n.Handshake {
			return dead, cause, 0
		}
		return retry, cause, 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxKeptBody))
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return delivered, "", 0
	case !n.Handshake && (code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500):
		return retry, fmt.Sprintf("%s: HTTP %d", what, code), retryAfter(resp.Header.Get("Retry-After"))
	default:
		return dead, fmt.Sprintf("%s: HTTP %d", what, code), 0
	}
}

// settlingOutbox is the workers' outbox: it keeps a Subscription's
// status true to how its deliveries end (see the top of this file).
type settlingOutbox struct {
	store.Outbox
	st  store.Store
	log *slog.Logger
}

func (o settlingOutbox) MarkDelivered(ctx context.Context, dl store.Delivery, at time.Time) (bool, error) {
	ok, err := o.Outbox.MarkDelivered(ctx, dl, at)
	if ok && err == nil && isSubscriptionDelivery(dl) {
		o.settle(ctx, dl, "")
	}
	return ok, err
}

func (o settlingOutbox) MarkFailed(ctx context.Context, dl store.Delivery, cause string, retryAt time.Time, isDead bool) (bool, error) {
	ok, err := o.Outbox.MarkFailed(ctx, dl, cause, retryAt, isDead)
	if ok && err == nil && isDead && isSubscriptionDelivery(dl) {
		o.settle(ctx, dl, cause)
	}
	return ok, err
}

// settle sets the Subscription of dl active (cause empty) or error. A
// Subscription that is off, deleted, or (for a handshake) changed since
// is left alone. Losing a race with a client's update is retried; the
// status write is the server's own, so it goes to the store directly.
func (o settlingOutbox) settle(ctx context.Context, dl store.Delivery, cause string) {
	var n SubscriptionNotice
	if err := json.Unmarshal(dl.Payload, &n); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for range 3 {
		sub, err := readSubscription(ctx, o.st, n.Subscription)
		if err != nil {
			return
		}
		want := "active"
		if cause != "" {
			want = "error"
		}
		switch {
		case sub.status == "off" || sub.status == want:
			return
		case n.Handshake && sub.version != n.Version:
			return
		case !n.Handshake && sub.status == "requested":
			// A newer handshake decides.
			return
		}
		sub.obj["status"] = want
		delete(sub.obj, "error")
		if cause != "" {
			sub.obj["error"] = firstLine(cause)
		}
		r, err := fhir.ResourceFromObject(sub.obj)
		if err != nil {
			return
		}
		_, err = o.st.Update(ctx, r, store.Precondition{IfMatch: sub.version})
		if err == nil {
			o.log.Info("subscription status", slog.String("subscription", n.Subscription), slog.String("status", want))
			return
		}
		var fe *fhir.Error
		if !errors.As(err, &fe) {
			o.log.Error("subscription status update failed", slog.String("subscription", n.Subscription), slog.String("error", err.Error()))
			return
		}
	}
}
