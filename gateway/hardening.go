package gateway

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/signpost-fhir/signpost/fhir"
)

// auditTimeout bounds the recording of a failure's AuditEvent.
const auditTimeout = 5 * time.Second

// securityHeaders are sent with every response:
//
//   - X-Content-Type-Options: nosniff, so a browser never runs a stored
//     narrative as a script because it looked like HTML;
//   - Referrer-Policy: no-referrer, so URLs (which hold resource ids and
//     search parameters) never leak to another site;
//   - a Content-Security-Policy that allows nothing: Signpost serves JSON,
//     and any page added later must say what it needs;
//   - Cache-Control: no-store on everything under /fhir but the public
//     metadata, since answers hold patient data and must not sit in
//     shared or browser caches.
func (s *Server) securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Frame-Options", "DENY")
	p := c.Request.URL.Path
	if p == "/fhir" || strings.HasPrefix(p, "/fhir/") {
		h.Set("Cache-Control", "no-store")
	}
	c.Next()
}

// DefaultMaxHeaderBytes bounds a request's line and header fields when
// Options.MaxHeaderBytes is zero.
const DefaultMaxHeaderBytes = 64 << 10

// headerLimit answers a request whose request line and header fields
// exceed Options.MaxHeaderBytes with a 431 OperationOutcome (RFC 6585).
// net/http refuses a request past its own http.Server.MaxHeaderBytes
// with a plain-text 431 before any handler runs, so a server that wants
// every refusal to be FHIR sets that limit above this one
// (HTTPMaxHeaderBytes).
func (s *Server) headerLimit(c *gin.Context) {
	r := c.Request
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	if n > s.opts.MaxHeaderBytes {
		s.writeError(c, fhir.Errorf(fhir.CodeTooLong, "the request line and header fields are %d bytes; at most %d are read (send long searches as POST [type]/_search)", n, s.opts.MaxHeaderBytes).WithStatus(http.StatusRequestHeaderFieldsTooLarge))
		c.Abort()
		return
	}
	c.Next()
}

// HTTPMaxHeaderBytes is the http.Server.MaxHeaderBytes to serve s with:
// room beyond Options.MaxHeaderBytes, so that the gateway, not net/http,
// refuses an oversized request, with an OperationOutcome.
func (s *Server) HTTPMaxHeaderBytes() int { return 2 * s.opts.MaxHeaderBytes }

// limiter is per-client rate limiting: a token bucket
// (golang.org/x/time/rate) per client id of an authenticated caller, per
// IP address of anyone else (failed tokens included, so guessing tokens
// is throttled too). Buckets not used for a while are dropped, so memory
// stays bounded by the number of recent clients. Limits are per gateway
// process; behind a load balancer with N replicas a client gets up to N
// times the rate.
type limiter struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// idleBucket is how long an unused bucket is kept; a full bucket after
// that is what a new one would be anyway.
const idleBucket = 10 * time.Minute

func newLimiter(perSecond float64, burst int) *limiter {
	if perSecond <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = max(1, int(math.Ceil(perSecond)))
	}
	return &limiter{rate: rate.Limit(perSecond), burst: burst, buckets: map[string]*bucket{}}
}

// allow takes a token from key's bucket; when there is none it says how
// long to wait.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	if now.Sub(l.swept) > idleBucket {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > idleBucket {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	l.mu.Unlock()
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// throttled is the 429 answer, with Retry-After in whole seconds.
func (s *Server) throttled(c *gin.Context, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	c.Header("Retry-After", strconv.Itoa(secs))
	s.writeError(c, fhir.Errorf(fhir.CodeThrottled, "too many requests from this client; retry after %d s", secs).WithStatus(http.StatusTooManyRequests))
}
