package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/gateway/requestid"
)

// R4 rest-hook Subscriptions on Task and ServiceRequest.
//
// A Subscription belongs to the practice of its creator, like a
// patient-linked resource (the practice label of tenancy.go; see
// practiceOwned): its channel may carry secrets and its criteria say what
// a practice watches, and it only ever matches resources of its own
// practice.
//
// Writing one (create, update, also in a transaction) validates it: the
// criteria must be a search URL on Task or ServiceRequest that
// search.ParseQuery accepts strictly, channel.type rest-hook, an http(s)
// channel.endpoint on the operator's allow-list (subscription_endpoints.go)
// and channel.payload application/fhir+json (the full
// resource) or absent (no payload); anything else is a 422. The client
// may ask for status requested or off only; active and error are the
// server's (R4), so a client's active or error is taken as requested,
// and a requested Subscription gets the R4 handshake: an empty POST to
// its endpoint, enqueued to the outbox in the write's own transaction, so
// the API never waits on the subscriber. The workers
// (clinicalsystem.Deliverer) make one attempt: a 2xx sets status active,
// anything else error with the cause in Subscription.error (the client
// PUTs the Subscription again to retry).
//
// Every write of a Task or ServiceRequest (create, update, delete,
// whether REST, conditional, PATCH, batch or transaction entry, or the
// $navigate commit: all go through tenantTx) looks up the active
// Subscriptions of the resource's practice and, for each whose criteria
// type is the written type, runs its criteria with _id=<written id>
// through the write's transaction, under the practice's tenancy (so
// chains and _has see that practice only). Each match enqueues a
// notification in that same transaction: a rolled-back write notifies
// nobody. The notification is what R4 rest-hook says: with payload
// application/fhir+json, PUT [endpoint]/[type]/[id] with the version
// written; with no payload, an empty POST to [endpoint]. A deletion
// matches when the version it deletes did, and is sent as DELETE
// [endpoint]/[type]/[id] (full payload) or the empty POST. Headers in
// channel.header go with every request.
//
// Notifications share the outbox's guarantees: ordered per Subscription
// and resource (the outbox order key is Subscription/<sid>/<type>/<id>),
// retried with backoff, dead after the attempt limit. A dead notification
// sets the Subscription to error; a later successful delivery (after
// requeue) sets it active again. Only active Subscriptions get new
// notifications. Subscription deliveries go to the practice's dead
// letters like outcomes (the delivery's Endpoint is the practice).
//
// The active Subscriptions are found by a search inside the write's
// transaction (one indexed query per Task or ServiceRequest write),
// rather than an in-memory index: a cache would need invalidation across
// gateway processes, and the query sees exactly what the transaction
// sees. Nothing of this runs unless RegisterDelivery was called (no
// workers would send it); Subscriptions are still validated.

// subscribable are the types a Subscription's criteria may name.
var subscribable = map[string]bool{"Task": true, "ServiceRequest": true}

// practiceOwned reports whether typ carries the practice label: the
// patient-linked types and Subscription.
func practiceOwned(typ string) bool { return auth.IsPatientLinked(typ) || typ == "Subscription" }

// subscriptionCriteria parses a Subscription's criteria strictly.
func subscriptionCriteria(criteria string) (*search.Query, error) {
	typ, raw, _ := strings.Cut(strings.TrimSpace(criteria), "?")
	if !subscribable[typ] {
		return nil, fhir.Errorf(fhir.CodeBusinessRule, "Subscription.criteria must be a search on Task or ServiceRequest (Task?...), not %q", criteria).WithStatus(http.StatusUnprocessableEntity)
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fhir.Errorf(fhir.CodeBusinessRule, "Subscription.criteria: %v", err).WithStatus(http.StatusUnprocessableEntity)
	}
	for k := range values {
		switch strings.SplitN(k, ":", 2)[0] {
		case "_sort", "_count", "_include", "_revinclude", "_summary", "_elements", "_total", "_contained", "_containedType":
			return nil, fhir.Errorf(fhir.CodeBusinessRule, "Subscription.criteria may not use %s: it says which resources match, not how to return them", k).WithStatus(http.StatusUnprocessableEntity)
		}
	}
	q, err := search.ParseQuery(typ, values, true)
	if err != nil {
		msg := err.Error()
		if fe, ok := fhir.AsError(err); ok {
			msg = fe.Error()
		}
		return nil, fhir.Errorf(fhir.CodeBusinessRule, "Subscription.criteria: %s", msg).WithStatus(http.StatusUnprocessableEntity)
	}
	if search.UsesValueSets(q) {
		// tokensets.go: a value set may change after the criteria are accepted.
		return nil, fhir.Errorf(fhir.CodeBusinessRule, "Subscription.criteria may not use :in, :not-in or a token :below or :above; list the codes").WithStatus(http.StatusUnprocessableEntity)
	}
	return q, nil
}

