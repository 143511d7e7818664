package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
)

// Authentication. Every /fhir request but the public ones (metadata and
// the SMART configuration) carries "Authorization: Bearer <token>", which
// the Verifier turns into an auth.Principal. The principal goes into the
// request's context (auth.NewContext, for code that only has a ctx) and
// into the request struct, from which handlers take it explicitly.
//
// Without a Verifier the gateway is in development mode: every caller is
// auth.DevPrincipal() and the Authorization header is ignored. cmd/signpost
// refuses to listen beyond loopback in that mode.

// TokenVerifier turns a bearer token into a principal; *auth.Verifier is
// the implementation.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (*auth.Principal, error)
	SMARTConfiguration(ctx context.Context) (auth.SMARTConfiguration, error)
}

var _ TokenVerifier = (*auth.Verifier)(nil)

// realm is the WWW-Authenticate realm of every 401.
const realm = `Bearer realm="signpost"`

// authenticate finds the caller of a /fhir request. It returns a 401
// fhir.Error (with the WWW-Authenticate value to send) for a missing or
// invalid token, or the verifier's 503 when the token's issuer cannot be
// reached.
func (s *Server) authenticate(c *gin.Context) (*auth.Principal, string, error) {
	if s.verifier == nil {
		return auth.DevPrincipal(), "", nil
	}
	h := c.GetHeader("Authorization")
	scheme, token, _ := strings.Cut(strings.TrimSpace(h), " ")
	if h == "" || !strings.EqualFold(scheme, "Bearer") {
		return nil, realm, fhir.Errorf(fhir.CodeLogin, "a bearer token is required (Authorization: Bearer <access token>)").WithStatus(http.StatusUnauthorized)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, realm + `, error="invalid_token"`, fhir.Errorf(fhir.CodeLogin, "the bearer token is empty").WithStatus(http.StatusUnauthorized)
	}
	p, err := s.verifier.Verify(c.Request.Context(), token)
	if err != nil {
		fe, ok := fhir.AsError(err)
		if ok && fe.Code() == fhir.CodeLogin {
			return nil, realm + `, error="invalid_token"`, fe.WithStatus(http.StatusUnauthorized)
		}
		return nil, "", err
	}
	return p, "", nil
}

// isPublic reports whether a /fhir path (segments after /fhir) is served
// without a token: the CapabilityStatement and the SMART configuration,
// which clients read to find out how to get a token.
func isPublic(segs []string) bool {
	switch {
	case len(segs) == 1 && segs[0] == "metadata":
		return true
	case len(segs) == 2 && segs[0] == ".well-known" && segs[1] == "smart-configuration":
		return true
	}
	return false
}

// smartConfiguration serves /.well-known/smart-configuration (at the
// root and under the FHIR base, where SMART App Launch 2 puts it).
func (s *Server) smartConfiguration(c *gin.Context) {
	if c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead {
		c.Header("Allow", "GET, HEAD")
		s.writeError(c, methodNotAllowed(c.Request.Method, "/.well-known/smart-configuration"))
		return
	}
	if s.verifier == nil {
		s.writeError(c, fhir.Errorf(fhir.CodeNotFound, "no authorization server is configured: the gateway runs in development mode").WithStatus(http.StatusNotFound))
		return
	}
	doc, err := s.verifier.SMARTConfiguration(c.Request.Context())
	if err != nil {
		s.writeError(c, err)
		return
	}
	body, err := json.Marshal(doc)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/json", body)
}
