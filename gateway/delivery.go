package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/gateway/requestid"
)

// Outcome delivery, the API side. Every committed $navigate decision is
// enqueued in the decision's own transaction (always, whether or not the
// practice has an Endpoint yet: a practice without one gets a clean dead
// letter "no endpoint", re-sendable once the Endpoint exists, so no
// decision is lost to configuration order). The workers are
// clinicalsystem.Deliverer, started by the command.
//
// Delivery state is visible through operations, not on the Task: writing
// it to the Task would make a new Task version per attempt, racing the
// If-Match of navigators and tripping the Task state machine.
//
//	GET  [base]/Task/{id}/$delivery-status   the Task's deliveries
//	GET  [base]/$dead-letters                dead deliveries of the caller's practices
//	POST [base]/$redeliver  task=<Task ref or id> [delivery=<n>]   requeue dead ones
//	POST [base]/$redeliver  subscription=<id>          a Subscription's (subscription.go)

// RegisterDelivery makes $navigate enqueue its decisions into ob and
// serves the delivery operations. Call once, before Handler.
func (s *Server) RegisterDelivery(ob store.Outbox) {
	s.outbox = ob
	// Only now does a Subscription make the gateway send anything.
	s.RegisterWriteCheck("Subscription", s.checkSubscriptionEndpoint)
	s.RegisterWriteCheck("Endpoint", s.checkEndpointAddress) // directoryclaims.go
	s.odsUnique = true                                       // one Organization per ODS code: tenantTx.claimODS
	base := s.opts.CanonicalBase + "/OperationDefinition/"
	s.RegisterOperation(Operation{Name: "delivery-status", Level: InstanceLevel, Type: "Task", Definition: base + "Task-delivery-status",
		Idempotent: true, Permissions: []Permission{{"Task", auth.Read}}, Run: s.deliveryStatus})
	s.RegisterOperation(Operation{Name: "dead-letters", Level: SystemLevel, Definition: base + "dead-letters",
		Idempotent: true, Permissions: []Permission{{"Task", auth.Read}}, Run: s.deadLetters})
	s.RegisterOperation(Operation{Name: "redeliver", Level: SystemLevel, Definition: base + "redeliver",
		Permissions: []Permission{{"Task", auth.Update}}, Run: s.redeliver})
}

