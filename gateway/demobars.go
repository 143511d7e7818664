package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/gateway/requestid"
)

// The demo Pharmacy First's BaRS receiver: in development mode the gateway
// serves a stand-in for the demo pharmacy's own system, so that a reader
// sees a referral leave and the pharmacy's response come back.
//
//	POST /demo/pharmacy-first/bars/$process-message   receives BaRS referral messages
//	GET  /demo/pharmacy-first/bars                    shows what arrived and what was answered (HTML)
//
// The Endpoint demo-pharmacy-first-bars (a BaRS messaging Endpoint at this
// receiver) is seeded and listed by the demo HealthcareService
// demo-pharmacy-first. A referral request (reason new) is acknowledged at
// once; the receiver then sends its response to the gateway's own
// POST [base]/$process-message: accepted, or the patient turned away, as
// the rule says (DemoBaRSAccept, DemoBaRSTurnAway). A cancellation is
// acknowledged only. Kept in memory, never logged.

// DemoPharmacyBaRSPath is where the demo Pharmacy First's receiver listens.
const DemoPharmacyBaRSPath = "/demo/pharmacy-first/bars"

// DemoPharmacyBaRSEndpointID is the id of its seeded Endpoint.
const DemoPharmacyBaRSEndpointID = "demo-pharmacy-first-bars"

// The demo receiver's rules.
const (
	DemoBaRSAccept   = "accept"
	DemoBaRSTurnAway = "turn-away"
)

// demoBaRSTurnAwayReason is the reason the demo pharmacy gives.
const demoBaRSTurnAwayReason = "No Pharmacy First consultations available today (demo rule)"

// DemoBaRSOptions configure the demo receiver.
type DemoBaRSOptions struct {
	// Base is the gateway's own address as the delivery workers and the
	// receiver reach it (http://127.0.0.1:8080): the receiver listens at
	// Base+DemoPharmacyBaRSPath and answers to Base+"/fhir/$process-message".
	Base string
	// Rule is DemoBaRSAccept (the default) or DemoBaRSTurnAway.
	Rule string
	// Client sends the responses (default: a client with a 10 s timeout).
	Client *http.Client
}

type demoBaRS struct {
	opts DemoBaRSOptions
	mu   sync.Mutex
	log  []demoBaRSItem
	wg   sync.WaitGroup
}

type demoBaRSItem struct {
	Received time.Time
	Reason   string // new, cancel
	Referral string // the allocation id
	Answer   string // what the pharmacy answered, and how that was taken
}

// ServeDemoPharmacyBaRS serves the demo Pharmacy First's BaRS receiver and
// connects the demo HealthcareService to it. Development mode only, after
// the demo content is seeded; call before Handler.
func (s *Server) ServeDemoPharmacyBaRS(ctx context.Context, opts DemoBaRSOptions) error {
	if !s.DevelopmentMode() {
		return errors.New("the demo BaRS receiver is served in development mode only")
	}
	switch opts.Rule {
	case "":
		opts.Rule = DemoBaRSAccept
	case DemoBaRSAccept, DemoBaRSTurnAway:
	default:
		return fmt.Errorf("demo BaRS rule %q: want %s or %s", opts.Rule, DemoBaRSAccept, DemoBaRSTurnAway)
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	base := strings.TrimSuffix(opts.Base, "/")
	opts.Base = base
	ep, err := fhir.ResourceFromObject(map[string]any{
		"resourceType": "Endpoint", "id": DemoPharmacyBaRSEndpointID, "status": "active",
		"name":           "Demo Pharmacy First BaRS receiver (the gateway's own, development mode)",
		"connectionType": map[string]any{"system": clinicalsystem.ConnectionTypeSystem, "code": "hl7-fhir-msg"},
		"payloadType": []any{map[string]any{"coding": []any{map[string]any{"system": clinicalsystem.BaRSEventSystem,
			"code": clinicalsystem.EventReferralRequest}}}},
		"address": base + DemoPharmacyBaRSPath,
	})
	if err != nil {
		return err
	}
	if _, err := s.store.Update(ctx, ep, store.Precondition{}); err != nil {
		return fmt.Errorf("demo BaRS receiver: %w", err)
	}
	v, err := s.store.Read(ctx, "HealthcareService", "demo-pharmacy-first")
	if err != nil {
		return fmt.Errorf("demo BaRS receiver: the demo Pharmacy First: %w", err)
	}
	hs, err := fhir.ParseResource(v.Body)
	if err != nil {
		return err
	}
	ref := "Endpoint/" + DemoPharmacyBaRSEndpointID
	if !strings.Contains(fmt.Sprint(hs.Object()["endpoint"]), ref) {
		hs.Object()["endpoint"] = append(listOf(hs.Object()["endpoint"]), map[string]any{"reference": ref})
		if _, err := s.store.Update(ctx, hs, store.Precondition{IfMatch: v.VersionID}); err != nil {
			return fmt.Errorf("demo BaRS receiver: %w", err)
		}
	}
	if !s.endpointAllowed(base + DemoPharmacyBaRSPath) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "the demo BaRS receiver is not on the outbound allow-list (SIGNPOST_OUTBOUND_ENDPOINTS): referrals to the demo Pharmacy First will be dead letters")
	}
	s.demoBaRS = &demoBaRS{opts: opts}
	return nil
}

