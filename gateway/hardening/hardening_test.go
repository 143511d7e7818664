package hardening

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/signpost-fhir/signpost/fhir"
)

func engine(limit int) *gin.Engine {
	gin.SetMode(gin.TestMode)
	e := gin.New()
	e.Use(SecurityHeaders(), HeaderLimit(limit, func(c *gin.Context, err error) {
		fe, _ := fhir.AsError(err)
		c.Data(fe.Status, "application/fhir+json", fe.Outcome())
	}))
	e.GET("/*any", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	return e
}

// Every answer has the security headers; only those under /fhir are
// no-store.
func TestSecurityHeadersEverywhere(t *testing.T) {
	e := engine(DefaultMaxHeaderBytes)
	for path, noStore := range map[string]bool{"/fhir": true, "/fhir/Patient": true, "/healthz": false, "/fhirish": false} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		h := w.Header()
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" ||
			h.Get("X-Frame-Options") != "DENY" || h.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: security headers missing: %v", path, h)
		}
		if got := h.Get("Cache-Control") == "no-store"; got != noStore {
			t.Errorf("%s: Cache-Control %q", path, h.Get("Cache-Control"))
		}
	}
}

// A request past the limit is refused with 431 and the handler never
// runs; one at the limit is served.
func TestHeaderLimit(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/fhir/Patient", nil)
	n := HeaderBytes(r)
	w := httptest.NewRecorder()
	engine(n).ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("at the limit: %d", w.Code)
	}
	r = httptest.NewRequest(http.MethodGet, "/fhir/Patient", nil)
	w = httptest.NewRecorder()
	engine(n-1).ServeHTTP(w, r)
	if w.Code != http.StatusRequestHeaderFieldsTooLarge || w.Body.String() == "ok" {
		t.Fatalf("past the limit: %d %s", w.Code, w.Body)
	}
}
