package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/bars"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/gateway/htmlpage"
	"github.com/signpost-fhir/signpost/gateway/negotiate"
	"github.com/signpost-fhir/signpost/gateway/requestid"
	"github.com/signpost-fhir/signpost/snomed"
)

// ClinicalSystemPath is where the demo clinical system listens.
const ClinicalSystemPath = "/demo/clinical-system"

// Options are what the demo handlers need of the gateway.
type Options struct {
	// MaxBodyBytes bounds a received body.
	MaxBodyBytes int64
	// WriteError answers c with err as the gateway answers any error.
	WriteError func(c *gin.Context, err error)
}

// Pharmacy serves the demo Pharmacy First's BaRS receiver:
//
//	POST /demo/pharmacy-first/bars/$process-message   receives BaRS referral messages (Receive)
//	GET  /demo/pharmacy-first/bars                    shows what arrived and what was answered (Show, HTML)
type Pharmacy struct {
	Demo *bars.Demo
	Options
}

// PharmacyOptions configure the demo Pharmacy First's receiver.
type PharmacyOptions struct {
	// Base is the gateway's own address as the delivery workers and the
	// receiver reach it (http://127.0.0.1:8080): the receiver listens at
	// Base+bars.DemoPath and answers to Base+"/fhir/$process-message".
	Base string
	// Rule is bars.DemoAccept (the default) or bars.DemoTurnAway.
	Rule string
	// Client sends the responses (default: a client with a 10 s timeout).
	Client *http.Client
}

// Bars is o as bars.Service.ServeDemo takes it: its responses are posted
// to the gateway's $process-message with o.Client.
func (o PharmacyOptions) Bars() bars.DemoOptions {
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return bars.DemoOptions{Base: o.Base, Rule: o.Rule, Send: func(url, correlation string, body []byte) (string, error) {
		return send(client, url, correlation, body)
	}}
}

// send posts one response of the demo pharmacy.
func send(client *http.Client, url, correlation string, body []byte) (string, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set(requestid.Header, uuid.NewString())
	req.Header.Set(requestid.CorrelationHeader, correlation)
	res, err := client.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	return res.Status, nil
}

// Receive is POST /demo/pharmacy-first/bars/$process-message.
func (p Pharmacy) Receive(c *gin.Context) {
	for _, h := range []string{"X-Request-ID", "X-Correlation-ID"} {
		if v := c.GetHeader(h); v != "" && len(v) <= 64 {
			c.Header(h, v)
		}
	}
	refuse := func(e *bars.Error) {
		c.Data(fhir.HTTPStatus(e.FHIR()), negotiate.FHIRJSON, e.Outcome())
	}
	corr := c.GetHeader("X-Correlation-ID")
	if _, err := uuid.Parse(corr); err != nil {
		refuse(bars.Bad("%s", "X-Correlation-ID must be a UUID"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, p.MaxBodyBytes))
	if err != nil {
		refuse(bars.Bad("%s", "the body could not be read"))
		return
	}
	out, err := p.Demo.Receive(corr, body)
	var be *bars.Error
	if errors.As(err, &be) {
		refuse(be)
		return
	}
	if err != nil {
		p.WriteError(c, err)
		return
	}
	c.Data(http.StatusOK, negotiate.FHIRJSON, out)
}

var pharmacyTemplate = template.Must(template.New("bars").Funcs(template.FuncMap{
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

// Show is GET /demo/pharmacy-first/bars.
func (p Pharmacy) Show(c *gin.Context) {
	var buf bytes.Buffer
	if err := pharmacyTemplate.Execute(&buf, map[string]any{"Style": template.CSS(htmlpage.Style), "Items": p.Demo.Items(), "Rule": p.Demo.Rule()}); err != nil {
		p.WriteError(c, err)
		return
	}
	htmlpage.Write(c.Writer, c.Request, http.StatusOK, buf.Bytes())
}

// ClinicalSystem serves the demo clinical system, a stand-in for a
// practice's clinical system, so that a committed decision about the demo
// practice is seen arriving rather than dead-lettered:
//
//	POST /demo/clinical-system   receives an outcome Bundle (what the delivery workers send) (Receive)
//	GET  /demo/clinical-system   shows what arrived, newest first (Show, HTML)
type ClinicalSystem struct {
	Inbox *clinicalsystem.DemoInbox
	Options
}

// Setup is what seeding the demo clinical system needs of the gateway.
type Setup struct {
	Store snomed.SeedStore
	// NoteSeeded records what was seeded (the gateway's NoteSeeded).
	NoteSeeded func(ctx context.Context, what string, seeded []snomed.SeedResult)
	// Allowed tells whether the outbound allow-list allows a URL.
	Allowed func(url string) bool
	Log     *slog.Logger
}

// SeedClinicalSystem seeds the demo clinical system's Endpoint with
// address, and warns when the outbound allow-list does not allow it (the
// outcomes for the demo practice would be dead letters).
func SeedClinicalSystem(ctx context.Context, address string, o Setup) error {
	ep, err := clinicalsystem.DemoEndpoint(address)
	if err != nil {
		return err
	}
	if err := snomed.MarkShipped(ep, "demo"); err != nil {
		return err
	}
	seeded, err := snomed.SeedResources(ctx, o.Store, []*fhir.Resource{ep})
	if err != nil {
		return fmt.Errorf("demo clinical system: %w", err)
	}
	o.NoteSeeded(ctx, "demo resource", seeded)
	if !o.Allowed(address) {
		o.Log.LogAttrs(ctx, slog.LevelWarn, "the demo clinical system is not on the outbound allow-list (SIGNPOST_OUTBOUND_ENDPOINTS): outcomes for the demo practice will be dead letters",
			slog.String("address", address))
	}
	return nil
}

// Receive is POST /demo/clinical-system: a transaction Bundle, answered
// like a FHIR server would (a transaction-response).
func (cs ClinicalSystem) Receive(c *gin.Context) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, cs.MaxBodyBytes))
	if err != nil {
		cs.WriteError(c, err)
		return
	}
	out, err := cs.Inbox.Receive(body, c.GetHeader("X-Request-Id"))
	if err != nil {
		cs.WriteError(c, err)
		return
	}
	c.Data(http.StatusOK, negotiate.FHIRJSON, out)
}

// Show is GET /demo/clinical-system.
func (cs ClinicalSystem) Show(c *gin.Context) {
	page, err := cs.Inbox.Page(template.CSS(htmlpage.Style))
	if err != nil {
		cs.WriteError(c, err)
		return
	}
	htmlpage.Write(c.Writer, c.Request, http.StatusOK, page)
}