// subscriptionChannel is what the gateway reads of a Subscription.
type subscriptionChannel struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Criteria string `json:"criteria"`
	Channel  struct {
		Type     string `json:"type"`
		Endpoint string `json:"endpoint"`
		Payload  string `json:"payload"`
	} `json:"channel"`
}

// checkSubscription validates a Subscription a client writes and sets
// its status (see the top of this file).
func checkSubscription(r *fhir.Resource) error {
	body, err := r.MarshalJSON()
	if err != nil {
		return err
	}
	var sub subscriptionChannel
	if err := json.Unmarshal(body, &sub); err != nil {
		return fhir.Errorf(fhir.CodeStructure, "Subscription: %v", err).WithStatus(http.StatusBadRequest)
	}
	if _, err := subscriptionCriteria(sub.Criteria); err != nil {
		return err
	}
	unprocessable := func(format string, args ...any) error {
		return fhir.Errorf(fhir.CodeBusinessRule, format, args...).WithStatus(http.StatusUnprocessableEntity)
	}
	if sub.Channel.Type != "rest-hook" {
		return unprocessable("Subscription.channel.type %q is not supported: only rest-hook", sub.Channel.Type)
	}
	if u, err := url.Parse(sub.Channel.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return unprocessable("Subscription.channel.endpoint must be an absolute http or https URL")
	}
	if p := sub.Channel.Payload; p != "" && p != clinicalsystem.FHIRJSON {
		return unprocessable("Subscription.channel.payload %q is not supported: %s (the full resource) or none (an empty notification)", p, clinicalsystem.FHIRJSON)
	}
	obj := r.Object()
	switch sub.Status {
	case "off":
		delete(obj, "error")
	case "", "requested", "active", "error":
		obj["status"] = "requested"
		delete(obj, "error")
	default:
		return unprocessable("Subscription.status %q: a client may set requested or off", sub.Status)
	}
	return nil
}

// afterSubscriptionWrite enqueues the handshake of a Subscription just
// written as requested.
func (s *Server) afterSubscriptionWrite(ctx context.Context, tx store.Tx, practice string, res store.WriteResult) error {
	if s.outbox == nil || res.Unchanged || res.Version.Deleted {
		return nil
	}
	var sub subscriptionChannel
	if err := json.Unmarshal(res.Version.Body, &sub); err != nil {
		return err
	}
	if sub.Status != "requested" {
		return nil
	}
	return enqueueNotice(ctx, tx, practice, clinicalsystem.SubscriptionNotice{
		Subscription: res.Version.ID, Handshake: true, Version: res.Version.VersionID,
	})
}

func enqueueNotice(ctx context.Context, tx store.Tx, practice string, n clinicalsystem.SubscriptionNotice) error {
	payload, err := json.Marshal(n)
	if err != nil {
		return err
	}
	if practice == "" {
		practice = "(none)"
	}
	return tx.Enqueue(ctx, store.Delivery{Endpoint: practice, TaskID: n.Key(), Payload: payload, RequestID: requestid.FromContext(ctx)})
}

// subscriptionMatch is an active Subscription a written resource matches.
type subscriptionMatch struct {
	id   string
	full bool
}

