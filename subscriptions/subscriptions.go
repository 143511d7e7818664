package subscriptions

import (
	"context"
	"encoding/json"
	"fmt"
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
// patient-linked resource (the practice label the gateway's tenancy
// stamps): its channel may carry secrets and its criteria say what
// a practice watches, and it only ever matches resources of its own
// practice.
//
// Writing one (create, update, also in a transaction) validates it: the
// criteria must be a search URL on Task or ServiceRequest that
// search.ParseQuery accepts strictly, channel.type rest-hook, an http(s)
// channel.endpoint on the operator's allow-list (endpoints.go)
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
// $navigate commit: all go through the gateway's tenantTx) looks up the active
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
// sees. Nothing of this runs unless the gateway's RegisterDelivery was called (no
// workers would send it); Subscriptions are still validated.

// subscribable are the types a Subscription's criteria may name.
var subscribable = map[string]bool{"Task": true, "ServiceRequest": true}

// Subscribable reports whether a Subscription's criteria may name typ
// (whose writes are then matched against them).
func Subscribable(typ string) bool { return subscribable[typ] }

// Criteria parses a Subscription's criteria strictly.
func Criteria(criteria string) (*search.Query, error) {
	typ, raw, _ := strings.Cut(strings.TrimSpace(criteria), "?")
	if !subscribable[typ] {
		return nil, fhir.Errorf(fhir.CodeBusinessRule, "Subscription.criteria must be a search on Task or ServiceRequest (Task?...), not %q", criteria)
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fhir.Errorf(fhir.CodeBusinessRule, "Subscription.criteria: %v", err)
	}
	for k := range values {
		switch strings.SplitN(k, ":", 2)[0] {
		case "_sort", "_count", "_include", "_revinclude", "_summary", "_elements", "_total", "_contained", "_containedType":
			return nil, fhir.Errorf(fhir.CodeBusinessRule, "Subscription.criteria may not use %s: it says which resources match, not how to return them", k)
		}
	}
	q, err := search.ParseQuery(typ, values, true)
	if err != nil {
		msg := err.Error()
		if fe, ok := fhir.AsError(err); ok {
			msg = fe.Error()
		}
		return nil, fhir.Errorf(fhir.CodeBusinessRule, "Subscription.criteria: %s", msg)
	}
	if search.UsesValueSets(q) {
		// A value set or code hierarchy (the gateway's tokensets.go) may
		// change after the criteria are accepted.
		return nil, fhir.Errorf(fhir.CodeBusinessRule, "Subscription.criteria may not use :in, :not-in or a token :below or :above; list the codes")
	}
	return q, nil
}

// Channel is what is read of a stored Subscription.
type Channel struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Criteria string `json:"criteria"`
	Channel  struct {
		Type     string `json:"type"`
		Endpoint string `json:"endpoint"`
		Payload  string `json:"payload"`
	} `json:"channel"`
}

