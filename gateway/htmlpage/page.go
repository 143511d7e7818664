package htmlpage

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"
)

// DocsURL is where the documentation lives: the repository's docs folder.
const DocsURL = "https://github.com/signpost-fhir/signpost/tree/main/docs"

// ReadmeURL is the repository's front page (what Signpost is, the tour).
const ReadmeURL = "https://github.com/signpost-fhir/signpost#readme"

// Style is the stylesheet of the gateway's own small HTML pages (the
// home page, the demo clinical system's inbox): inline, and allowed by
// its hash alone, so the pages load nothing from anywhere.
const Style = `body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1d1d1d}` +
	`h1{font-size:1.6rem}a{color:#005eb8}code,pre{font:14px ui-monospace,monospace}` +
	`pre{background:#f3f3f3;padding:.75rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}` +
	`li{margin:.4rem 0}.note{color:#555}table{border-collapse:collapse}td,th{text-align:left;padding:.2rem .6rem .2rem 0;vertical-align:top}` +
	`details{margin:.3rem 0 1rem}article{border-top:1px solid #ccc;padding-top:.5rem}`

// CSP is the Content-Security-Policy of those pages: the dashboard's
// (no frames, no base, no forms elsewhere), with nothing but that one
// stylesheet allowed (no script at all). img-src data: covers the
// page's empty icon, so the browser does not ask for /favicon.ico.
var CSP = func() string {
	sum := sha256.Sum256([]byte(Style))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; img-src data:; " +
		"form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
}()

// Write writes one of the gateway's own pages: HTML with CSP (the other
// security headers come from the middleware) and no caching.
func Write(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", CSP)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

var homeTemplate = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Signpost</title><link rel="icon" href="data:,"><style>{{.Style}}</style></head>
<body>
<h1>Signpost</h1>
<p>A FHIR R4 gateway for care navigation in general practice: it decides where a patient's contact
should go (SNOMED CT, the practice's protocol and directory of services), explains why, and delivers
the outcome to the practice's clinical system.</p>
<ul>
<li><a href="{{.Base}}/metadata">{{.Base}}/metadata</a>: the FHIR base and what it supports (CapabilityStatement)</li>
{{if .Dashboard}}<li><a href="/dashboard">/dashboard</a>: the practice's success measures</li>
{{end}}{{if .DemoInbox}}<li><a href="{{.DemoInbox}}">{{.DemoInbox}}</a>: the demo clinical system's inbox, where committed outcomes arrive (development mode)</li>
{{end}}<li><a href="{{.Readme}}">Getting started</a> (a tour you can paste) and <a href="{{.Docs}}">the documentation</a></li>
</ul>
{{if .Dev}}<p class="note">Development mode: no token issuer is configured, so every caller has full access. Never use it with real patient data.</p>
{{end}}</body></html>
`))

// HomeOptions say what the home page links to.
type HomeOptions struct {
	// Base is the FHIR base ("/fhir" when empty).
	Base string
	// Dashboard links /dashboard.
	Dashboard bool
	// DemoInbox, when set, is the path of the demo clinical system's
	// inbox to link.
	DemoInbox string
	// Dev says the server runs in development mode (no token issuer).
	Dev bool
}

// Home is GET / (and HEAD /): where to go from here.
func Home(o HomeOptions) http.Handler {
	var buf bytes.Buffer
	base := "/fhir"
	if o.Base != "" {
		base = o.Base
	}
	err := homeTemplate.Execute(&buf, map[string]any{"Style": template.CSS(Style), "Base": strings.TrimRight(base, "/"),
		"Dashboard": o.Dashboard, "DemoInbox": o.DemoInbox, "Dev": o.Dev, "Readme": ReadmeURL, "Docs": DocsURL})
	if err != nil {
		panic("gateway: home page: " + err.Error())
	}
	body := buf.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { Write(w, r, http.StatusOK, body) })
}