// enqueueOutcome writes the delivery of a committed decision, in the
// decision's transaction: the Task, the allocation, its Provenance, the
// earlier allocation it revoked and the need-group Observations the
// allocation references.
func (s *Server) enqueueOutcome(ctx context.Context, tx store.Tx, practice string, written map[string][]byte) error {
	if s.outbox == nil {
		return nil
	}
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
		typ, id := navSplitRef(si.Reference)
		if typ != "Observation" {
			continue
		}
		v, err := tx.Read(ctx, typ, id)
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
	// References to what only Signpost holds resolve at the base clients
	// use (SIGNPOST_PUBLIC_URL), else at the canonical base.
	refs := s.opts.PublicBase
	if refs == "" {
		refs = s.opts.CanonicalBase
	}
	payload, err := clinicalsystem.OutcomeBundleFor(clinicalsystem.Bases{Canonical: s.opts.CanonicalBase, References: refs}, written["task"], others...)
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

// deliveryParts renders deliveries as Parameters parts.
func deliveryParts(ds []store.Delivery) []any {
	out := make([]any, 0, len(ds))
	for _, d := range ds {
		parts := []any{
			map[string]any{"name": "id", "valueString": strconv.FormatInt(d.ID, 10)},
			deliveryKeyPart(d.TaskID),
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

func parametersJSON(params []any) ([]byte, error) {
	return json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": params})
}

// deliveryStatus answers the Task's deliveries, to those who may read it.
func (s *Server) deliveryStatus(ctx context.Context, in OperationInput) ([]byte, error) {
	if _, err := s.guard(in.Principal, s.store).Read(ctx, "Task", in.ID); err != nil {
		return nil, err
	}
	ds, err := s.taskDeliveries(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	return parametersJSON(deliveryParts(ds))
}

// taskDeliveries are a Task's outcome deliveries, then its BaRS referral
// messages (bars.go), each in its order.
func (s *Server) taskDeliveries(ctx context.Context, taskID string) ([]store.Delivery, error) {
	ds, err := s.outbox.Deliveries(ctx, taskID)
	if err != nil {
		return nil, err
	}
	bars, err := s.outbox.Deliveries(ctx, clinicalsystem.BaRSKey(taskID))
	if err != nil {
		return nil, err
	}
	return append(ds, bars...), nil
}

// deadLetters lists dead deliveries of the practices the caller acts for.
func (s *Server) deadLetters(ctx context.Context, in OperationInput) ([]byte, error) {
	ds, err := s.outbox.DeadLetters(ctx, 1000)
	if err != nil {
		return nil, err
	}
	kept := ds[:0]
	for _, d := range ds {
		if in.Principal.CanSeePractice(d.Endpoint) {
			kept = append(kept, d)
		}
	}
	return parametersJSON(deliveryParts(kept))
}

// redeliver requeues the dead deliveries of a Task the caller may read
// (or just the one named by delivery).
func (s *Server) redeliver(ctx context.Context, in OperationInput) ([]byte, error) {
	taskID, err := s.referenceParam(in, "redeliver", "task", "Task")
	if err != nil {
		return nil, err
	}
	sub, err := s.referenceParam(in, "redeliver", "subscription", "Subscription")
	if err != nil {
		return nil, err
	}
	if sub != "" && taskID == "" {
		return s.redeliverSubscription(ctx, in, sub)
	}
	if taskID == "" {
		return nil, fhir.Errorf(fhir.CodeRequired, "$redeliver needs the parameter task (a reference to the Task, e.g. valueReference Task/123, or its id) or subscription (likewise a Subscription)").WithStatus(http.StatusBadRequest)
	}
	if _, err := s.guard(in.Principal, s.store).Read(ctx, "Task", taskID); err != nil {
		return nil, err
	}
	var only int64
	if _, v, ok := in.Params.Value("delivery"); ok {
		n, err := strconv.ParseInt(fmt.Sprint(v), 10, 64)
		if err != nil {
			return nil, fhir.Errorf(fhir.CodeValue, "delivery must be a delivery id (a number)")
		}
		only = n
	}
	ds, err := s.taskDeliveries(ctx, taskID)
	if err != nil {
		return nil, err
	}
	return s.requeue(ctx, "Task/"+taskID, ds, func(d store.Delivery) bool {
		return d.Status == store.DeliveryDead && (only == 0 || d.ID == only)
	})
}

// referenceParam reads the operation parameter name, which names a
// resource of type typ, in each form a client may send: valueReference
// ({"reference": "Task/123"}, also absolute on this server's base, a
// version ignored), valueId ("123") or valueString ("123" or "Task/123",
// as query parameters arrive). Absent: "". Any other form, a reference to
// another type or server, or an id that cannot be one is a 400 that says
// what was expected.
func (s *Server) referenceParam(in OperationInput, op, name, typ string) (string, error) {
	kind, v, ok := in.Params.Value(name)
	if !ok {
		return "", nil
	}
	expected := fmt.Sprintf("a reference to the %s (valueReference %s/[id]) or its id (valueId or valueString)", typ, typ)
	bad := func(format string, args ...any) error {
		return fhir.Errorf(fhir.CodeValue, "$%s: %s must be %s; %s", op, name, expected, fmt.Sprintf(format, args...)).
			At("Parameters.parameter." + name).WithStatus(http.StatusBadRequest)
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
	for _, base := range []string{in.Base, s.opts.PublicBase} {
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

// requeue sends the deliveries of ds that pick selects again, from their
// first attempt, and answers with them; none is a 404 naming what.
func (s *Server) requeue(ctx context.Context, what string, ds []store.Delivery, pick func(store.Delivery) bool) ([]byte, error) {
	var requeued []store.Delivery
	for _, d := range ds {
		if !pick(d) {
			continue
		}
		now := time.Now()
		if err := s.outbox.Requeue(ctx, d.ID, now); err != nil {
			return nil, err
		}
		d.Status, d.Attempts, d.NextAttemptAt = store.DeliveryPending, 0, now
		requeued = append(requeued, d)
	}
	if len(requeued) == 0 {
		return nil, fhir.Errorf(fhir.CodeNotFound, "%s has no dead delivery to send again", what)
	}
	return parametersJSON(deliveryParts(requeued))
}
