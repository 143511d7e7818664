package gateway

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/bars"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/gateway/requestid"
)

// The demo Pharmacy First's BaRS receiver (development mode; bars.Demo):
// the gateway serves its routes and sends its responses.
//
//	POST /demo/pharmacy-first/bars/$process-message   receives BaRS referral messages
//	GET  /demo/pharmacy-first/bars                    shows what arrived and what was answered (HTML)

// DemoPharmacyBaRSPath is where the demo Pharmacy First's receiver listens.
const DemoPharmacyBaRSPath = bars.DemoPath

// DemoPharmacyBaRSEndpointID is the id of its seeded Endpoint.
const DemoPharmacyBaRSEndpointID = bars.DemoEndpointID

// The demo receiver's rules.
const (
	DemoBaRSAccept   = bars.DemoAccept
	DemoBaRSTurnAway = bars.DemoTurnAway
)

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

// ServeDemoPharmacyBaRS serves the demo Pharmacy First's BaRS receiver and
// connects the demo HealthcareService to it. Development mode only, after
// the demo content is seeded; call before Handler.
func (s *Server) ServeDemoPharmacyBaRS(ctx context.Context, opts DemoBaRSOptions) error {
	if !s.DevelopmentMode() {
		return errors.New("the demo BaRS receiver is served in development mode only")
	}
	client := opts.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	d, err := s.barsService().ServeDemo(ctx, bars.DemoOptions{Base: opts.Base, Rule: opts.Rule,
		Send: func(url, correlation string, body []byte) (string, error) {
			return demoBaRSSend(client, url, correlation, body)
		}})
	if err != nil {
		return err
	}
	s.demoBaRS = d
	return nil
}

// demoBaRSSend posts the demo pharmacy's response to the gateway's
// $process-message.
func demoBaRSSend(client *http.Client, url, correlation string, body []byte) (string, error) {
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

// demoBaRSReceive is POST /demo/pharmacy-first/bars/$process-message.
func (s *Server) demoBaRSReceive(c *gin.Context) {
	for _, h := range []string{"X-Request-ID", "X-Correlation-ID"} {
		if v := c.GetHeader(h); v != "" && len(v) <= 64 {
			c.Header(h, v)
		}
	}
	refuse := func(e *bars.Error) {
		c.Data(fhir.HTTPStatus(e.FHIR()), fhirJSON, e.Outcome())
	}
	corr := c.GetHeader("X-Correlation-ID")
	if _, err := uuid.Parse(corr); err != nil {
		refuse(bars.Bad("%s", "X-Correlation-ID must be a UUID"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, s.opts.MaxBodyBytes))
	if err != nil {
		refuse(bars.Bad("%s", "the body could not be read"))
		return
	}
	out, err := s.demoBaRS.Receive(corr, body)
	var be *bars.Error
	if errors.As(err, &be) {
		refuse(be)
		return
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Data(http.StatusOK, fhirJSON, out)
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
	var buf bytes.Buffer
	if err := demoBaRSTemplate.Execute(&buf, map[string]any{"Style": template.CSS(pageStyle), "Items": d.Items(), "Rule": d.Rule()}); err != nil {
		s.writeError(c, err)
		return
	}
	htmlPage(c.Writer, c.Request, http.StatusOK, buf.Bytes())
}
