package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/gateway/requestid"
)

// Every committed $navigate decision is enqueued in the decision's own
// transaction (always, whether or not the practice has an Endpoint yet:
// a practice without one gets a clean dead letter "no endpoint",
// re-sendable once the Endpoint exists, so no decision is lost to
// configuration order). The workers are clinicalsystem.Deliverer.
//
// Delivery state is visible through operations, not on the Task: writing
// it to the Task would make a new Task version per attempt, racing the
// If-Match of navigators and tripping the Task state machine.
//
//	GET  [base]/Task/{id}/$delivery-status   the Task's deliveries
//	GET  [base]/$dead-letters                dead deliveries of the caller's practices
//	POST [base]/$redeliver  task=<Task ref or id> [delivery=<n>]   requeue dead ones
//	POST [base]/$redeliver  subscription=<id>          a Subscription's

// Enqueue writes the delivery of a committed decision to practice, in
// the decision's transaction tx: the Task, the allocation, its
// Provenance, the earlier allocation it revoked (written, by those
// names) and the need-group Observations the allocation references.
// References to what only Signpost holds resolve at bases.References.
func Enqueue(ctx context.Context, tx store.Tx, bases clinicalsystem.Bases, practice string, written map[string][]byte) error {
	var alloc struct {
		ID             string `json:"id"`
		SupportingInfo []struct {
			Reference string `json:"reference"`
		} `json:"supportingInfo"`
	}
	if err := json.Unmarshal(written["allocation"], &alloc); err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	others := [][]byte{written["allocation"], written["provenance"], written["revoked"]}
	for _, si := range alloc.SupportingInfo {
		parts := strings.Split(strings.TrimSpace(si.Reference), "/")
		if len(parts) != 2 || parts[0] != "Observation" {
			continue
		}
		v, err := tx.Read(ctx, parts[0], parts[1])
		if err != nil {
			// A need group the caller may not read is left out; the
			// allocation still names it.
			if _, ok := fhir.AsError(err); ok {
				continue
			}
			return err
		}
		others = append(others, v.Body)
	}
	payload, err := clinicalsystem.OutcomeBundleFor(bases, written["task"], others...)
	if err != nil {
		return err
	}
	var task struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(written["task"], &task); err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	if practice == "" {
		practice = "(none)"
	}
	return tx.Enqueue(ctx, store.Delivery{Endpoint: practice, TaskID: task.ID, Payload: payload, RequestID: requestid.FromContext(ctx)})
}