// matchingSubscriptions finds the active Subscriptions of practice whose
// criteria match typ/id as tx now holds it.
func (t *tenantTx) matchingSubscriptions(ctx context.Context, practice, typ, id string) ([]subscriptionMatch, error) {
	s, tx := t.s, t.tx
	if s.outbox == nil || !subscribable[typ] || practice == "" {
		return nil, nil
	}
	// A transaction writing several resources of one practice (a
	// navigation: its Task and ServiceRequest) reads the practice's
	// Subscriptions once; writing a Subscription forgets them.
	subs, ok := t.subs[practice]
	if !ok {
		var err error
		if subs, err = s.activeSubscriptions(ctx, tx, practice, t.wroteSubscription); err != nil {
			return nil, err
		}
		if t.subs == nil {
			t.subs = map[string][]subscriptionChannel{}
		}
		t.subs[practice] = subs
	}
	var out []subscriptionMatch
	scope := &auth.Principal{ODS: []string{practice}}
	allowed := s.allowedEndpoints()
	for _, sub := range subs {
		crit, err := subscriptionCriteria(sub.Criteria)
		if err != nil || crit.Type != typ {
			continue // stored before a rule changed: it matches nothing
		}
		if !allowed.Allows(sub.Channel.Endpoint) {
			// Stored before the allow-list changed: never sent to.
			s.log.LogAttrs(ctx, slog.LevelWarn, "subscription endpoint not allowed: no notification", slog.String("subscription", sub.ID))
			continue
		}
		only, err := search.ParseQuery(typ, url.Values{"_id": {id}}, true)
		if err != nil {
			return nil, err
		}
		crit.Params = append(crit.Params, only.Params...)
		crit, err = s.restrictQuery(scope, crit)
		if err != nil {
			return nil, err
		}
		res, err := tx.Search(ctx, crit, store.PageRequest{Count: 1})
		if err != nil {
			return nil, fmt.Errorf("Subscription/%s criteria: %w", sub.ID, err)
		}
		if len(res.Matches) > 0 {
			out = append(out, subscriptionMatch{id: sub.ID, full: sub.Channel.Payload != ""})
		}
	}
	return out, nil
}

// subscriptionCache keeps the active Subscriptions of each practice read
// while the store's Subscription change counter (store.ChangeCounter)
// had one value: while it keeps it, no Subscription has been written
// since, by any process, and the lists stand. Most practices have none,
// and every Task and ServiceRequest write asks.
type subscriptionCache struct {
	mu         sync.Mutex
	n          int64
	byPractice map[string][]subscriptionChannel
}

// activeSubscriptions are the active rest-hook Subscriptions of practice
// as tx holds them. A transaction that has written a Subscription
// (dirty) reads its own view and leaves the cache alone.
func (s *Server) activeSubscriptions(ctx context.Context, tx store.Tx, practice string, dirty bool) ([]subscriptionChannel, error) {
	var n int64
	counted := false
	// The counter is read on tx's connection: every connection of the
	// pool may be held by a transaction waiting for one.
	if cc, ok := tx.(store.ChangeCounter); ok && !dirty {
		var err error
		if n, counted, err = cc.Changes(ctx, "Subscription"); err != nil {
			return nil, err
		}
		if counted {
			c := &s.subsCache
			c.mu.Lock()
			subs, ok := c.byPractice[practice]
			if c.n != n {
				c.n, c.byPractice, ok = n, nil, false
			}
			c.mu.Unlock()
			if ok {
				return subs, nil
			}
		}
	}
	subs, err := s.searchSubscriptions(ctx, tx, practice)
	if err != nil || !counted {
		return subs, err
	}
	c := &s.subsCache
	c.mu.Lock()
	if c.n == n {
		if c.byPractice == nil {
			c.byPractice = map[string][]subscriptionChannel{}
		}
		c.byPractice[practice] = subs
	}
	c.mu.Unlock()
	return subs, nil
}

