package gateway

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/gateway/hardening"
	"github.com/signpost-fhir/signpost/gateway/ratelimit"
)

// auditTimeout bounds the recording of a failure's AuditEvent.
const auditTimeout = 5 * time.Second

// DefaultMaxHeaderBytes bounds a request's line and header fields when
// Options.MaxHeaderBytes is zero.
const DefaultMaxHeaderBytes = hardening.DefaultMaxHeaderBytes

// HTTPMaxHeaderBytes is the http.Server.MaxHeaderBytes to serve s with:
// room beyond Options.MaxHeaderBytes, so that the gateway, not net/http,
// refuses an oversized request, with an OperationOutcome.
func (s *Server) HTTPMaxHeaderBytes() int { return 2 * s.opts.MaxHeaderBytes }

// throttled is the 429 answer to a client past its rate limit (package
// ratelimit), with Retry-After in whole seconds.
func (s *Server) throttled(c *gin.Context, wait time.Duration) {
	secs := ratelimit.RetryAfter(wait)
	c.Header("Retry-After", strconv.Itoa(secs))
	s.writeError(c, fhir.Errorf(fhir.CodeThrottled, "too many requests from this client; retry after %d s", secs).WithStatus(http.StatusTooManyRequests))
}
