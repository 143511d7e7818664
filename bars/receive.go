package bars

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/snomed"
)

// BaRS referrals, the receiving side (docs/bars.md): POST
// [base]/$process-message takes a service's response to a referral
// Signpost sent. An accepted referral marks the allocation and the Task;
// a patient turned away is re-navigated as a decline is, the service not
// chosen again for the request. Every message received is stored (a
// Bundle whose id derives from its MessageHeader id), so the same message
// twice has one effect and gets the same answer, across restarts.

// receiptSpace derives the stored ids of received messages.
var receiptSpace = uuid.MustParse("0f6f3c1e-5d0a-4e55-9a39-6a3f0b2f7c41")

// StatusReferralAccepted is the navigation status of a Task whose
// referral the service accepted.
const StatusReferralAccepted = "referral-accepted"

// Message is one message received at $process-message.
type Message struct {
	Body []byte
	// RequestID, CorrelationID and TargetIdentifier are the request's
	// X-Request-ID, X-Correlation-ID and NHSD-Target-Identifier headers.
	RequestID, CorrelationID, TargetIdentifier string
	// Principal is the caller.
	Principal *auth.Principal
	// AuditIn records the operation's AuditEvent on tx, in the message's
	// transaction; AuditAbout names what it is about (call before
	// AuditIn). Either may be nil.
	AuditIn    func(ctx context.Context, tx store.Tx) error
	AuditAbout func(typ, id string, version int64, practices ...string)
}

// response is what a received response says.
type response struct {
	headerID   string
	allocation string
	accepted   bool
	reason     string
}

// parseResponse reads a message Bundle; an *Error says why it is
// malformed (Bad) or not one this gateway can act on (Unprocessable).
func (s *Service) parseResponse(ctx context.Context, body []byte) (*fhir.Resource, response, error) {
	var out response
	r, err := fhir.ParseResource(body)
	if err != nil {
		return nil, out, Bad("the body is not a FHIR resource")
	}
	if r.Type() != "Bundle" {
		return nil, out, Bad("the body is a %s, not a message Bundle", r.Type())
	}
	if err := s.host.Validate(ctx, r, false); err != nil {
		return nil, out, Bad("the message is not valid R4: %v", err)
	}
	obj := r.Object()
	if obj["type"] != "message" {
		return nil, out, Bad("the Bundle is not of type message")
	}
	entries := list(obj["entry"])
	byURL := map[string]map[string]any{}
	for _, e := range entries {
		em, _ := e.(map[string]any)
		res, _ := em["resource"].(map[string]any)
		if u, _ := em["fullUrl"].(string); u != "" && res != nil {
			byURL[u] = res
		}
	}
	var hdr map[string]any
	if len(entries) > 0 {
		em, _ := entries[0].(map[string]any)
		hdr, _ = em["resource"].(map[string]any)
	}
	if hdr == nil || hdr["resourceType"] != "MessageHeader" {
		return nil, out, Bad("the message does not start with its MessageHeader")
	}
	out.headerID, _ = hdr["id"].(string)
	if !fhir.ValidID(out.headerID) {
		return nil, out, Bad("the MessageHeader has no id")
	}
	ev, _ := hdr["eventCoding"].(map[string]any)
	if ev["system"] != clinicalsystem.BaRSEventSystem || ev["code"] != clinicalsystem.EventReferralResponse {
		return nil, out, Unprocessable("event %v|%v is not served here: this endpoint takes responses (%s) to referrals Signpost sent", ev["system"], ev["code"], clinicalsystem.EventReferralResponse)
	}
	var sr map[string]any
	for _, f := range list(hdr["focus"]) {
		fm, _ := f.(map[string]any)
		if res := byURL[fmt.Sprint(fm["reference"])]; res != nil && res["resourceType"] == "ServiceRequest" {
			sr = res
		}
	}
	if sr == nil {
		return nil, out, Bad("the MessageHeader's focus is not a ServiceRequest of the message")
	}
	allocSys := s.cfg.CanonicalBase + "/sid/allocation"
	for _, x := range list(sr["identifier"]) {
		xm, _ := x.(map[string]any)
		if xm["system"] == allocSys {
			out.allocation, _ = xm["value"].(string)
		}
	}
	if !fhir.ValidID(out.allocation) {
		return nil, out, Unprocessable("the ServiceRequest has no identifier %s: it is not a referral Signpost sent", allocSys)
	}
	code := ""
	if resp, ok := hdr["response"].(map[string]any); ok {
		code, _ = resp["code"].(string)
		if d, ok := resp["details"].(map[string]any); ok {
			if oo := byURL[fmt.Sprint(d["reference"])]; oo != nil {
				for _, is := range list(oo["issue"]) {
					im, _ := is.(map[string]any)
					dm, _ := im["details"].(map[string]any)
					if t, _ := dm["text"].(string); t != "" {
						out.reason = t
					} else if t, _ := im["diagnostics"].(string); t != "" && out.reason == "" {
						out.reason = t
					}
				}
			}
		}
	}
	var notes []string
	for _, n := range list(sr["note"]) {
		nm, _ := n.(map[string]any)
		if t, _ := nm["text"].(string); strings.TrimSpace(t) != "" {
			notes = append(notes, strings.TrimSpace(t))
		}
	}
	if out.reason == "" {
		out.reason = strings.Join(notes, "; ")
	}
	status, _ := sr["status"].(string)
	switch {
	case code == "fatal-error" || status == "revoked" || status == "entered-in-error":
		out.accepted = false
	case (code == "" || code == "ok") && (status == "active" || status == "completed"):
		out.accepted = true
	default:
		return nil, out, Unprocessable("a response with code %q and ServiceRequest status %q says neither accepted nor turned away", code, status)
	}
	return r, out, nil
}

