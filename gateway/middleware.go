package gateway

import (
	"time"

	"github.com/gin-gonic/gin"

	"github.com/signpost-fhir/signpost/gateway/accesslog"
	"github.com/signpost-fhir/signpost/gateway/hardening"
)

// The Gin context keys of package accesslog.
const (
	logTypeKey     = accesslog.TypeKey
	logIDKey       = accesslog.IDKey
	interactionKey = accesslog.InteractionKey
)

func requestID(c *gin.Context) string { return accesslog.RequestID(c) }

// middleware is what every request goes through, in order: the request
// log and metrics, panic recovery, the security headers, the header size
// limit and the request deadline.
func (s *Server) middleware() []gin.HandlerFunc {
	return []gin.HandlerFunc{
		accesslog.Middleware(s.log, func(interaction, typ string, status int, d time.Duration) {
			s.metrics.ObserveRequest(interaction, s.metricType(typ), status, d)
		}),
		hardening.Recover(s.log),
		hardening.SecurityHeaders(),
		hardening.HeaderLimit(s.opts.MaxHeaderBytes, s.writeError),
		hardening.Deadline(s.opts.RequestTimeout),
	}
}
