package bars

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
)

// The demo Pharmacy First's BaRS receiver: in development mode the gateway
// serves a stand-in for the demo pharmacy's own system, so that a reader
// sees a referral leave and the pharmacy's response come back (the
// gateway serves its routes, DemoPath, and sends its responses).
//
//	POST /demo/pharmacy-first/bars/$process-message   receives BaRS referral messages
//	GET  /demo/pharmacy-first/bars                    shows what arrived and what was answered (HTML)
//
// The Endpoint demo-pharmacy-first-bars (a BaRS messaging Endpoint at this
// receiver) is seeded and listed by the demo HealthcareService
// demo-pharmacy-first. A referral request (reason new) is acknowledged at
// once; the receiver then sends its response to the gateway's own
// POST [base]/$process-message: accepted, or the patient turned away, as
// the rule says (DemoAccept, DemoTurnAway). A cancellation is
// acknowledged only. Kept in memory, never logged.

// DemoPath is where the demo Pharmacy First's receiver listens.
const DemoPath = "/demo/pharmacy-first/bars"

// DemoEndpointID is the id of its seeded Endpoint.
const DemoEndpointID = "demo-pharmacy-first-bars"

// The demo receiver's rules.
const (
	DemoAccept   = "accept"
	DemoTurnAway = "turn-away"
)

// demoTurnAwayReason is the reason the demo pharmacy gives.
const demoTurnAwayReason = "No Pharmacy First consultations available today (demo rule)"

// demoLogSize is how many messages the demo receiver keeps.
const demoLogSize = 100

// DemoOptions configure the demo receiver.
type DemoOptions struct {
	// Base is the gateway's own address as the delivery workers and the
	// receiver reach it (http://127.0.0.1:8080): the receiver listens at
	// Base+DemoPath and answers to Base+"/fhir/$process-message".
	Base string
	// Rule is DemoAccept (the default) or DemoTurnAway.
	Rule string
	// Send posts a response message to url with the referral's
	// correlation id, and returns the status it was answered with
	// ("200 OK").
	Send func(url, correlation string, body []byte) (string, error)
}

// Demo is the demo Pharmacy First's receiver.
type Demo struct {
	opts      DemoOptions
	canonical string
	now       func() time.Time
	mu        sync.Mutex
	log       []DemoItem
	wg        sync.WaitGroup
}

// DemoItem is one message the demo receiver took.
type DemoItem struct {
	Received time.Time
	Reason   string // new, cancel
	Referral string // the allocation id
	Answer   string // what the pharmacy answered, and how that was taken
}

// ServeDemo makes the demo Pharmacy First's BaRS receiver and connects the
// demo HealthcareService to it (seeding its Endpoint). The demo content
// must be seeded.
func (s *Service) ServeDemo(ctx context.Context, opts DemoOptions) (*Demo, error) {
	switch opts.Rule {
	case "":
		opts.Rule = DemoAccept
	case DemoAccept, DemoTurnAway:
	default:
		return nil, fmt.Errorf("demo BaRS rule %q: want %s or %s", opts.Rule, DemoAccept, DemoTurnAway)
	}
	base := strings.TrimSuffix(opts.Base, "/")
	opts.Base = base
	ep, err := fhir.ResourceFromObject(map[string]any{
		"resourceType": "Endpoint", "id": DemoEndpointID, "status": "active",
		"name":           "Demo Pharmacy First BaRS receiver (the gateway's own, development mode)",
		"connectionType": map[string]any{"system": clinicalsystem.ConnectionTypeSystem, "code": "hl7-fhir-msg"},
		"payloadType": []any{map[string]any{"coding": []any{map[string]any{"system": clinicalsystem.BaRSEventSystem,
			"code": clinicalsystem.EventReferralRequest}}}},
		"address": base + DemoPath,
	})
	if err != nil {
		return nil, err
	}
	st := s.host.Store()
	if _, err := st.Update(ctx, ep, store.Precondition{}); err != nil {
		return nil, fmt.Errorf("demo BaRS receiver: %w", err)
	}
	v, err := st.Read(ctx, "HealthcareService", "demo-pharmacy-first")
	if err != nil {
		return nil, fmt.Errorf("demo BaRS receiver: the demo Pharmacy First: %w", err)
	}
	hs, err := fhir.ParseResource(v.Body)
	if err != nil {
		return nil, err
	}
	ref := "Endpoint/" + DemoEndpointID
	if !strings.Contains(fmt.Sprint(hs.Object()["endpoint"]), ref) {
		hs.Object()["endpoint"] = append(list(hs.Object()["endpoint"]), map[string]any{"reference": ref})
		if _, err := st.Update(ctx, hs, store.Precondition{IfMatch: v.VersionID}); err != nil {
			return nil, fmt.Errorf("demo BaRS receiver: %w", err)
		}
	}
	if !s.host.EndpointAllowed(base + DemoPath) {
		s.cfg.Log.LogAttrs(ctx, slog.LevelWarn, "the demo BaRS receiver is not on the outbound allow-list (SIGNPOST_OUTBOUND_ENDPOINTS): referrals to the demo Pharmacy First will be dead letters")
	}
	return &Demo{opts: opts, canonical: s.cfg.CanonicalBase, now: s.host.Now}, nil
}

// Rule is the demo receiver's rule.
func (d *Demo) Rule() string { return d.opts.Rule }

// Items are the messages received, newest first.
func (d *Demo) Items() []DemoItem {
	d.mu.Lock()
	defer d.mu.Unlock()
	items := make([]DemoItem, len(d.log))
	for i, it := range d.log {
		items[len(d.log)-1-i] = it
	}
	return items
}

