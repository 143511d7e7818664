package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/gateway/requestid"
	"github.com/signpost-fhir/signpost/snomed"
)

// BaRS referrals, the receiving side (docs/bars.md): POST
// [base]/$process-message takes a service's response to a referral
// Signpost sent. An accepted referral marks the allocation and the Task;
// a patient turned away is re-navigated as a decline is, the service not
// chosen again for the request. Every message received is stored (a
// Bundle whose id derives from its MessageHeader id), so the same message
// twice has one effect and gets the same answer, across restarts.

// EventReferralResponse is the BaRS event of a service's response.
const EventReferralResponse = "servicerequest-response"

// barsReceiptSpace derives the stored ids of received messages.
var barsReceiptSpace = uuid.MustParse("0f6f3c1e-5d0a-4e55-9a39-6a3f0b2f7c41")

// barsTurnedAwayKey marks a re-navigation that follows a service turning
// the patient away.
type barsTurnedAwayKey struct{}

// StatusReferralAccepted is the navigation status of a Task whose
// referral the service accepted.
const StatusReferralAccepted = "referral-accepted"

// registerBaRSReceiver serves $process-message; nav re-navigates the
// patients services turn away.
func (s *Server) registerBaRSReceiver(nav *navigation) {
	s.RegisterOperation(Operation{Name: "process-message", Level: SystemLevel,
		Definition:  "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message",
		Permissions: []Permission{{"MessageHeader", auth.Create}},
		Message: func(ctx context.Context, in OperationInput) (*OperationAnswer, error) {
			return s.processMessage(ctx, nav, in)
		}})
}

// barsError is one of the standard's error answers.
type barsError struct {
	status int
	code   string // REC_BAD_REQUEST...
	issue  fhir.IssueCode
	why    string
}

func (e *barsError) Error() string { return e.code + ": " + e.why }

func barsBad(format string, a ...any) *barsError {
	return &barsError{http.StatusBadRequest, "REC_BAD_REQUEST", fhir.CodeInvalid, fmt.Sprintf(format, a...)}
}

func barsUnprocessable(format string, a ...any) *barsError {
	return &barsError{http.StatusUnprocessableEntity, "REC_UNPROCESSABLE_ENTITY", fhir.CodeProcessing, fmt.Sprintf(format, a...)}
}

// outcome is the OperationOutcome of the standard's shape.
func (e *barsError) outcome() []byte {
	b, _ := json.Marshal(map[string]any{"resourceType": "OperationOutcome", "id": uuid.NewString(),
		"issue": []any{map[string]any{"severity": "error", "code": string(e.issue),
			"details":     map[string]any{"coding": []any{map[string]any{"system": clinicalsystem.BaRSErrorSystem, "code": e.code}}},
			"diagnostics": e.why}}})
	return b
}

// barsResponse is what a received response says.
type barsResponse struct {
	headerID   string
	allocation string
	accepted   bool
	reason     string
}

