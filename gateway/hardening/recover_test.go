package hardening

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// A panic is a generic 500 OperationOutcome; the panic value and the
// stack go to the log, not to the client.
func TestRecover(t *testing.T) {
	gin.SetMode(gin.TestMode)
	var buf bytes.Buffer
	e := gin.New()
	e.Use(Recover(slog.New(slog.NewTextHandler(&buf, nil))))
	e.GET("/boom", func(*gin.Context) { panic("secret detail") })
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/boom", nil))
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), `"exception"`) || strings.Contains(w.Body.String(), "secret") {
		t.Fatalf("answer %d %s", w.Code, w.Body)
	}
	if !strings.Contains(buf.String(), "secret detail") {
		t.Fatalf("panic not logged: %s", buf.String())
	}
}

// Every request's context has the deadline.
func TestDeadline(t *testing.T) {
	gin.SetMode(gin.TestMode)
	e := gin.New()
	e.Use(Deadline(time.Hour))
	var ctx context.Context
	e.GET("/", func(c *gin.Context) { ctx = c.Request.Context() })
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if _, ok := ctx.Deadline(); !ok {
		t.Fatal("no deadline")
	}
	if ctx.Err() == nil {
		t.Fatal("the deadline's context is not cancelled when the request ends")
	}
}
