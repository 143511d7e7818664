package bars

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/gateway/requestid"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// BaRS referrals, the sending side (docs/bars.md). A committed decision
// whose allocation directs the patient to a HealthcareService listing an
// active BaRS messaging Endpoint enqueues, in the decision's transaction,
// a referral request to that service; a decision that revokes such an
// allocation enqueues its cancellation first. The workers
// (clinicalsystem.Deliverer) send them to {Endpoint.address}/$process-message.

// DoSServiceSystem is the identifier system of Directory of Services ids,
// the service identifier BaRS addresses a referral to by preference.
const DoSServiceSystem = "https://fhir.nhs.uk/Id/dos-service-id"

// Target is where one allocation's referral goes.
type Target struct {
	service  map[string]any
	endpoint string
	sys, val string
}

// TargetOf finds the BaRS Endpoint of the HealthcareService an
// allocation directs to; ok is false when there is none (no referral is
// sent: the allocation reaches the patient as before).
func (s *Service) TargetOf(ctx context.Context, tx store.Tx, alloc map[string]any) (Target, bool, error) {
	svcID := ""
	for _, p := range list(alloc["performer"]) {
		pm, _ := p.(map[string]any)
		if typ, id := splitRef(fmt.Sprint(pm["reference"])); typ == "HealthcareService" && fhir.ValidID(id) {
			svcID = id
		}
	}
	if svcID == "" {
		return Target{}, false, nil
	}
	v, err := tx.Read(ctx, "HealthcareService", svcID)
	if errors.Is(err, fhir.ErrNotFound) || errors.Is(err, fhir.ErrDeleted) {
		return Target{}, false, nil
	}
	if err != nil {
		return Target{}, false, err
	}
	var svc map[string]any
	if err := json.Unmarshal(v.Body, &svc); err != nil {
		return Target{}, false, err
	}
	t := Target{service: svc}
	for _, e := range list(svc["endpoint"]) {
		em, _ := e.(map[string]any)
		typ, id := splitRef(fmt.Sprint(em["reference"]))
		if typ != "Endpoint" || !fhir.ValidID(id) {
			continue
		}
		ev, err := tx.Read(ctx, "Endpoint", id)
		if errors.Is(err, fhir.ErrNotFound) || errors.Is(err, fhir.ErrDeleted) {
			continue
		}
		if err != nil {
			return Target{}, false, err
		}
		if clinicalsystem.IsBaRSEndpoint(ev.Body) {
			t.endpoint = id
			break
		}
	}
	if t.endpoint == "" {
		return Target{}, false, nil
	}
	// The service's identifier: its DoS id when it has one, else its
	// first identifier, else its id at Signpost.
	for _, x := range list(svc["identifier"]) {
		m, _ := x.(map[string]any)
		sys, _ := m["system"].(string)
		val, _ := m["value"].(string)
		if sys == "" || val == "" {
			continue
		}
		if t.sys == "" || sys == DoSServiceSystem {
			t.sys, t.val = sys, val
		}
	}
	if t.sys == "" {
		t.sys, t.val = s.cfg.CanonicalBase+"/sid/healthcareservice", svcID
	}
	return t, true, nil
}

// Enqueue writes the BaRS messages of a committed decision: the
// cancellation of the referral the decision revoked, then the referral of
// its allocation.
//
// written holds what the decision wrote, as stored: "task" the Task,
// "allocation" its allocation, "revoked" the allocation it revoked.
func (s *Service) Enqueue(ctx context.Context, tx store.Tx, practice string, written map[string][]byte) error {
	if s.host.Outbox() == nil || practice == "" {
		return nil
	}
	var task map[string]any
	if err := json.Unmarshal(written["task"], &task); err != nil {
		return fmt.Errorf("bars: %w", err)
	}
	taskID, _ := task["id"].(string)
	consent := ShareConsent(task)
	for _, k := range []string{"revoked", "allocation"} {
		if len(written[k]) == 0 {
			continue
		}
		var alloc map[string]any
		if err := json.Unmarshal(written[k], &alloc); err != nil {
			return fmt.Errorf("bars: %w", err)
		}
		reason := "new"
		if k == "revoked" {
			// Only an allocation that was committed (intent order, not a
			// proposal) was referred, so only that one is cancelled.
			if alloc["intent"] != "order" {
				continue
			}
			// Nor is one the patient did not agree to share.
			sent, err := s.referred(ctx, taskID, fmt.Sprint(alloc["id"]))
			if err != nil {
				return err
			}
			if !sent {
				continue
			}
			reason = "cancel"
		} else if alloc["status"] != "active" {
			continue // a proposal or a draft is not referred
		} else if consent != nil && !*consent {
			// The patient objected to their details going to the
			// service: nothing leaves, and the patient contacts the
			// service themselves, as when it has no BaRS Endpoint
			// ($navigate says so). A referral for the patient's direct
			// care needs no recorded agreement (implied consent); an
			// agreement recorded is sent as a Consent.
			continue
		}
		t, ok, err := s.TargetOf(ctx, tx, alloc)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		payload, err := s.message(ctx, tx, practice, task, alloc, t, reason)
		if err != nil {
			return err
		}
		if err := tx.Enqueue(ctx, store.Delivery{Endpoint: practice, TaskID: clinicalsystem.BaRSKey(taskID), Payload: payload,
			RequestID: requestid.FromContext(ctx)}); err != nil {
			return err
		}
	}
	return nil
}

