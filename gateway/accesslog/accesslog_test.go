package accesslog

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// A request keeps a sane X-Request-ID, has it echoed, and ends in one log
// line and one observation with what the handler named; the query string
// is never logged.
func TestMiddleware(t *testing.T) {
	gin.SetMode(gin.TestMode)
	var buf bytes.Buffer
	var got []string
	e := gin.New()
	e.Use(Middleware(slog.New(slog.NewJSONHandler(&buf, nil)), func(interaction, typ string, status int, _ time.Duration) {
		got = append(got, interaction, typ, http.StatusText(status))
	}))
	var inHandler string
	e.GET("/fhir/Patient/:id", func(c *gin.Context) {
		inHandler = RequestID(c)
		c.Set(TypeKey, "Patient")
		c.Set(IDKey, c.Param("id"))
		c.Set(InteractionKey, "read")
		c.Status(http.StatusNotFound)
	})
	r := httptest.NewRequest(http.MethodGet, "/fhir/Patient/p1?name=secret", nil)
	r.Header.Set("X-Request-ID", "abc-123")
	w := httptest.NewRecorder()
	e.ServeHTTP(w, r)
	if w.Header().Get("X-Request-Id") != "abc-123" || inHandler != "abc-123" {
		t.Fatalf("request id: header %q, handler %q", w.Header().Get("X-Request-Id"), inHandler)
	}
	if strings.Join(got, ",") != "read,Patient,Not Found" {
		t.Fatalf("observed %q", got)
	}
	line := buf.String()
	if strings.Count(line, "\n") != 1 || !strings.Contains(line, `"request_id":"abc-123"`) || !strings.Contains(line, `"id":"p1"`) ||
		!strings.Contains(line, `"status":404`) || strings.Contains(line, "secret") {
		t.Fatalf("log: %s", line)
	}
	// Without one, the request gets a new id.
	w = httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/fhir/Patient/p2", nil))
	if id := w.Header().Get("X-Request-Id"); id == "" || id == "abc-123" {
		t.Fatalf("new request id %q", id)
	}
}
