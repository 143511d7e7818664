package htmlpage

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The home page links what is served, under the public base, and is sent
// with the page policy and no caching; HEAD has no body.
func TestHome(t *testing.T) {
	h := Home(HomeOptions{Base: "https://example.org/fhir/", Dashboard: true, DemoInbox: "/demo/inbox", Dev: true})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	body := w.Body.String()
	for _, want := range []string{`href="https://example.org/fhir/metadata"`, `href="/dashboard"`, `href="/demo/inbox"`, "Development mode", `href="` + DocsURL + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("home page lacks %s", want)
		}
	}
	if w.Header().Get("Content-Security-Policy") != CSP || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", w.Header())
	}
	h = Home(HomeOptions{})
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	body = w.Body.String()
	if !strings.Contains(body, `href="/fhir/metadata"`) || strings.Contains(body, "/dashboard") || strings.Contains(body, "Development mode") {
		t.Errorf("plain home page: %s", body)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodHead, "/", nil))
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", w.Code, w.Body.Len())
	}
}