// demoBaRSReceive is POST /demo/pharmacy-first/bars/$process-message.
func (s *Server) demoBaRSReceive(c *gin.Context) {
	d := s.demoBaRS
	for _, h := range []string{"X-Request-ID", "X-Correlation-ID"} {
		if v := c.GetHeader(h); v != "" && len(v) <= 64 {
			c.Header(h, v)
		}
	}
	bad := func(why string) {
		c.Data(http.StatusBadRequest, fhirJSON, barsBad("%s", why).outcome())
	}
	corr := c.GetHeader("X-Correlation-ID")
	if _, err := uuid.Parse(corr); err != nil {
		bad("X-Correlation-ID must be a UUID")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, s.opts.MaxBodyBytes))
	if err != nil {
		bad("the body could not be read")
		return
	}
	var msg struct {
		ResourceType, Type string
		Entry              []struct {
			FullURL  string
			Resource map[string]any
		}
	}
	if json.Unmarshal(body, &msg) != nil || msg.ResourceType != "Bundle" || msg.Type != "message" || len(msg.Entry) == 0 ||
		msg.Entry[0].Resource["resourceType"] != "MessageHeader" {
		bad("not a message Bundle led by its MessageHeader")
		return
	}
	hdr := msg.Entry[0].Resource
	ev, _ := hdr["eventCoding"].(map[string]any)
	if ev["system"] != clinicalsystem.BaRSEventSystem || ev["code"] != clinicalsystem.EventReferralRequest {
		c.Data(http.StatusUnprocessableEntity, fhirJSON, barsUnprocessable("the demo pharmacy takes referral requests only").outcome())
		return
	}
	reason := ""
	if r, ok := hdr["reason"].(map[string]any); ok {
		for _, x := range listOf(r["coding"]) {
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
	for _, x := range listOf(sr["identifier"]) {
		m, _ := x.(map[string]any)
		if m["system"] == s.opts.CanonicalBase+"/sid/allocation" {
			alloc, _ = m["value"].(string)
		}
	}
	if sr == nil || alloc == "" {
		bad("no ServiceRequest with Signpost's allocation identifier")
		return
	}
	item := demoBaRSItem{Received: s.opts.Now(), Reason: reason, Referral: alloc, Answer: "acknowledged"}
	if reason == "new" {
		accept := d.opts.Rule == DemoBaRSAccept
		item.Answer = "turned away: " + demoBaRSTurnAwayReason
		if accept {
			item.Answer = "accepted"
		}
		headerID, _ := hdr["id"].(string)
		resp := demoBaRSResponse(s.opts.CanonicalBase, d.opts.Base+DemoPharmacyBaRSPath, headerID, alloc, accept)
		n := d.record(item)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.respond(n, corr, resp)
		}()
	} else {
		d.record(item)
	}
	// The acknowledgement: a message Bundle answering the one received.
	id := uuid.NewString()
	headerID, _ := hdr["id"].(string)
	out, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "id": id, "type": "message", "timestamp": s.opts.Now().UTC().Format(fhir.InstantFormat),
		"entry": []any{map[string]any{"fullUrl": "urn:uuid:" + id, "resource": map[string]any{"resourceType": "MessageHeader", "id": id,
			"eventCoding": ev, "source": map[string]any{"name": "Demo Pharmacy (Pharmacy First)", "endpoint": d.opts.Base + DemoPharmacyBaRSPath},
			"response": map[string]any{"identifier": headerID, "code": "ok"}}}}})
	c.Data(http.StatusOK, fhirJSON, out)
}

