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

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/snomed"
)

// The demo clinical system: in development mode the gateway serves a
// stand-in for a practice's clinical system, so that a committed decision
// about the demo practice is seen arriving rather than dead-lettered.
//
//	POST /demo/clinical-system   receives an outcome Bundle (what the delivery workers send)
//	GET  /demo/clinical-system   shows what arrived, newest first (HTML)
//
// The Endpoint demo-clinical-system (address: this inbox, on the address
// the gateway listens on) is seeded beside the demo content; the demo
// practice's Organization (testdata/protocols/demo-directory.json) lists
// it. Deliveries to it go through the outbound allow-list like any other:
// development mode's default list (loopback) allows it; a list set with
// SIGNPOST_OUTBOUND_ENDPOINTS must name it. With a token issuer nothing
// of this is served or seeded. What arrives is kept in memory only (the
// last demoInboxSize Bundles) and never logged.

// DemoClinicalSystemPath is where the demo clinical system listens.
const DemoClinicalSystemPath = "/demo/clinical-system"

// DemoEndpointID is the id of the demo clinical system's Endpoint.
const DemoEndpointID = "demo-clinical-system"

// demoInboxSize is how many received Bundles the inbox keeps.
const demoInboxSize = 100

type demoInbox struct {
	maxBody int64
	now     func() time.Time
	mu      sync.Mutex
	// items are the received Bundles, oldest first.
	items []inboxItem
	total int
}

type inboxItem struct {
	Number    int
	Received  time.Time
	RequestID string
	Entries   []inboxEntry
	JSON      string
}

type inboxEntry struct {
	Request, Resource, Summary string
}

// ServeDemoClinicalSystem serves the demo clinical system and seeds its
// Endpoint with address (the inbox's URL as the delivery workers reach
// it, e.g. http://127.0.0.1:8080/demo/clinical-system). Development mode
// only; call before Handler.
func (s *Server) ServeDemoClinicalSystem(ctx context.Context, address string) error {
	if !s.DevelopmentMode() {
		return errors.New("the demo clinical system is served in development mode only")
	}
	ep, err := fhir.ResourceFromObject(map[string]any{
		"resourceType": "Endpoint", "id": DemoEndpointID, "status": "active",
		"name":           "Demo clinical system (the gateway's own inbox, development mode)",
		"connectionType": map[string]any{"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest"},
		"payloadType":    []any{map[string]any{"text": "FHIR transaction Bundle of a navigation outcome"}},
		"address":        address,
	})
	if err != nil {
		return err
	}
	if err := snomed.MarkShipped(ep, "demo"); err != nil {
		return err
	}
	seeded, err := snomed.SeedResources(ctx, s.store, []*fhir.Resource{ep})
	if err != nil {
		return fmt.Errorf("demo clinical system: %w", err)
	}
	s.NoteSeeded(ctx, "demo resource", seeded)
	if !s.endpointAllowed(address) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "the demo clinical system is not on the outbound allow-list (SIGNPOST_OUTBOUND_ENDPOINTS): outcomes for the demo practice will be dead letters",
			slog.String("address", address))
	}
	s.demoInbox = &demoInbox{maxBody: s.opts.MaxBodyBytes, now: s.opts.Now}
	return nil
}

// endpointAllowed tells whether the outbound allow-list allows url.
func (s *Server) endpointAllowed(url string) bool {
	if s.subscriptionEndpoints == nil {
		return LoopbackSubscriptionEndpoints().Allows(url)
	}
	return s.subscriptionEndpoints.Allows(url)
}