// parseBaRSResponse reads a message Bundle; a barsError says why it is
// malformed (400) or not one this gateway can act on (422).
func (s *Server) parseBaRSResponse(ctx context.Context, body []byte) (*fhir.Resource, barsResponse, error) {
	var out barsResponse
	r, err := fhir.ParseResource(body)
	if err != nil {
		return nil, out, barsBad("the body is not a FHIR resource")
	}
	if r.Type() != "Bundle" {
		return nil, out, barsBad("the body is a %s, not a message Bundle", r.Type())
	}
	if err := s.validate(ctx, r, false); err != nil {
		return nil, out, barsBad("the message is not valid R4: %v", err)
	}
	obj := r.Object()
	if obj["type"] != "message" {
		return nil, out, barsBad("the Bundle is not of type message")
	}
	entries := listOf(obj["entry"])
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
		return nil, out, barsBad("the message does not start with its MessageHeader")
	}
	out.headerID, _ = hdr["id"].(string)
	if !fhir.ValidID(out.headerID) {
		return nil, out, barsBad("the MessageHeader has no id")
	}
	ev, _ := hdr["eventCoding"].(map[string]any)
	if ev["system"] != clinicalsystem.BaRSEventSystem || ev["code"] != EventReferralResponse {
		return nil, out, barsUnprocessable("event %v|%v is not served here: this endpoint takes responses (%s) to referrals Signpost sent", ev["system"], ev["code"], EventReferralResponse)
	}
	var sr map[string]any
	for _, f := range listOf(hdr["focus"]) {
		fm, _ := f.(map[string]any)
		if res := byURL[fmt.Sprint(fm["reference"])]; res != nil && res["resourceType"] == "ServiceRequest" {
			sr = res
		}
	}
	if sr == nil {
		return nil, out, barsBad("the MessageHeader's focus is not a ServiceRequest of the message")
	}
	allocSys := s.opts.CanonicalBase + "/sid/allocation"
	for _, x := range listOf(sr["identifier"]) {
		xm, _ := x.(map[string]any)
		if xm["system"] == allocSys {
			out.allocation, _ = xm["value"].(string)
		}
	}
	if !fhir.ValidID(out.allocation) {
		return nil, out, barsUnprocessable("the ServiceRequest has no identifier %s: it is not a referral Signpost sent", allocSys)
	}
	code := ""
	if resp, ok := hdr["response"].(map[string]any); ok {
		code, _ = resp["code"].(string)
		if d, ok := resp["details"].(map[string]any); ok {
			if oo := byURL[fmt.Sprint(d["reference"])]; oo != nil {
				for _, is := range listOf(oo["issue"]) {
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
	for _, n := range listOf(sr["note"]) {
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
		return nil, out, barsUnprocessable("a response with code %q and ServiceRequest status %q says neither accepted nor turned away", code, status)
	}
	return r, out, nil
}

// processMessage serves POST [base]/$process-message.
func (s *Server) processMessage(ctx context.Context, nav *navigation, in OperationInput) (*OperationAnswer, error) {
	hdr := http.Header{"Content-Type": {"application/fhir+json"}}
	for _, h := range []string{"X-Request-ID", "X-Correlation-ID"} {
		if v := in.Header.Get(h); v != "" && len(v) <= 64 {
			hdr.Set(h, v)
		}
	}
	fail := func(e *barsError) (*OperationAnswer, error) {
		answer, _ := s.barsRefusal(ctx, e, hdr)
		return answer, nil
	}
	for _, h := range []string{"X-Request-ID", "X-Correlation-ID"} {
		if _, err := uuid.Parse(in.Header.Get(h)); err != nil {
			return fail(barsBad("the %s header must be a UUID", h))
		}
	}
	if ref, err := s.parseBaRSReferral(ctx, nav, in.Header, in.Body); err != nil || ref != nil {
		var be *barsError
		if errors.As(err, &be) {
			return fail(be)
		}
		if err != nil {
			return nil, err
		}
		sender, be := barsSender(in.Principal, ref)
		if be != nil {
			return fail(be)
		}
		ref.sender = sender
		if ref.change != "" {
			return s.receiveReferralChange(ctx, nav, in, hdr, ref)
		}
		return s.receiveReferral(ctx, nav, in, hdr, ref)
	}
	_, resp, err := s.parseBaRSResponse(ctx, in.Body)
	var be *barsError
	if errors.As(err, &be) {
		return fail(be)
	}
	if err != nil {
		return nil, err
	}
	if in.Header.Get("X-Correlation-ID") != clinicalsystem.CorrelationID(resp.allocation) {
		return fail(barsUnprocessable("X-Correlation-ID is not the correlation id of the referral the message answers"))
	}
	// The referral, as the system reads it (the caller's rights are
	// checked against it below).
	v, err := s.store.Read(ctx, "ServiceRequest", resp.allocation)
	if errors.Is(err, fhir.ErrNotFound) || errors.Is(err, fhir.ErrDeleted) {
		return fail(barsUnprocessable("no referral ServiceRequest/%s", resp.allocation))
	}
	if err != nil {
		return nil, err
	}
	alloc, err := navDecode(v.Body)
	if err != nil {
		return nil, err
	}
	practices := s.practicesOf(v.Body)
	if len(practices) != 1 {
		return fail(barsUnprocessable("the referral has no practice"))
	}
	practice := practices[0]
	t, ok, err := s.barsTargetOf(ctx, s.store, alloc)
	if err != nil {
		return nil, err
	}
	if !ok || alloc["intent"] != "order" {
		return fail(barsUnprocessable("ServiceRequest/%s was not referred by BaRS", resp.allocation))
	}
	if !s.mayAnswerFor(ctx, in.Principal, practice, t.service) {
		return nil, fhir.Errorf(fhir.CodeForbidden, "the caller acts neither for the practice nor for the service the referral went to").WithStatus(http.StatusForbidden)
	}
	taskID, err := s.taskOfAllocation(ctx, resp.allocation)
	if err != nil {
		return nil, err
	}
	if taskID == "" {
		return fail(barsUnprocessable("no navigation Task for ServiceRequest/%s", resp.allocation))
	}
	receipt := uuid.NewSHA1(barsReceiptSpace, []byte("received/"+resp.headerID)).String()
	answer := func(stored store.Version) (*OperationAnswer, error) {
		body, err := s.barsAck(resp.headerID, receipt, stored.LastUpdated.UTC().Format(fhir.InstantFormat))
		if err != nil {
			return nil, err
		}
		return &OperationAnswer{Status: http.StatusOK, Header: hdr, Body: body}, nil
	}
	var (
		stored    store.Version
		duplicate bool
		renav     bool
	)
	err = s.store.Transaction(ctx, func(tx store.Tx) error {
		duplicate, renav = false, false
		if prev, seen, err := s.barsReceived(ctx, tx, in, receipt, practice); err != nil || seen {
			stored, duplicate = prev, seen
			return err
		}
		// Current versions, read in the transaction.
		sv, err := tx.Read(ctx, "ServiceRequest", resp.allocation)
		if err != nil {
			return err
		}
		cur, err := navDecode(sv.Body)
		if err != nil {
			return err
		}
		tv, err := tx.Read(ctx, "Task", taskID)
		if err != nil {
			return err
		}
		task, err := navDecode(tv.Body)
		if err != nil {
			return err
		}
		now := s.opts.Now().UTC().Format(fhir.InstantFormat)
		svcName := fmt.Sprint(t.service["name"])
		current := cur["status"] == "active" && taskAllocation(task) == "ServiceRequest/"+resp.allocation
		if current {
			if resp.accepted {
				cur["note"] = append(listOf(cur["note"]), map[string]any{"time": now,
					"text": "Referral accepted by " + svcName + " (BaRS message " + resp.headerID + ")"})
				r, err := fhir.ResourceFromObject(cur)
				if err != nil {
					return err
				}
				if _, err := tx.Update(ctx, r, store.Precondition{IfMatch: sv.VersionID}); err != nil {
					return err
				}
				task["businessStatus"] = map[string]any{"coding": []any{map[string]any{"system": nav.names.System(snomed.NavigationStatus), "code": StatusReferralAccepted, "display": "Referral accepted"}},
					"text": "Referral accepted by " + svcName}
			} else {
				why := "turned away by " + svcName
				if resp.reason != "" {
					why += ": " + resp.reason
				}
				task["businessStatus"] = map[string]any{"coding": []any{map[string]any{"system": nav.names.System(snomed.NavigationStatus), "code": "declined", "display": "Declined"}}}
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
		stored, err = s.storeBaRSReceipt(ctx, tx, in, receipt, practice)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "bars response", slog.String("task", taskID), slog.Bool("accepted", resp.accepted),
		slog.Bool("duplicate", duplicate))
	if renav {
		s.barsRenavigate(ctx, nav, in.Principal, practice, taskID)
	}
	return answer(stored)
}

// barsRenavigate navigates again a Task whose patient the service turned
// away, as a decline is: the protocol decides, the service is not chosen
// again, the allocation is revoked. It acts for the practice. A failure
// leaves the Task declined, to be navigated as any declined Task is.
func (s *Server) barsRenavigate(ctx context.Context, nav *navigation, caller *auth.Principal, practice, taskID string) {
	scope, _ := auth.ParseScope("system/*.cruds")
	// Signpost itself, acting for the practice on the service's answer
	// (the decision's Provenance names it as the enterer).
	p := &auth.Principal{Subject: "bars-response", ClientID: caller.ClientID, Issuer: s.opts.CanonicalBase, Scopes: []auth.Scope{scope},
		ODS: []string{practice}, Tier: auth.TierExpert, Roles: []auth.Role{auth.RoleNavigator}}
	nctx := context.WithValue(auth.NewContext(ctx, p), barsTurnedAwayKey{}, true)
	// Audited as any $navigate is, in the decision's transaction.
	req := &request{ctx: nctx, method: http.MethodPost, typ: "Task", id: taskID, principal: p, requestID: requestid.FromContext(ctx)}
	audit := auditFor("operation", "E", req)
	audit.operation = "navigate"
	audit.status = http.StatusOK
	in := OperationInput{Type: "Task", ID: taskID, Params: &fhir.Parameters{}, Principal: p,
		AuditIn: func(ctx context.Context, tx store.Tx) error { return s.recordAudit(ctx, tx, req, audit) }}
	if _, err := nav.navigate(nctx, in); err != nil {
		code := "internal"
		if fe, ok := fhir.AsError(err); ok {
			code = string(fe.Code())
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "bars re-navigation failed", slog.String("task", taskID), slog.String("code", code))
	}
}

// taskAllocation is the allocation a navigation Task's output names.
func taskAllocation(task map[string]any) string {
	for _, o := range listOf(task["output"]) {
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
func (s *Server) taskOfAllocation(ctx context.Context, alloc string) (string, error) {
	q, err := search.ParseQuery("Provenance", url.Values{"target": {"ServiceRequest/" + alloc}}, true)
	if err != nil {
		return "", err
	}
	page, err := s.store.Search(ctx, q, store.PageRequest{Count: 10})
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
func (s *Server) mayAnswerFor(ctx context.Context, p *auth.Principal, practice string, service map[string]any) bool {
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
	if typ, id := navSplitRef(fmt.Sprint(pb["reference"])); typ == "Organization" && fhir.ValidID(id) {
		if v, err := s.store.Read(ctx, "Organization", id); err == nil {
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

// barsAck is the answer to a message received: a message Bundle whose
// MessageHeader responds to it (ok). It is built from what was stored, so
// the same message received again gets the same answer.
func (s *Server) barsAck(headerID, receipt, at string) ([]byte, error) {
	id := uuid.NewSHA1(barsReceiptSpace, []byte("answer/"+headerID)).String()
	return fhir.Generate(map[string]any{"resourceType": "Bundle", "id": id, "type": "message", "timestamp": at,
		"entry": []any{map[string]any{"fullUrl": "urn:uuid:" + id, "resource": map[string]any{
			"resourceType": "MessageHeader", "id": id,
			"eventCoding": map[string]any{"system": clinicalsystem.BaRSEventSystem, "code": EventReferralResponse},
			"source":      map[string]any{"name": "Signpost", "software": "Signpost", "endpoint": s.processMessageURL()},
			"response":    map[string]any{"identifier": headerID, "code": "ok"},
		}}}})
}

// storeBaRSReceipt stores a received BaRS message as Bundle/receipt of
// the practice, and audits it, in the message's transaction.
func (s *Server) storeBaRSReceipt(ctx context.Context, tx store.Tx, in OperationInput, receipt, practice string) (store.Version, error) {
	rec, err := fhir.ParseResource(in.Body)
	if err != nil {
		return store.Version{}, err
	}
	rec.SetID(receipt)
	s.setPracticeLabel(rec, practice)
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

// barsRefusal is the BaRS answer to err when it is a BaRS refusal (its
// OperationOutcome, with the request's mirrored headers), logged without
// the message.
func (s *Server) barsRefusal(ctx context.Context, err error, hdr http.Header) (*OperationAnswer, bool) {
	var be *barsError
	if !errors.As(err, &be) {
		return nil, false
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "bars message refused", slog.String("code", be.code), slog.Int("status", be.status))
	return &OperationAnswer{Status: be.status, Header: hdr, Body: be.outcome()}, true
}

// barsReceived takes the received message's lock in tx and reports
// whether it was already received (its stored receipt, audited as read):
// the same MessageHeader id has one effect, and its repeat the same answer.
func (s *Server) barsReceived(ctx context.Context, tx store.Tx, in OperationInput, receipt, practice string) (store.Version, bool, error) {
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