// ProcessMessage takes a message received at POST [base]/$process-message
// and returns the acknowledgement to answer it with. An *Error is the
// standard's refusal of the message (its OperationOutcome, Error.Outcome,
// is the answer); other errors are the gateway's to answer.
func (s *Service) ProcessMessage(ctx context.Context, nav Navigator, in Message) ([]byte, error) {
	for _, h := range []struct{ name, value string }{{"X-Request-ID", in.RequestID}, {"X-Correlation-ID", in.CorrelationID}} {
		if _, err := uuid.Parse(h.value); err != nil {
			return nil, Bad("the %s header must be a UUID", h.name)
		}
	}
	if ref, err := s.parseReferral(ctx, nav, in.TargetIdentifier, in.Body); err != nil || ref != nil {
		if err != nil {
			return nil, err
		}
		sender, be := senderFor(in.Principal, ref)
		if be != nil {
			return nil, be
		}
		ref.sender = sender
		if ref.change != "" {
			return s.receiveChange(ctx, nav, in, ref)
		}
		return s.receiveReferral(ctx, nav, in, ref)
	}
	_, resp, err := s.parseResponse(ctx, in.Body)
	if err != nil {
		return nil, err
	}
	if in.CorrelationID != clinicalsystem.CorrelationID(resp.allocation) {
		return nil, Unprocessable("X-Correlation-ID is not the correlation id of the referral the message answers")
	}
	st := s.host.Store()
	// The referral, as the system reads it (the caller's rights are
	// checked against it below).
	v, err := st.Read(ctx, "ServiceRequest", resp.allocation)
	if errors.Is(err, fhir.ErrNotFound) || errors.Is(err, fhir.ErrDeleted) {
		return nil, Unprocessable("no referral ServiceRequest/%s", resp.allocation)
	}
	if err != nil {
		return nil, err
	}
	alloc, err := decode(v.Body)
	if err != nil {
		return nil, err
	}
	practices := s.host.PracticesOf(v.Body)
	if len(practices) != 1 {
		return nil, Unprocessable("the referral has no practice")
	}
	practice := practices[0]
	t, ok, err := s.TargetOf(ctx, st, alloc)
	if err != nil {
		return nil, err
	}
	if !ok || alloc["intent"] != "order" {
		return nil, Unprocessable("ServiceRequest/%s was not referred by BaRS", resp.allocation)
	}
	if !s.mayAnswerFor(ctx, in.Principal, practice, t.service) {
		return nil, fhir.Errorf(fhir.CodeForbidden, "the caller acts neither for the practice nor for the service the referral went to")
	}
	taskID, err := s.taskOfAllocation(ctx, resp.allocation)
	if err != nil {
		return nil, err
	}
	if taskID == "" {
		return nil, Unprocessable("no navigation Task for ServiceRequest/%s", resp.allocation)
	}
	receipt := uuid.NewSHA1(receiptSpace, []byte("received/"+resp.headerID)).String()
	var (
		stored    store.Version
		duplicate bool
		renav     bool
	)
	err = st.Transaction(ctx, func(tx store.Tx) error {
		duplicate, renav = false, false
		if prev, seen, err := s.received(ctx, tx, in, receipt, practice); err != nil || seen {
			stored, duplicate = prev, seen
			return err
		}
		// Current versions, read in the transaction.
		sv, err := tx.Read(ctx, "ServiceRequest", resp.allocation)
		if err != nil {
			return err
		}
		cur, err := decode(sv.Body)
		if err != nil {
			return err
		}
		tv, err := tx.Read(ctx, "Task", taskID)
		if err != nil {
			return err
		}
		task, err := decode(tv.Body)
		if err != nil {
			return err
		}
		now := s.host.Now().UTC().Format(fhir.InstantFormat)
		svcName := fmt.Sprint(t.service["name"])
		current := cur["status"] == "active" && taskAllocation(task) == "ServiceRequest/"+resp.allocation
		if current {
			if resp.accepted {
				cur["note"] = append(list(cur["note"]), map[string]any{"time": now,
					"text": "Referral accepted by " + svcName + " (BaRS message " + resp.headerID + ")"})
				r, err := fhir.ResourceFromObject(cur)
				if err != nil {
					return err
				}
				if _, err := tx.Update(ctx, r, store.Precondition{IfMatch: sv.VersionID}); err != nil {
					return err
				}
				task["businessStatus"] = map[string]any{"coding": []any{map[string]any{"system": nav.Names().System(snomed.NavigationStatus), "code": StatusReferralAccepted, "display": "Referral accepted"}},
					"text": "Referral accepted by " + svcName}
			} else {
				why := "turned away by " + svcName
				if resp.reason != "" {
					why += ": " + resp.reason
				}
				task["businessStatus"] = map[string]any{"coding": []any{map[string]any{"system": nav.Names().System(snomed.NavigationStatus), "code": "declined", "display": "Declined"}}}
				task["statusReason"] = map[string]any{"text": why}
				renav = true
			}
			r, err := fhir.ResourceFromObject(task)
			if err != nil {
				return err
			}
			if _, err := tx.Update(ctx, r, store.Precondition{IfMatch: tv.VersionID}); err != nil {
				return err
			}
		}
		stored, err = s.storeReceipt(ctx, tx, in, receipt, practice)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.cfg.Log.LogAttrs(ctx, slog.LevelInfo, "bars response", slog.String("task", taskID), slog.Bool("accepted", resp.accepted),
		slog.Bool("duplicate", duplicate))
	if renav {
		s.renavigate(ctx, nav, in.Principal, practice, taskID)
	}
	return s.ack(resp.headerID, receipt, stored.LastUpdated.UTC().Format(fhir.InstantFormat))
}

// renavigate navigates again a Task whose patient the service turned
// away, as a decline is: the protocol decides, the service is not chosen
// again, the allocation is revoked. It acts for the practice, audited as
// any $navigate is, in the decision's transaction. A failure leaves the
// Task declined, to be navigated as any declined Task is.
func (s *Service) renavigate(ctx context.Context, nav Navigator, caller *auth.Principal, practice, taskID string) {
	scope, _ := auth.ParseScope("system/*.cruds")
	// Signpost itself, acting for the practice on the service's answer
	// (the decision's Provenance names it as the enterer).
	p := &auth.Principal{Subject: "bars-response", ClientID: caller.ClientID, Issuer: s.cfg.CanonicalBase, Scopes: []auth.Scope{scope},
		ODS: []string{practice}, Tier: auth.TierExpert, Roles: []auth.Role{auth.RoleNavigator}}
	if err := nav.Navigate(ctx, Navigation{Principal: p, Task: taskID, Params: &fhir.Parameters{}, TurnedAway: true}); err != nil {
		code := "internal"
		if fe, ok := fhir.AsError(err); ok {
			code = string(fe.Code())
		}
		s.cfg.Log.LogAttrs(ctx, slog.LevelWarn, "bars re-navigation failed", slog.String("task", taskID), slog.String("code", code))
	}
}

// taskAllocation is the allocation a navigation Task's output names.
func taskAllocation(task map[string]any) string {
	for _, o := range list(task["output"]) {
		m, _ := o.(map[string]any)
		if ref, ok := m["valueReference"].(map[string]any); ok {
			if r, _ := ref["reference"].(string); strings.HasPrefix(r, "ServiceRequest/") {
				return r
			}
		}
	}
	return ""
}

// taskOfAllocation finds the navigation Task a committed allocation was
// decided for, by the decision's Provenance.
func (s *Service) taskOfAllocation(ctx context.Context, alloc string) (string, error) {
	q, err := search.ParseQuery("Provenance", url.Values{"target": {"ServiceRequest/" + alloc}}, true)
	if err != nil {
		return "", err
	}
	page, err := s.host.Store().Search(ctx, q, store.PageRequest{Count: 10})
	if err != nil {
		return "", err
	}
	for _, m := range page.Matches {
		var pv struct {
			Entity []struct {
				Role string
				What struct{ Reference string }
			}
		}
		_ = json.Unmarshal(m.Body, &pv)
		for _, e := range pv.Entity {
			// Task/[id]/_history/[version], the request as assessed.
			parts := strings.Split(e.What.Reference, "/")
			if len(parts) >= 2 && parts[0] == "Task" && fhir.ValidID(parts[1]) {
				return parts[1], nil
			}
		}
	}
	return "", nil
}

// mayAnswerFor: the caller acts for the practice, or for the
// organisation providing the service (by ODS code).
func (s *Service) mayAnswerFor(ctx context.Context, p *auth.Principal, practice string, service map[string]any) bool {
	if p == nil {
		return false
	}
	if p.CanSeePractice(practice) {
		return true
	}
	pb, _ := service["providedBy"].(map[string]any)
	if id, ok := pb["identifier"].(map[string]any); ok && id["system"] == clinicalsystem.ODSSystem {
		if v, _ := id["value"].(string); v != "" && p.CanSeePractice(strings.ToUpper(v)) {
			return true
		}
	}
	if typ, id := splitRef(fmt.Sprint(pb["reference"])); typ == "Organization" && fhir.ValidID(id) {
		if v, err := s.host.Store().Read(ctx, "Organization", id); err == nil {
			var org struct {
				Identifier []struct{ System, Value string }
			}
			_ = json.Unmarshal(v.Body, &org)
			for _, x := range org.Identifier {
				if x.System == clinicalsystem.ODSSystem && x.Value != "" && p.CanSeePractice(strings.ToUpper(x.Value)) {
					return true
				}
			}
		}
	}
	return false
}

// ack is the answer to a message received: a message Bundle whose
// MessageHeader responds to it (ok). It is built from what was stored, so
// the same message received again gets the same answer.
func (s *Service) ack(headerID, receipt, at string) ([]byte, error) {
	id := uuid.NewSHA1(receiptSpace, []byte("answer/"+headerID)).String()
	return fhir.Generate(map[string]any{"resourceType": "Bundle", "id": id, "type": "message", "timestamp": at,
		"entry": []any{map[string]any{"fullUrl": "urn:uuid:" + id, "resource": map[string]any{
			"resourceType": "MessageHeader", "id": id,
			"eventCoding": map[string]any{"system": clinicalsystem.BaRSEventSystem, "code": clinicalsystem.EventReferralResponse},
			"source":      map[string]any{"name": "Signpost", "software": "Signpost", "endpoint": s.ProcessMessageURL()},
			"response":    map[string]any{"identifier": headerID, "code": "ok"},
		}}}})
}

// storeReceipt stores a received BaRS message as Bundle/receipt of
// the practice, and audits it, in the message's transaction.
func (s *Service) storeReceipt(ctx context.Context, tx store.Tx, in Message, receipt, practice string) (store.Version, error) {
	rec, err := fhir.ParseResource(in.Body)
	if err != nil {
		return store.Version{}, err
	}
	rec.SetID(receipt)
	s.host.SetPracticeLabel(rec, practice)
	w, err := tx.Create(ctx, rec)
	if err != nil {
		return store.Version{}, err
	}
	if in.AuditAbout != nil {
		in.AuditAbout("Bundle", receipt, w.Version.VersionID, practice)
	}
	if in.AuditIn != nil {
		if err := in.AuditIn(ctx, tx); err != nil {
			return store.Version{}, err
		}
	}
	return w.Version, nil
}

// received takes the received message's lock in tx and reports
// whether it was already received (its stored receipt, audited as read):
// the same MessageHeader id has one effect, and its repeat the same answer.
func (s *Service) received(ctx context.Context, tx store.Tx, in Message, receipt, practice string) (store.Version, bool, error) {
	if err := tx.Lock(ctx, "bars-received/"+receipt); err != nil {
		return store.Version{}, false, err
	}
	prev, err := tx.Read(ctx, "Bundle", receipt)
	if err == nil {
		if in.AuditAbout != nil {
			in.AuditAbout("Bundle", receipt, prev.VersionID, practice)
		}
		return prev, true, nil
	}
	if _, ok := fhir.AsError(err); !ok {
		return store.Version{}, false, err
	}
	return store.Version{}, false, nil
}