// receive is POST /demo/clinical-system: a transaction Bundle, answered
// like a FHIR server would (a transaction-response).
func (s *Server) demoReceive(c *gin.Context) {
	in := s.demoInbox
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, in.maxBody))
	if err != nil {
		s.writeError(c, err)
		return
	}
	r, err := fhir.ParseResource(body)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if r.Type() != "Bundle" || r.Object()["type"] != "transaction" {
		s.writeError(c, fhir.Errorf(fhir.CodeInvalid, "the demo clinical system takes a transaction Bundle, not %s", r.Type()).WithStatus(http.StatusBadRequest))
		return
	}
	item := inboxItem{Received: in.now(), RequestID: c.GetHeader("X-Request-Id")}
	var responses []any
	for _, e := range listOf(r.Object()["entry"]) {
		em, _ := e.(map[string]any)
		res, _ := em["resource"].(map[string]any)
		req, _ := em["request"].(map[string]any)
		method, _ := req["method"].(string)
		url, _ := req["url"].(string)
		typ, _ := res["resourceType"].(string)
		item.Entries = append(item.Entries, inboxEntry{Request: strings.TrimSpace(method + " " + url), Resource: typ, Summary: inboxSummary(res)})
		status := "201 Created"
		if method == "PUT" {
			status = "200 OK"
		}
		responses = append(responses, map[string]any{"response": map[string]any{"status": status}})
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err == nil {
		item.JSON = pretty.String()
	}
	in.mu.Lock()
	in.total++
	item.Number = in.total
	in.items = append(in.items, item)
	if len(in.items) > demoInboxSize {
		in.items = append([]inboxItem(nil), in.items[len(in.items)-demoInboxSize:]...)
	}
	in.mu.Unlock()
	out, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction-response", "entry": responses})
	c.Data(http.StatusOK, fhirJSON, out)
}

// inboxSummary says what one received resource is, for a person: a
// Task's identifier, status and business status, an allocation's service
// and performer, an Observation's value.
func inboxSummary(res map[string]any) string {
	var parts []string
	for _, x := range listOf(res["identifier"]) {
		m, _ := x.(map[string]any)
		if v, _ := m["value"].(string); v != "" {
			parts = append(parts, "identifier "+v)
			break
		}
	}
	if st, _ := res["status"].(string); st != "" {
		parts = append(parts, "status "+st)
	}
	for _, k := range []string{"businessStatus", "code", "valueCodeableConcept"} {
		if t := conceptText(res[k]); t != "" {
			parts = append(parts, t)
		}
	}
	for _, x := range listOf(res["performer"]) {
		m, _ := x.(map[string]any)
		if d, _ := m["display"].(string); d != "" {
			parts = append(parts, "to "+d)
		}
	}
	return strings.Join(parts, "; ")
}

// conceptText is a CodeableConcept's text, else its first coding's
// display, else its code.
func conceptText(v any) string {
	m, _ := v.(map[string]any)
	if t, _ := m["text"].(string); t != "" {
		return t
	}
	for _, x := range listOf(m["coding"]) {
		cd, _ := x.(map[string]any)
		if d, _ := cd["display"].(string); d != "" {
			return d
		}
		if code, _ := cd["code"].(string); code != "" {
			return code
		}
	}
	return ""
}

var inboxTemplate = template.Must(template.New("inbox").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Demo clinical system: inbox</title><link rel="icon" href="data:,"><style>{{.Style}}</style></head>
<body>
<h1>Demo clinical system: inbox</h1>
<p>This stands in for the demo practice's clinical system (development mode only). Outcomes of committed
decisions for the demo practice are delivered here, newest first; reload to see new arrivals.
It keeps the last {{.Size}} in memory. <a href="/">Home</a></p>
<p>{{.Total}} received.</p>
{{range .Items}}<article>
<h2>#{{.Number}} received {{when .Received}}</h2>
<table>{{range .Entries}}<tr><td><code>{{.Request}}</code></td><td>{{.Resource}}</td><td>{{.Summary}}</td></tr>{{end}}</table>
{{if .RequestID}}<p class="note">Request id {{.RequestID}}</p>{{end}}
<details><summary>The Bundle as received</summary><pre>{{.JSON}}</pre></details>
</article>
{{else}}<p class="note">Nothing has arrived yet. Commit a decision for a demo patient (POST Task/[id]/$navigate?mode=commit) and reload.</p>
{{end}}</body></html>
`))

// demoShow is GET /demo/clinical-system.
func (s *Server) demoShow(c *gin.Context) {
	in := s.demoInbox
	in.mu.Lock()
	items := make([]inboxItem, len(in.items))
	for i, it := range in.items {
		items[len(in.items)-1-i] = it
	}
	total := in.total
	in.mu.Unlock()
	var buf bytes.Buffer
	if err := inboxTemplate.Execute(&buf, map[string]any{"Style": template.CSS(pageStyle), "Items": items, "Total": total, "Size": demoInboxSize}); err != nil {
		s.writeError(c, err)
		return
	}
	htmlPage(c.Writer, c.Request, http.StatusOK, buf.Bytes())
}
