package accesslog

import (
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/signpost-fhir/signpost/gateway/requestid"
)

// The Gin context keys the log line and the metrics are read from.
const (
	// RequestIDKey holds the request's id.
	RequestIDKey = "signpost.request_id"
	// TypeKey holds the resource type the request was routed to.
	TypeKey = "signpost.type"
	// IDKey holds the resource id the request was routed to.
	IDKey = "signpost.id"
	// InteractionKey is the FHIR interaction the request was routed to,
	// the metrics' label.
	InteractionKey = "signpost.interaction"
)

// RequestID is the id Middleware gave c's request.
func RequestID(c *gin.Context) string { return c.GetString(RequestIDKey) }

// Observe is told of every request when it ends: its FHIR interaction
// and resource type (as the handlers set them, possibly ""), its status
// and how long it took.
type Observe func(interaction, typ string, status int, d time.Duration)

// Middleware gives every request an id (kept from X-Request-ID, else
// X-Correlation-ID, when the caller sent a sane one), puts it in the
// request's context (so every log line and outbound call made for the
// request carries it: see package requestid) and logs one line to log
// when it ends. The line has the route path and resource type/id, never
// the query string or body. It also reports the request to observe.
func Middleware(log *slog.Logger, observe Observe) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := requestid.FromHeader(c.Request.Header)
		if id == "" {
			id = requestid.New()
		}
		c.Set(RequestIDKey, id)
		c.Request = c.Request.WithContext(requestid.NewContext(c.Request.Context(), id))
		c.Header("X-Request-Id", id)
		start := time.Now()
		c.Next()
		status := c.Writer.Status()
		observe(c.GetString(InteractionKey), c.GetString(TypeKey), status, time.Since(start))
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		log.LogAttrs(c.Request.Context(), level, "request",
			slog.String("request_id", id),
			slog.String("method", c.Request.Method),
			slog.String("path", c.Request.URL.Path),
			slog.String("type", c.GetString(TypeKey)),
			slog.String("id", c.GetString(IDKey)),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
		)
	}
}