// record appends an item and returns its index.
func (d *demoBaRS) record(it demoBaRSItem) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.log = append(d.log, it)
	if len(d.log) > demoInboxSize {
		d.log = append([]demoBaRSItem(nil), d.log[len(d.log)-demoInboxSize:]...)
	}
	return len(d.log) - 1
}

// respond sends the pharmacy's response to the gateway's $process-message.
func (d *demoBaRS) respond(n int, correlation string, body []byte) {
	req, err := http.NewRequest(http.MethodPost, d.opts.Base+"/fhir/$process-message", bytes.NewReader(body))
	status := ""
	if err == nil {
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set(requestid.Header, uuid.NewString())
		req.Header.Set(requestid.CorrelationHeader, correlation)
		var res *http.Response
		if res, err = d.opts.Client.Do(req); err == nil {
			io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
			res.Body.Close()
			status = res.Status
		}
	}
	if err != nil {
		status = "not sent: " + err.Error()
	}
	d.mu.Lock()
	if n < len(d.log) {
		d.log[n].Answer += "; response sent to Signpost: " + status
	}
	d.mu.Unlock()
}

// demoBaRSResponse is the demo pharmacy's servicerequest-response.
func demoBaRSResponse(canonical, source, requestHeader, alloc string, accept bool) []byte {
	hdrURL, srURL, ooURL := "urn:uuid:"+uuid.NewString(), "urn:uuid:"+uuid.NewString(), "urn:uuid:"+uuid.NewString()
	code, status := "ok", "active"
	if !accept {
		code, status = "fatal-error", "revoked"
	}
	response := map[string]any{"identifier": requestHeader, "code": code}
	entries := []any{
		map[string]any{"fullUrl": hdrURL, "resource": map[string]any{"resourceType": "MessageHeader", "id": strings.TrimPrefix(hdrURL, "urn:uuid:"),
			"eventCoding": map[string]any{"system": clinicalsystem.BaRSEventSystem, "code": EventReferralResponse},
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
			"issue": []any{map[string]any{"severity": "error", "code": "business-rule", "details": map[string]any{"text": demoBaRSTurnAwayReason}}}}})
	}
	b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "message", "timestamp": time.Now().UTC().Format(fhir.InstantFormat), "entry": entries})
	return b
}

var demoBaRSTemplate = template.Must(template.New("bars").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Demo Pharmacy First: BaRS referrals</title><link rel="icon" href="data:,"><style>{{.Style}}</style></head>
<body>
<h1>Demo Pharmacy First: BaRS referrals</h1>
<p>This stands in for the demo pharmacy's system (development mode only). Referrals Signpost sends to the demo
Pharmacy First arrive here, newest first; the pharmacy answers each new referral to Signpost's
<code>$process-message</code>: rule <code>{{.Rule}}</code>. Reload to see new arrivals. <a href="/">Home</a></p>
<table><tr><th>received</th><th>message</th><th>referral (allocation)</th><th>answer</th></tr>
{{range .Items}}<tr><td>{{when .Received}}</td><td>{{.Reason}}</td><td><code>{{.Referral}}</code></td><td>{{.Answer}}</td></tr>
{{else}}<tr><td colspan="4">Nothing has arrived yet. Navigate a minor illness (for example a sore throat) for a demo patient and reload.</td></tr>
{{end}}</table></body></html>
`))

// demoBaRSShow is GET /demo/pharmacy-first/bars.
func (s *Server) demoBaRSShow(c *gin.Context) {
	d := s.demoBaRS
	d.mu.Lock()
	items := make([]demoBaRSItem, len(d.log))
	for i, it := range d.log {
		items[len(d.log)-1-i] = it
	}
	d.mu.Unlock()
	var buf bytes.Buffer
	if err := demoBaRSTemplate.Execute(&buf, map[string]any{"Style": template.CSS(pageStyle), "Items": items, "Rule": d.opts.Rule}); err != nil {
		s.writeError(c, err)
		return
	}
	htmlPage(c.Writer, c.Request, http.StatusOK, buf.Bytes())
}
