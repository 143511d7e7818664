package hardening

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/signpost-fhir/signpost/fhir"
)

// SecurityHeaders sends, with every response:
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
func SecurityHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
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
}

// DefaultMaxHeaderBytes bounds a request's line and header fields when no
// other limit is set.
const DefaultMaxHeaderBytes = 64 << 10

// HeaderBytes is the size of r's request line and header fields, as
// HeaderLimit counts it.
func HeaderBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// HeaderLimit answers a request whose request line and header fields
// exceed limit bytes with a 431 OperationOutcome (RFC 6585), written by
// refuse. net/http refuses a request past its own
// http.Server.MaxHeaderBytes with a plain-text 431 before any handler
// runs, so a server that wants every refusal to be FHIR sets that limit
// above this one.
func HeaderLimit(limit int, refuse func(*gin.Context, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		if n := HeaderBytes(c.Request); n > limit {
			refuse(c, fhir.Errorf(fhir.CodeTooLong, "the request line and header fields are %d bytes; at most %d are read (send long searches as POST [type]/_search)", n, limit).WithStatus(http.StatusRequestHeaderFieldsTooLarge))
			c.Abort()
			return
		}
		c.Next()
	}
}