// Receive takes a message sent to the demo pharmacy with the referral's
// correlation id (a UUID) and returns its acknowledgement; an *Error is
// the standard's refusal. A new referral is answered later, by the rule,
// through DemoOptions.Send.
func (d *Demo) Receive(correlation string, body []byte) ([]byte, error) {
	var msg struct {
		ResourceType, Type string
		Entry              []struct {
			FullURL  string
			Resource map[string]any
		}
	}
	if json.Unmarshal(body, &msg) != nil || msg.ResourceType != "Bundle" || msg.Type != "message" || len(msg.Entry) == 0 ||
		msg.Entry[0].Resource["resourceType"] != "MessageHeader" {
		return nil, Bad("%s", "not a message Bundle led by its MessageHeader")
	}
	hdr := msg.Entry[0].Resource
	ev, _ := hdr["eventCoding"].(map[string]any)
	if ev["system"] != clinicalsystem.BaRSEventSystem || ev["code"] != clinicalsystem.EventReferralRequest {
		return nil, Unprocessable("the demo pharmacy takes referral requests only")
	}
	reason := ""
	if r, ok := hdr["reason"].(map[string]any); ok {
		for _, x := range list(r["coding"]) {
			m, _ := x.(map[string]any)
			reason, _ = m["code"].(string)
		}
	}
	var sr map[string]any
	for _, e := range msg.Entry {
		if e.Resource["resourceType"] == "ServiceRequest" {
			sr = e.Resource
		}
	}
	alloc := ""
	for _, x := range list(sr["identifier"]) {
		m, _ := x.(map[string]any)
		if m["system"] == d.canonical+"/sid/allocation" {
			alloc, _ = m["value"].(string)
		}
	}
	if sr == nil || alloc == "" {
		return nil, Bad("%s", "no ServiceRequest with Signpost's allocation identifier")
	}
	item := DemoItem{Received: d.now(), Reason: reason, Referral: alloc, Answer: "acknowledged"}
	if reason == "new" {
		accept := d.opts.Rule == DemoAccept
		item.Answer = "turned away: " + demoTurnAwayReason
		if accept {
			item.Answer = "accepted"
		}
		headerID, _ := hdr["id"].(string)
		resp := demoResponse(d.canonical, d.opts.Base+DemoPath, headerID, alloc, accept)
		n := d.record(item)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.respond(n, correlation, resp)
		}()
	} else {
		d.record(item)
	}
	// The acknowledgement: a message Bundle answering the one received.
	id := uuid.NewString()
	headerID, _ := hdr["id"].(string)
	out, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "id": id, "type": "message", "timestamp": d.now().UTC().Format(fhir.InstantFormat),
		"entry": []any{map[string]any{"fullUrl": "urn:uuid:" + id, "resource": map[string]any{"resourceType": "MessageHeader", "id": id,
			"eventCoding": ev, "source": map[string]any{"name": "Demo Pharmacy (Pharmacy First)", "endpoint": d.opts.Base + DemoPath},
			"response": map[string]any{"identifier": headerID, "code": "ok"}}}}})
	return out, nil
}

// record appends an item and returns its index.
func (d *Demo) record(it DemoItem) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.log = append(d.log, it)
	if len(d.log) > demoLogSize {
		d.log = append([]DemoItem(nil), d.log[len(d.log)-demoLogSize:]...)
	}
	return len(d.log) - 1
}

// respond sends the pharmacy's response to the gateway's $process-message.
func (d *Demo) respond(n int, correlation string, body []byte) {
	status, err := d.opts.Send(d.opts.Base+"/fhir/$process-message", correlation, body)
	if err != nil {
		status = "not sent: " + err.Error()
	}
	d.mu.Lock()
	if n < len(d.log) {
		d.log[n].Answer += "; response sent to Signpost: " + status
	}
	d.mu.Unlock()
}

// demoResponse is the demo pharmacy's servicerequest-response.
func demoResponse(canonical, source, requestHeader, alloc string, accept bool) []byte {
	hdrURL, srURL, ooURL := "urn:uuid:"+uuid.NewString(), "urn:uuid:"+uuid.NewString(), "urn:uuid:"+uuid.NewString()
	code, status := "ok", "active"
	if !accept {
		code, status = "fatal-error", "revoked"
	}
	response := map[string]any{"identifier": requestHeader, "code": code}
	entries := []any{
		map[string]any{"fullUrl": hdrURL, "resource": map[string]any{"resourceType": "MessageHeader", "id": strings.TrimPrefix(hdrURL, "urn:uuid:"),
			"eventCoding": map[string]any{"system": clinicalsystem.BaRSEventSystem, "code": clinicalsystem.EventReferralResponse},
			"source":      map[string]any{"name": "Demo Pharmacy (Pharmacy First)", "software": "Signpost demo pharmacy", "endpoint": source},
			"response":    response,
			"focus":       []any{map[string]any{"reference": srURL}}}},
		map[string]any{"fullUrl": srURL, "resource": map[string]any{"resourceType": "ServiceRequest", "status": status, "intent": "order",
			"identifier": []any{map[string]any{"system": canonical + "/sid/allocation", "value": alloc}},
			"subject":    map[string]any{"display": "The patient referred"}}},
	}
	if !accept {
		response["details"] = map[string]any{"reference": ooURL}
		entries = append(entries, map[string]any{"fullUrl": ooURL, "resource": map[string]any{"resourceType": "OperationOutcome",
			"issue": []any{map[string]any{"severity": "error", "code": "business-rule", "details": map[string]any{"text": demoTurnAwayReason}}}}})
	}
	b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "message", "timestamp": time.Now().UTC().Format(fhir.InstantFormat), "entry": entries})
	return b
}
