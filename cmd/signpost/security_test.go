package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/internal/oidctest"
)

func securityEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestDevelopmentModeStaysOnLoopback: without an issuer every caller has
// full access, so the gateway refuses to listen anywhere but loopback.
func TestDevelopmentModeStaysOnLoopback(t *testing.T) {
	for _, tt := range []struct {
		name   string
		args   []string
		env    map[string]string
		status int
		says   string
	}{
		{"every interface", []string{"-addr", "0.0.0.0:8080"}, nil, 2, "loopback"},
		{"no host", nil, map[string]string{"SIGNPOST_ADDR": ":8080"}, 2, "loopback"},
		{"a LAN address", []string{"serve", "-addr", "192.168.1.10:8080"}, nil, 2, "loopback"},
		{"IPv6 any", []string{"-addr", "[::]:8080"}, nil, 2, "loopback"},
		{"issuer without audience", []string{"-addr", "0.0.0.0:8080"}, map[string]string{"SIGNPOST_OIDC_ISSUER": "https://login.example.nhs.uk"}, 2, "SIGNPOST_OIDC_AUDIENCE"},
		{"audience without issuer", nil, map[string]string{"SIGNPOST_OIDC_AUDIENCE": "https://signpost.example/fhir"}, 2, "SIGNPOST_OIDC_ISSUER"},
		{"a bad rate limit", nil, map[string]string{"SIGNPOST_RATE_LIMIT": "fast"}, 2, "SIGNPOST_RATE_LIMIT"},
		{"a write timeout shorter than the request's", nil, map[string]string{"SIGNPOST_WRITE_TIMEOUT": "5s"}, 2, "SIGNPOST_WRITE_TIMEOUT"},
		{"a bad trusted proxy", nil, map[string]string{"SIGNPOST_TRUSTED_PROXIES": "10.0.0.0/8, nonsense"}, 2, "SIGNPOST_TRUSTED_PROXIES"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"SIGNPOST_DATA": t.TempDir()}
			for k, v := range tt.env {
				env[k] = v
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, securityEnv(env), &stdout, &stderr)
			assert.Equal(t, tt.status, code, "%s", stderr.String())
			assert.Contains(t, stderr.String(), tt.says)
			assert.Equal(t, 1, strings.Count(strings.TrimSpace(stderr.String()), "\n")+1, "one line: %q", stderr.String())
		})
	}
}

func TestSecurityConfigDefaults(t *testing.T) {
	c, err := loadConfig(nil, securityEnv(map[string]string{}), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Empty(t, c.OIDCIssuers)
	assert.Zero(t, c.RateLimit, "no rate limit in development mode")
	assert.Equal(t, 30*time.Second, c.ReadTimeout)
	assert.Equal(t, 60*time.Second, c.WriteTimeout)
	assert.Equal(t, 120*time.Second, c.IdleTimeout)

	c, err = loadConfig([]string{"-addr", "0.0.0.0:8443"}, securityEnv(map[string]string{
		"SIGNPOST_OIDC_ISSUER":     "https://users.example.nhs.uk/realms/gp, https://systems.example.nhs.uk",
		"SIGNPOST_OIDC_AUDIENCE":   "https://signpost.example/fhir",
		"SIGNPOST_CLAIM_ODS":       "org.ods",
		"SIGNPOST_CLAIM_ROLE":      "realm_access.roles",
		"SIGNPOST_CLAIM_SCOPE":     "scp",
		"SIGNPOST_CLAIM_TIER":      "navigator_tier",
		"SIGNPOST_CLAIM_PUBLISHER": "dos",
	}), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, []string{"https://users.example.nhs.uk/realms/gp", "https://systems.example.nhs.uk"}, c.OIDCIssuers)
	assert.Equal(t, "org.ods", c.Claims.ODS)
	assert.Equal(t, "realm_access.roles", c.Claims.Role)
	assert.Equal(t, "scp", c.Claims.Scope)
	assert.Equal(t, "navigator_tier", c.Claims.Tier)
	assert.Equal(t, "dos", c.Claims.Publisher)
	assert.Equal(t, 100.0, c.RateLimit, "a generous limit with an issuer")
	assert.Equal(t, 200, c.RateBurst)
}

// TestServeWithAnIssuer runs the gateway as main wires it, against a real
// in-process issuer: tokens are required, the SMART configuration names
// the issuer.
func TestServeWithAnIssuer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the gateway")
	}
	iss := oidctest.New(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	env := securityEnv(map[string]string{
		"SIGNPOST_DATA":          t.TempDir(),
		"SIGNPOST_OIDC_ISSUER":   iss.URL(),
		"SIGNPOST_OIDC_AUDIENCE": iss.Audience(),
		"SIGNPOST_LOG_LEVEL":     "warn",
	})
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-addr", addr}, env, &bytes.Buffer{}, &stderr) }()
	defer func() {
		cancel()
		assert.Equal(t, 0, <-done)
		assert.NotContains(t, stderr.String(), "DEVELOPMENT MODE")
	}()
	base := "http://" + addr
	require.Eventually(t, func() bool {
		r, err := http.Get(base + "/healthz")
		if err == nil {
			r.Body.Close()
		}
		return err == nil && r.StatusCode == 200
	}, 20*time.Second, 50*time.Millisecond)

	r, err := http.Get(base + "/fhir/Patient")
	require.NoError(t, err)
	r.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, r.StatusCode)
	assert.Equal(t, `Bearer realm="signpost"`, r.Header.Get("WWW-Authenticate"))

	req, _ := http.NewRequest("GET", base+"/fhir/Patient", nil)
	req.Header.Set("Authorization", "Bearer "+iss.Token(map[string]any{"scope": "user/Patient.rs", "ods": "A81001", "client_id": "app"}))
	r, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	r.Body.Close()
	assert.Equal(t, http.StatusOK, r.StatusCode)

	r, err = http.Get(base + "/fhir/.well-known/smart-configuration")
	require.NoError(t, err)
	var doc map[string]any
	defer r.Body.Close()
	require.NoError(t, json.NewDecoder(r.Body).Decode(&doc))
	assert.Equal(t, iss.TokenURL(), doc["token_endpoint"], fmt.Sprint(doc))
}

// serveLog is a log sink the serving goroutine writes while the test
// reads it.
type serveLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *serveLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *serveLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDevelopmentModeSaysSoLoudly: the README's run command still works
// (no issuer, loopback) and warns at start.
func TestDevelopmentModeSaysSoLoudly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the gateway")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr serveLog
	done := make(chan int, 1)
	env := securityEnv(map[string]string{"SIGNPOST_DATA": t.TempDir()})
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, env, &bytes.Buffer{}, &stderr) }()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "signpost listening") }, 20*time.Second, 20*time.Millisecond)
	cancel()
	assert.Equal(t, 0, <-done)
	log := stderr.String()
	assert.Contains(t, log, "DEVELOPMENT MODE")
	assert.Contains(t, log, `"level":"WARN"`)
	assert.Contains(t, log, `"development_mode":true`)
}