// Operations answers the delivery operations over Outbox.
type Operations struct {
	Outbox store.Outbox
	// Read reads typ/id as p may (the caller's tenancy): an error when p
	// may not see it.
	Read func(ctx context.Context, p *auth.Principal, typ, id string) error
	// PublicBase is the base clients use (SIGNPOST_PUBLIC_URL), also
	// accepted in references; may be empty.
	PublicBase string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Parts renders deliveries as Parameters parts.
func Parts(ds []store.Delivery) []any {
	out := make([]any, 0, len(ds))
	for _, d := range ds {
		parts := []any{
			map[string]any{"name": "id", "valueString": strconv.FormatInt(d.ID, 10)},
			KeyPart(d.TaskID),
			map[string]any{"name": "seq", "valueInteger": d.Seq},
			map[string]any{"name": "practice", "valueString": d.Endpoint},
			map[string]any{"name": "status", "valueCode": string(d.Status)},
			map[string]any{"name": "attempts", "valueInteger": d.Attempts},
			map[string]any{"name": "created", "valueInstant": d.CreatedAt.UTC().Format(fhir.InstantFormat)},
		}
		switch d.Status {
		case store.DeliveryDelivered:
			parts = append(parts, map[string]any{"name": "delivered", "valueInstant": d.DeliveredAt.UTC().Format(fhir.InstantFormat)})
		case store.DeliveryPending, store.DeliveryInFlight:
			parts = append(parts, map[string]any{"name": "nextAttempt", "valueInstant": d.NextAttemptAt.UTC().Format(fhir.InstantFormat)})
		}
		if d.LastError != "" {
			parts = append(parts, map[string]any{"name": "lastError", "valueString": d.LastError})
		}
		out = append(out, map[string]any{"name": "delivery", "part": parts})
	}
	return out
}

// ParametersJSON is a Parameters resource of params.
func ParametersJSON(params []any) ([]byte, error) {
	return json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": params})
}

// Status is Task/[id]/$delivery-status: the Task's deliveries, to those
// who may read it.
func (o Operations) Status(ctx context.Context, p *auth.Principal, taskID string) ([]byte, error) {
	if err := o.Read(ctx, p, "Task", taskID); err != nil {
		return nil, err
	}
	ds, err := o.TaskDeliveries(ctx, taskID)
	if err != nil {
		return nil, err
	}
	return ParametersJSON(Parts(ds))
}

// TaskDeliveries are a Task's outcome deliveries, then its BaRS referral
// messages, each in its order.
func (o Operations) TaskDeliveries(ctx context.Context, taskID string) ([]store.Delivery, error) {
	ds, err := o.Outbox.Deliveries(ctx, taskID)
	if err != nil {
		return nil, err
	}
	bars, err := o.Outbox.Deliveries(ctx, clinicalsystem.BaRSKey(taskID))
	if err != nil {
		return nil, err
	}
	return append(ds, bars...), nil
}

// DeadLetters is $dead-letters: the dead deliveries of the practices p
// acts for.
func (o Operations) DeadLetters(ctx context.Context, p *auth.Principal) ([]byte, error) {
	ds, err := o.Outbox.DeadLetters(ctx, 1000)
	if err != nil {
		return nil, err
	}
	kept := ds[:0]
	for _, d := range ds {
		if p.CanSeePractice(d.Endpoint) {
			kept = append(kept, d)
		}
	}
	return ParametersJSON(Parts(kept))
}

// Redeliver is $redeliver: it requeues the dead deliveries of a Task p
// may read (or just the one named by delivery); a call naming only a
// subscription is answered by subscription (the Subscription's dead
// notifications). base is the FHIR base as the client sees it.
func (o Operations) Redeliver(ctx context.Context, p *auth.Principal, base string, params *fhir.Parameters,
	subscription func(ctx context.Context, id string) ([]byte, error)) ([]byte, error) {
	taskID, err := ReferenceParam(params, []string{base, o.PublicBase}, "redeliver", "task", "Task")
	if err != nil {
		return nil, err
	}
	sub, err := ReferenceParam(params, []string{base, o.PublicBase}, "redeliver", "subscription", "Subscription")
	if err != nil {
		return nil, err
	}
	if sub != "" && taskID == "" {
		return subscription(ctx, sub)
	}
	if taskID == "" {
		return nil, fhir.Errorf(fhir.CodeRequired, "$redeliver needs the parameter task (a reference to the Task, e.g. valueReference Task/123, or its id) or subscription (likewise a Subscription)").Because(fhir.DetailMalformed)
	}
	if err := o.Read(ctx, p, "Task", taskID); err != nil {
		return nil, err
	}
	var only int64
	if _, v, ok := params.Value("delivery"); ok {
		n, err := strconv.ParseInt(fmt.Sprint(v), 10, 64)
		if err != nil {
			return nil, fhir.Errorf(fhir.CodeValue, "delivery must be a delivery id (a number)")
		}
		only = n
	}
	ds, err := o.TaskDeliveries(ctx, taskID)
	if err != nil {
		return nil, err
	}
	return o.Requeue(ctx, "Task/"+taskID, ds, func(d store.Delivery) bool {
		return d.Status == store.DeliveryDead && (only == 0 || d.ID == only)
	})
}

// ReferenceParam reads the operation parameter name, which names a
// resource of type typ, in each form a client may send: valueReference
// ({"reference": "Task/123"}, also absolute on one of this server's
// bases, a version ignored), valueId ("123") or valueString ("123" or
// "Task/123", as query parameters arrive). Absent: "". Any other form, a
// reference to another type or server, or an id that cannot be one is
// malformed, and the error says what was expected.
func ReferenceParam(params *fhir.Parameters, bases []string, op, name, typ string) (string, error) {
	kind, v, ok := params.Value(name)
	if !ok {
		return "", nil
	}
	expected := fmt.Sprintf("a reference to the %s (valueReference %s/[id]) or its id (valueId or valueString)", typ, typ)
	bad := func(format string, args ...any) error {
		return fhir.Errorf(fhir.CodeValue, "$%s: %s must be %s; %s", op, name, expected, fmt.Sprintf(format, args...)).
			At("Parameters.parameter." + name).Because(fhir.DetailMalformed)
	}
	var ref string
	switch kind {
	case "Reference":
		m, _ := v.(map[string]any)
		ref, _ = m["reference"].(string)
		if ref == "" {
			return "", bad("the valueReference has no reference (a logical reference by identifier is not followed)")
		}
	case "Id", "String":
		ref, _ = v.(string)
	default:
		return "", bad("it was sent as value%s", kind)
	}
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", bad("it is empty")
	}
	for _, base := range bases {
		if base != "" && strings.HasPrefix(ref, base+"/") {
			ref = strings.TrimPrefix(ref, base+"/")
			break
		}
	}
	if strings.Contains(ref, "://") {
		return "", bad("%s is on another server", ref)
	}
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	id := ref
	if t, rest, found := strings.Cut(ref, "/"); found {
		if t != typ {
			return "", bad("%s is not a %s", ref, typ)
		}
		id = rest
	}
	if !fhir.ValidID(id) {
		return "", bad("%q is not a valid id", id)
	}
	return id, nil
}

// Requeue sends the deliveries of ds that pick selects again, from their
// first attempt, and answers with them; none is not-found, naming what.
func (o Operations) Requeue(ctx context.Context, what string, ds []store.Delivery, pick func(store.Delivery) bool) ([]byte, error) {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	var requeued []store.Delivery
	for _, d := range ds {
		if !pick(d) {
			continue
		}
		at := now()
		if err := o.Outbox.Requeue(ctx, d.ID, at); err != nil {
			return nil, err
		}
		d.Status, d.Attempts, d.NextAttemptAt = store.DeliveryPending, 0, at
		requeued = append(requeued, d)
	}
	if len(requeued) == 0 {
		return nil, fhir.Errorf(fhir.CodeNotFound, "%s has no dead delivery to send again", what)
	}
	return ParametersJSON(Parts(requeued))
}

// KeyPart names what a delivery is ordered by: its Task, or for a
// Subscription delivery the Subscription (the display says which
// resource the notification is about, or that it is the handshake).
func KeyPart(key string) map[string]any {
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