// Check validates a Subscription a client writes and sets its status
// (see the top of this file).
func Check(r *fhir.Resource) error {
	body, err := r.MarshalJSON()
	if err != nil {
		return err
	}
	var sub Channel
	if err := json.Unmarshal(body, &sub); err != nil {
		return fhir.Errorf(fhir.CodeStructure, "Subscription: %v", err)
	}
	if _, err := Criteria(sub.Criteria); err != nil {
		return err
	}
	unprocessable := func(format string, args ...any) error {
		return fhir.Errorf(fhir.CodeBusinessRule, format, args...)
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

// Handshake enqueues, in tx, the handshake of a Subscription just
// written as requested.
func Handshake(ctx context.Context, tx store.Tx, practice string, res store.WriteResult) error {
	if res.Unchanged || res.Version.Deleted {
		return nil
	}
	var sub Channel
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

// Match is an active Subscription a written resource matches.
type Match struct {
	ID string
	// Full: the notification carries the resource (payload
	// application/fhir+json).
	Full bool
}

// Active keeps the active Subscriptions of each practice read
// while the store's Subscription change counter (store.ChangeCounter)
// had one value: while it keeps it, no Subscription has been written
// since, by any process, and the lists stand. Most practices have none,
// and every Task and ServiceRequest write asks.
type Active struct {
	mu         sync.Mutex
	n          int64
	byPractice map[string][]Channel
}

// Of are the active rest-hook Subscriptions of practice as tx holds
// them; practiceSystem is the code system of the practice labels. A
// transaction that has written a Subscription (dirty) reads its own view
// and leaves the cache alone.
func (c *Active) Of(ctx context.Context, tx store.Tx, practiceSystem, practice string, dirty bool) ([]Channel, error) {
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
	subs, err := searchActive(ctx, tx, practiceSystem, practice)
	if err != nil || !counted {
		return subs, err
	}
	c.mu.Lock()
	if c.n == n {
		if c.byPractice == nil {
			c.byPractice = map[string][]Channel{}
		}
		c.byPractice[practice] = subs
	}
	c.mu.Unlock()
	return subs, nil
}

// searchActive reads the active rest-hook Subscriptions of practice from tx.
func searchActive(ctx context.Context, tx store.Tx, practiceSystem, practice string) ([]Channel, error) {
	q, err := search.ParseQuery("Subscription", url.Values{
		"status":    {"active"},
		"type":      {"rest-hook"},
		"_security": {practiceSystem + "|" + practice},
	}, true)
	if err != nil {
		return nil, err
	}
	subs := []Channel{}
	page := store.PageRequest{Count: 100}
	for {
		res, err := tx.Search(ctx, q, page)
		if err != nil {
			return nil, err
		}
		for _, v := range res.Matches {
			var sub Channel
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

// Notify enqueues, in tx, the notifications of a Task or ServiceRequest
// write (res) to the Subscriptions it matches; for a deletion, matches
// are those found before it.
func Notify(ctx context.Context, tx store.Tx, practice string, res store.WriteResult, matches []Match) error {
	for _, m := range matches {
		n := clinicalsystem.SubscriptionNotice{Subscription: m.ID, Type: res.Version.Type, ID: res.Version.ID, Version: res.Version.VersionID}
		if m.Full {
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

// Matching is the Subscriptions among subs (the active ones of practice)
// whose criteria match typ/id as tx now holds it, run under the
// practice's tenancy: restrict bounds a query to what scope may see, so
// chains and _has see that practice only. A Subscription whose endpoint
// allowed no longer allows (stored before the list changed) matches
// nothing; skipped is told its id.
func Matching(ctx context.Context, tx store.Tx, practice, typ, id string, subs []Channel, allowed Endpoints,
	restrict func(scope *auth.Principal, q *search.Query) (*search.Query, error), skipped func(id string)) ([]Match, error) {
	var out []Match
	scope := &auth.Principal{ODS: []string{practice}}
	for _, sub := range subs {
		crit, err := Criteria(sub.Criteria)
		if err != nil || crit.Type != typ {
			continue // stored before a rule changed: it matches nothing
		}
		if !allowed.Allows(sub.Channel.Endpoint) {
			// Stored before the allow-list changed: never sent to.
			skipped(sub.ID)
			continue
		}
		only, err := search.ParseQuery(typ, url.Values{"_id": {id}}, true)
		if err != nil {
			return nil, err
		}
		crit.Params = append(crit.Params, only.Params...)
		crit, err = restrict(scope, crit)
		if err != nil {
			return nil, err
		}
		res, err := tx.Search(ctx, crit, store.PageRequest{Count: 1})
		if err != nil {
			return nil, fmt.Errorf("subscriptions: the criteria of Subscription/%s: %w", sub.ID, err)
		}
		if len(res.Matches) > 0 {
			out = append(out, Match{ID: sub.ID, Full: sub.Channel.Payload != ""})
		}
	}
	return out, nil
}