// searchSubscriptions reads the active rest-hook Subscriptions of
// practice from tx.
func (s *Server) searchSubscriptions(ctx context.Context, tx store.Tx, practice string) ([]subscriptionChannel, error) {
	q, err := search.ParseQuery("Subscription", url.Values{
		"status":    {"active"},
		"type":      {"rest-hook"},
		"_security": {s.practiceSystem() + "|" + practice},
	}, true)
	if err != nil {
		return nil, err
	}
	subs := []subscriptionChannel{}
	page := store.PageRequest{Count: 100}
	for {
		res, err := tx.Search(ctx, q, page)
		if err != nil {
			return nil, err
		}
		for _, v := range res.Matches {
			var sub subscriptionChannel
			if err := json.Unmarshal(v.Body, &sub); err == nil {
				sub.ID = v.ID
				subs = append(subs, sub)
			}
		}
		if res.Next == "" {
			return subs, nil
		}
		page.Cursor = res.Next
	}
}

// notifySubscriptions enqueues, in tx, the notifications of a Task or
// ServiceRequest write (res) to the Subscriptions it matches; for a
// deletion, matches are those found before it.
func (s *Server) notifySubscriptions(ctx context.Context, tx store.Tx, practice string, res store.WriteResult, matches []subscriptionMatch) error {
	for _, m := range matches {
		n := clinicalsystem.SubscriptionNotice{Subscription: m.id, Type: res.Version.Type, ID: res.Version.ID, Version: res.Version.VersionID}
		if m.full {
			n.Method = http.MethodPut
			n.Resource = res.Version.Body
			if res.Version.Deleted {
				n.Method, n.Resource = http.MethodDelete, nil
			}
		}
		if err := enqueueNotice(ctx, tx, practice, n); err != nil {
			return err
		}
	}
	return nil
}

// afterWrite is the tenantTx hook of every successful create and update:
// the handshake of a Subscription, the notifications of a Task or
// ServiceRequest.
func (t *tenantTx) afterWrite(ctx context.Context, res store.WriteResult) (store.WriteResult, error) {
	if res.Unchanged {
		return res, nil
	}
	practice := ""
	if len(t.practices) > 0 {
		practice = t.practices[0]
	}
	switch {
	case res.Version.Type == "Subscription":
		t.subs, t.wroteSubscription = nil, true
		return res, t.s.afterSubscriptionWrite(ctx, t.tx, practice, res)
	case subscribable[res.Version.Type]:
		matches, err := t.matchingSubscriptions(ctx, practice, res.Version.Type, res.Version.ID)
		if err != nil {
			return res, err
		}
		return res, t.s.notifySubscriptions(ctx, t.tx, practice, res, matches)
	}
	return res, nil
}

// redeliverSubscription requeues the dead deliveries of a Subscription
// the caller may read: $redeliver with subscription instead of task.
func (s *Server) redeliverSubscription(ctx context.Context, in OperationInput, id string) ([]byte, error) {
	if _, err := s.guard(in.Principal, s.store).Read(ctx, "Subscription", id); err != nil {
		return nil, err
	}
	ds, err := s.outbox.DeadLetters(ctx, 10000)
	if err != nil {
		return nil, err
	}
	key := "Subscription/" + id + "/"
	return s.requeue(ctx, "Subscription/"+id, ds, func(d store.Delivery) bool { return strings.HasPrefix(d.TaskID, key) })
}

// deliveryKeyPart names what a delivery is ordered by: its Task, or for
// a Subscription delivery the Subscription (the display says which
// resource the notification is about, or that it is the handshake).
func deliveryKeyPart(key string) map[string]any {
	if task, ok := strings.CutPrefix(key, clinicalsystem.BaRSKeyPrefix+"Task/"); ok {
		return map[string]any{"name": "task", "valueReference": map[string]any{"reference": "Task/" + task, "display": "BaRS referral message"}}
	}
	rest, ok := strings.CutPrefix(key, "Subscription/")
	if !ok {
		return map[string]any{"name": "task", "valueReference": map[string]any{"reference": "Task/" + key}}
	}
	sid, res, _ := strings.Cut(rest, "/")
	display := "notification about " + res
	if strings.HasPrefix(res, clinicalsystem.HandshakeKey+"/") {
		display = "handshake"
	}
	return map[string]any{"name": "subscription", "valueReference": map[string]any{"reference": "Subscription/" + sid, "display": display}}
}
