package hardening

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/gateway/accesslog"
	"github.com/signpost-fhir/signpost/gateway/negotiate"
)

// Recover turns a panic into a generic 500 OperationOutcome; the stack
// goes to log, never to the client. http.ErrAbortHandler is left to
// net/http.
func Recover(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			log.LogAttrs(c.Request.Context(), slog.LevelError, "panic",
				slog.String("request_id", accesslog.RequestID(c)),
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			if !c.Writer.Written() {
				c.Data(http.StatusInternalServerError, negotiate.FHIRJSON, fhir.Outcome(fhir.Issue{
					Severity: fhir.SeverityError, Code: fhir.CodeException, Diagnostics: "internal error; the cause has been logged"}))
			}
			c.Abort()
		}()
		c.Next()
	}
}

// Deadline gives every request the deadline d.
func Deadline(d time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), d)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}