// ProcessMessageURL is where services send their BaRS responses.
func (s *Service) ProcessMessageURL() string {
	base := s.cfg.PublicBase
	if base == "" {
		base = s.cfg.CanonicalBase
	}
	return base + "/$process-message"
}

// message builds the outbox payload of one referral message.
func (s *Service) message(ctx context.Context, tx store.Tx, practice string, task, alloc map[string]any, t Target, reason string) ([]byte, error) {
	allocID, _ := alloc["id"].(string)
	consent := ShareConsent(task)
	in := clinicalsystem.ReferralInput{Canonical: s.cfg.CanonicalBase, ProcessMessage: s.ProcessMessageURL(),
		MessageID: uuid.NewString(), Reason: reason, Now: s.host.Now(), Task: task, Allocation: alloc, Service: t.service,
		Practice: practice, TargetSystem: t.sys, TargetValue: t.val, ShareConsent: consent != nil && *consent}
	if f, ok := task["for"].(map[string]any); ok {
		if typ, id := splitRef(fmt.Sprint(f["reference"])); typ == "Patient" && fhir.ValidID(id) {
			if v, err := tx.Read(ctx, "Patient", id); err == nil {
				_ = json.Unmarshal(v.Body, &in.Patient)
			} else if _, ok := fhir.AsError(err); !ok {
				return nil, err
			}
		}
	}
	name, err := practiceName(ctx, tx, practice)
	if err != nil {
		return nil, err
	}
	in.PracticeName = name
	for _, si := range list(alloc["supportingInfo"]) {
		m, _ := si.(map[string]any)
		typ, id := splitRef(fmt.Sprint(m["reference"]))
		if typ != "Observation" || !fhir.ValidID(id) {
			continue
		}
		v, err := tx.Read(ctx, typ, id)
		if err != nil {
			if _, ok := fhir.AsError(err); ok {
				continue
			}
			return nil, err
		}
		var obs map[string]any
		if err := json.Unmarshal(v.Body, &obs); err == nil {
			in.NeedGroups = append(in.NeedGroups, obs)
		}
	}
	bundle, err := clinicalsystem.ReferralMessage(in)
	if err != nil {
		return nil, err
	}
	// Every message Signpost sends is R4, strictly.
	r, err := fhir.ParseResource(bundle)
	if err != nil {
		return nil, err
	}
	if err := s.host.Validate(ctx, r, true); err != nil {
		return nil, fmt.Errorf("bars: the referral message is not valid: %v", err)
	}
	return json.Marshal(clinicalsystem.BaRSMessage{Endpoint: t.endpoint, Service: fmt.Sprint(t.service["id"]),
		TargetSystem: t.sys, TargetValue: t.val, Practice: practice, PracticeName: name,
		Correlation: clinicalsystem.CorrelationID(allocID), Allocation: allocID, Reason: reason, MessageID: in.MessageID, Bundle: bundle})
}

// practiceName is the name of the Organization with ODS code ods ("" when
// there is none, or more than one).
func practiceName(ctx context.Context, tx store.Tx, ods string) (string, error) {
	q, err := search.ParseQuery("Organization", url.Values{"identifier": {clinicalsystem.ODSSystem + "|" + ods}}, true)
	if err != nil {
		return "", err
	}
	page, err := tx.Search(ctx, q, store.PageRequest{Count: 2})
	if err != nil || len(page.Matches) != 1 {
		return "", err
	}
	var org struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(page.Matches[0].Body, &org)
	return strings.TrimSpace(org.Name), nil
}

// ReferralWithheld tells whether the referral of a decision is withheld:
// the patient did not agree to share their details (task's
// share-consent is false) and the service allocation directs to takes
// BaRS referrals (TargetOf, read outside the decision's transaction).
func (s *Service) ReferralWithheld(ctx context.Context, task, allocation map[string]any) (bool, error) {
	if c := ShareConsent(task); c == nil || *c {
		return false, nil
	}
	_, ok, err := s.TargetOf(ctx, s.host.Store(), allocation)
	return ok, err
}

// ShareConsent is a navigation Task's share-consent input: nil when not
// recorded.
func ShareConsent(task map[string]any) *bool {
	for _, raw := range list(task["input"]) {
		m, _ := raw.(map[string]any)
		typ, _ := m["type"].(map[string]any)
		for _, c := range list(typ["coding"]) {
			cm, _ := c.(map[string]any)
			if cm["code"] == mapping.InputShareConsent && strings.HasSuffix(fmt.Sprint(cm["system"]), "/CodeSystem/"+snomed.NavigationInput) {
				if b, ok := m["valueBoolean"].(bool); ok {
					return &b
				}
			}
		}
	}
	return nil
}

// referred tells whether a referral request for the allocation was
// enqueued for a Task (so its revocation is to be sent as a
// cancellation).
func (s *Service) referred(ctx context.Context, taskID, allocID string) (bool, error) {
	outbox := s.host.Outbox()
	if outbox == nil {
		return false, nil
	}
	ds, err := outbox.Deliveries(ctx, clinicalsystem.BaRSKey(taskID))
	if err != nil {
		return false, err
	}
	for _, d := range ds {
		var m clinicalsystem.BaRSMessage
		if json.Unmarshal(d.Payload, &m) == nil && m.Allocation == allocID && m.Reason == "new" {
			return true, nil
		}
	}
	return false, nil
}
