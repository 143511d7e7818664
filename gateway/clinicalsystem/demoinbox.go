package clinicalsystem

import (
	"bytes"
	"encoding/json"
	"html/template"
	"strings"
	"sync"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
)

// The demo clinical system: in development mode the gateway serves a
// stand-in for a practice's clinical system, so that a committed decision
// about the demo practice is seen arriving rather than dead-lettered.
// DemoInbox is what it does (receive an outcome Bundle as a FHIR server
// would, show what arrived); the gateway serves it over HTTP. What
// arrives is kept in memory only (the last DemoInboxSize Bundles) and
// never logged.

// DemoEndpointID is the id of the demo clinical system's Endpoint.
const DemoEndpointID = "demo-clinical-system"

// DemoInboxSize is how many received Bundles the inbox keeps.
const DemoInboxSize = 100

// DemoEndpoint is the demo clinical system's Endpoint, at address (the
// inbox's URL as the delivery workers reach it).
func DemoEndpoint(address string) (*fhir.Resource, error) {
	return fhir.ResourceFromObject(map[string]any{
		"resourceType": "Endpoint", "id": DemoEndpointID, "status": "active",
		"name":           "Demo clinical system (the gateway's own inbox, development mode)",
		"connectionType": map[string]any{"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest"},
		"payloadType":    []any{map[string]any{"text": "FHIR transaction Bundle of a navigation outcome"}},
		"address":        address,
	})
}

// DemoInbox keeps the Bundles the demo clinical system received.
type DemoInbox struct {
	now func() time.Time
	mu  sync.Mutex
	// items are the received Bundles, oldest first.
	items []inboxItem
	total int
}

// NewDemoInbox is an empty inbox stamping arrivals with now.
func NewDemoInbox(now func() time.Time) *DemoInbox {
	return &DemoInbox{now: now}
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

// Receive takes a transaction Bundle (body; requestID is the sender's
// request id) and answers like a FHIR server would, with a
// transaction-response.
func (in *DemoInbox) Receive(body []byte, requestID string) ([]byte, error) {
	r, err := fhir.ParseResource(body)
	if err != nil {
		return nil, err
	}
	if r.Type() != "Bundle" || r.Object()["type"] != "transaction" {
		return nil, fhir.Errorf(fhir.CodeInvalid, "the demo clinical system takes a transaction Bundle, not %s", r.Type()).Because(fhir.DetailMalformed)
	}
	item := inboxItem{Received: in.now(), RequestID: requestID}
	var responses []any
	for _, e := range fhir.List(r.Object()["entry"]) {
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
	if len(in.items) > DemoInboxSize {
		in.items = append([]inboxItem(nil), in.items[len(in.items)-DemoInboxSize:]...)
	}
	in.mu.Unlock()
	return json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction-response", "entry": responses})
}

// inboxSummary says what one received resource is, for a person: a
// Task's identifier, status and business status, an allocation's service
// and performer, an Observation's value.
func inboxSummary(res map[string]any) string {
	var parts []string
	for _, x := range fhir.List(res["identifier"]) {
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
	for _, x := range fhir.List(res["performer"]) {
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
	for _, x := range fhir.List(m["coding"]) {
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

// Page is the HTML page of what arrived, newest first, styled with style.
func (in *DemoInbox) Page(style template.CSS) ([]byte, error) {
	in.mu.Lock()
	items := make([]inboxItem, len(in.items))
	for i, it := range in.items {
		items[len(in.items)-1-i] = it
	}
	total := in.total
	in.mu.Unlock()
	var buf bytes.Buffer
	if err := inboxTemplate.Execute(&buf, map[string]any{"Style": style, "Items": items, "Total": total, "Size": DemoInboxSize}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
