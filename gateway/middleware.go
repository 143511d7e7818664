package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/gateway/requestid"
)

const (
	requestIDKey = "signpost.request_id"
	logTypeKey   = "signpost.type"
	logIDKey     = "signpost.id"
	// interactionKey is the FHIR interaction the request was routed to,
	// the metrics' label.
	interactionKey = "signpost.interaction"
)

func requestID(c *gin.Context) string { return c.GetString(requestIDKey) }

// requestLog gives every request an id (kept from X-Request-ID, else
// X-Correlation-ID, when the caller sent a sane one), puts it in the
// request's context (so every log line and outbound call made for the
// request carries it: see package requestid) and logs one line when it
// ends. The line has the route path and resource type/id, never the query
// string or body. It also records the request's metrics.
func (s *Server) requestLog(c *gin.Context) {
	id := requestid.FromHeader(c.Request.Header)
	if id == "" {
		id = requestid.New()
	}
	c.Set(requestIDKey, id)
	c.Request = c.Request.WithContext(requestid.NewContext(c.Request.Context(), id))
	c.Header("X-Request-Id", id)
	start := time.Now()
	c.Next()
	status := c.Writer.Status()
	s.metrics.ObserveRequest(c.GetString(interactionKey), s.metricType(c.GetString(logTypeKey)), status, time.Since(start))
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	s.log.LogAttrs(c.Request.Context(), level, "request",
		slog.String("request_id", id),
		slog.String("method", c.Request.Method),
		slog.String("path", c.Request.URL.Path),
		slog.String("type", c.GetString(logTypeKey)),
		slog.String("id", c.GetString(logIDKey)),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
	)
}

// deadline gives every request the configured deadline.
func (s *Server) deadline(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.opts.RequestTimeout)
	defer cancel()
	c.Request = c.Request.WithContext(ctx)
	c.Next()
}

// recoverer turns a panic into a generic 500 OperationOutcome; the stack
// goes to the log, never to the client.
func (s *Server) recoverer(c *gin.Context) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			panic(v)
		}
		s.log.LogAttrs(c.Request.Context(), slog.LevelError, "panic",
			slog.String("request_id", requestID(c)),
			slog.String("panic", fmt.Sprint(v)),
			slog.String("stack", string(debug.Stack())))
		if !c.Writer.Written() {
			c.Data(http.StatusInternalServerError, fhirJSON, fhir.Outcome(fhir.Issue{
				Severity: fhir.SeverityError, Code: fhir.CodeException, Diagnostics: "internal error; the cause has been logged"}))
		}
		c.Abort()
	}()
	c.Next()
}
