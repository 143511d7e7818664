package auth_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/internal/oidctest"
)

// clock is real time plus an offset the test moves forward, so tokens
// minted by the issuer (real time) and the verifier's intervals agree.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// newVerifier builds a Verifier trusting the given issuers with the
// oidctest default audience; edit adjusts the config first.
func newVerifier(t testing.TB, edit func(*auth.Config), issuers ...*oidctest.Issuer) *auth.Verifier {
	t.Helper()
	cfg := auth.Config{Audience: oidctest.DefaultAudience}
	for _, iss := range issuers {
		cfg.Issuers = append(cfg.Issuers, iss.URL())
	}
	if edit != nil {
		edit(&cfg)
	}
	v, err := auth.NewVerifier(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// wantCode checks err is a *fhir.Error with the code and, when reason is
// not empty, a diagnostics text containing it; and that the token does not
// leak into the error.
func wantCode(t *testing.T, err error, code fhir.IssueCode, reason, token string) {
	t.Helper()
	fe, ok := fhir.AsError(err)
	if !ok {
		t.Fatalf("error %v (%T) is not a *fhir.Error", err, err)
	}
	if fe.Code() != code {
		t.Errorf("code = %s, want %s (%v)", fe.Code(), code, err)
	}
	if reason != "" && !strings.Contains(fe.Issues[0].Diagnostics, reason) {
		t.Errorf("diagnostics = %q, want it to contain %q", fe.Issues[0].Diagnostics, reason)
	}
	if token != "" {
		for _, part := range append([]string{token}, strings.Split(token, ".")...) {
			if len(part) > 8 && (strings.Contains(err.Error(), part) || strings.Contains(string(fe.Outcome()), part)) {
				t.Errorf("the error shows the token: %v", err)
			}
		}
	}
}

// with returns a copy of claims with the given name/value pairs set.
func with(claims map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(claims)+len(kv)/2)
	for k, v := range claims {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}
