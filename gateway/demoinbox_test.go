package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/gateway"
)

// assertOwnPage checks one of the gateway's own HTML pages: the security
// headers of every answer, a CSP that allows no script and nothing
// remote, and whose one style hash is the page's inline stylesheet.
func assertOwnPage(t *testing.T, r reply) string {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, "text/html; charset=utf-8", r.header.Get("Content-Type"))
	assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
	assert.Equal(t, "no-referrer", r.header.Get("Referrer-Policy"))
	assert.Equal(t, "DENY", r.header.Get("X-Frame-Options"))
	csp := r.header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"} {
		assert.Contains(t, csp, d)
	}
	assert.NotContains(t, csp, "script-src")
	assert.NotContains(t, csp, "unsafe-inline")
	body := string(r.body)
	m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(body)
	require.Len(t, m, 2, "an inline stylesheet")
	sum := sha256.Sum256([]byte(m[1]))
	assert.Contains(t, csp, "style-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'", "the CSP allows exactly the page's stylesheet")
	assert.NotRegexp(t, `(?i)<script|src="http|href="http[^"]*\.css`, body, "nothing is loaded from elsewhere, no script")
	return body
}

// GET / is a small page of where to go: the FHIR base's metadata, the
// dashboard, the demo inbox in development mode, the documentation.
func TestHomePage(t *testing.T) {
	t.Parallel()
	for _, dev := range []bool{true, false} {
		st := stores[0].open(t)
		opts := gateway.Options{Store: st}
		if !dev {
			_, v := trustedIssuer(t)
			opts.Verifier = v
		}
		g := newGateway(t, opts, func(s *gateway.Server) {
			s.ServeDashboard()
			if dev {
				require.NoError(t, s.ServeDemoClinicalSystem(context.Background(), "http://127.0.0.1:9/demo/clinical-system"))
			} else {
				require.Error(t, s.ServeDemoClinicalSystem(context.Background(), "http://127.0.0.1:9/demo/clinical-system"),
					"never with a token issuer")
			}
		})
		body := assertOwnPage(t, g.do("GET", g.srv.URL+"/", ""))
		for _, link := range []string{`href="/fhir/metadata"`, `href="/dashboard"`, `href="` + gateway.DocsURL + `"`, `href="` + gateway.ReadmeURL + `"`} {
			assert.Contains(t, body, link)
		}
		if dev {
			assert.Contains(t, body, `href="/demo/clinical-system"`)
			assert.Contains(t, body, "Development mode")
		} else {
			assert.NotContains(t, body, "/demo/clinical-system")
			assert.NotContains(t, body, "Development mode")
			r := g.do("GET", g.srv.URL+"/demo/clinical-system", "")
			assert.Equal(t, http.StatusNotFound, r.status, "no demo inbox with an issuer")
			_, err := st.Read(context.Background(), "Endpoint", gateway.DemoEndpointID)
			assert.ErrorIs(t, err, fhir.ErrNotFound, "no demo Endpoint with an issuer")
		}
		r := g.do("HEAD", g.srv.URL+"/", "")
		assert.Equal(t, http.StatusOK, r.status)
		assert.Empty(t, r.body)
		r = g.do("GET", g.srv.URL+"/nothing-here", "")
		assert.Equal(t, http.StatusNotFound, r.status, "other paths are still not found")
	}
}

// The demo clinical system: its Endpoint is seeded (in both stores); it
// takes transaction Bundles and shows them newest first, escaped; it
// refuses what is not one with an OperationOutcome and keeps nothing.
func TestDemoClinicalSystemInbox(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			const address = "http://127.0.0.1:9/demo/clinical-system"
			g := newGateway(t, gateway.Options{Store: st}, func(s *gateway.Server) {
				require.NoError(t, s.ServeDemoClinicalSystem(context.Background(), address))
			})
			v, err := st.Read(context.Background(), "Endpoint", gateway.DemoEndpointID)
			require.NoError(t, err)
			ep, err := fhir.ParseResource(v.Body)
			require.NoError(t, err)
			assert.Equal(t, address, ep.Object()["address"])
			assert.Equal(t, "active", ep.Object()["status"])

			inbox := g.srv.URL + gateway.DemoClinicalSystemPath
			body := assertOwnPage(t, g.do("GET", inbox, ""))
			assert.Contains(t, body, "Nothing has arrived yet")

			for _, bad := range []string{`not json`, `{"resourceType":"Patient"}`, `{"resourceType":"Bundle","type":"collection"}`} {
				r := g.do("POST", inbox, bad)
				assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", bad, r.body)
				r.outcome(t)
			}
			assert.Contains(t, string(g.do("GET", inbox, "").body), "0 received")

			bundle := func(ident, text string) string {
				return `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Task","status":"in-progress","intent":"order",` +
					`"identifier":[{"system":"https://x.example/sid","value":"` + ident + `"}],"businessStatus":{"text":"` + text + `"}},` +
					`"request":{"method":"PUT","url":"Task?identifier=x"}},{"resource":{"resourceType":"ServiceRequest","status":"active","intent":"order",` +
					`"code":{"coding":[{"display":"Referral to GP"}]},"performer":[{"display":"Demo Surgery GPs"}]},"request":{"method":"POST","url":"ServiceRequest"}}]}`
			}
			r := g.do("POST", inbox, bundle("first-contact", "Allocated"))
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			resp := r.json(t)
			assert.Equal(t, "transaction-response", resp["type"])
			assert.Len(t, resp["entry"], 2)
			r = g.do("POST", inbox, bundle("second-contact", `<script>alert(1)</script>`))
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)

			body = assertOwnPage(t, g.do("GET", inbox, ""))
			assert.Contains(t, body, "2 received")
			first, second := strings.Index(body, "identifier first-contact"), strings.Index(body, "identifier second-contact")
			require.True(t, first > 0 && second > 0, "%s", body)
			assert.Less(t, second, first, "newest first")
			assert.Contains(t, body, "Referral to GP; to Demo Surgery GPs")
			assert.NotContains(t, body, "<script>alert(1)")
			assert.Contains(t, body, "&lt;script&gt;alert(1)")
			assert.NotContains(t, g.logs.String(), "first-contact", "what arrives is never logged")
		})
	}
}
