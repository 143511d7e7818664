package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every configuration mistake is caught before anything starts, and told
// in one line on stderr with exit code 2.
func TestRunRefusesBadConfiguration(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	urlFile := write("database-url", "postgres://u:secret@db/signpost\n")
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		// says is a fragment the message must contain.
		says string
	}{
		{"address without port", nil, map[string]string{"SIGNPOST_ADDR": "localhost"}, "SIGNPOST_ADDR"},
		{"address flag", []string{"-addr", "not an address"}, nil, "SIGNPOST_ADDR"},
		{"address with serve", []string{"serve", "-addr", "8080"}, nil, "SIGNPOST_ADDR"},
		{"mysql URL", nil, map[string]string{"DATABASE_URL": "mysql://x"}, "postgres://"},
		{"mysql URL with a password", nil, map[string]string{"DATABASE_URL": "mysql://u:hunter2@x/db"}, "postgres://"},
		{"mysql URL flag", []string{"-database-url", "mysql://x"}, nil, "postgres://"},
		{"URL and URL file", nil, map[string]string{"DATABASE_URL": "postgres://x", "DATABASE_URL_FILE": urlFile}, "not both"},
		{"missing URL file", nil, map[string]string{"DATABASE_URL_FILE": filepath.Join(dir, "nope")}, "DATABASE_URL_FILE"},
		{"URL file is a folder", nil, map[string]string{"DATABASE_URL_FILE": dir}, "DATABASE_URL_FILE"},
		{"secrets key too short", nil, map[string]string{"SIGNPOST_SECRETS_KEY": "c2hvcnQ="}, "SIGNPOST_SECRETS_KEY"},
		{"secrets key and key file", nil, map[string]string{"SIGNPOST_SECRETS_KEY": "x", "SIGNPOST_SECRETS_KEY_FILE": urlFile}, "not both"},
		{"request timeout not a duration", nil, map[string]string{"SIGNPOST_REQUEST_TIMEOUT": "soon"}, "SIGNPOST_REQUEST_TIMEOUT"},
		{"request timeout zero", nil, map[string]string{"SIGNPOST_REQUEST_TIMEOUT": "0s"}, "SIGNPOST_REQUEST_TIMEOUT"},
		{"request timeout flag", []string{"-request-timeout", "-1s"}, nil, "SIGNPOST_REQUEST_TIMEOUT"},
		{"shutdown timeout without unit", nil, map[string]string{"SIGNPOST_SHUTDOWN_TIMEOUT": "20"}, "SIGNPOST_SHUTDOWN_TIMEOUT"},
		{"shutdown timeout negative", nil, map[string]string{"SIGNPOST_SHUTDOWN_TIMEOUT": "-5s"}, "SIGNPOST_SHUTDOWN_TIMEOUT"},
		{"log level", nil, map[string]string{"SIGNPOST_LOG_LEVEL": "loud"}, "SIGNPOST_LOG_LEVEL"},
		{"delivery workers negative", nil, map[string]string{"SIGNPOST_DELIVERY_WORKERS": "-1"}, "SIGNPOST_DELIVERY_WORKERS"},
		{"delivery attempts zero", nil, map[string]string{"SIGNPOST_DELIVERY_MAX_ATTEMPTS": "0"}, "SIGNPOST_DELIVERY_MAX_ATTEMPTS"},
		{"delivery timeout flag", []string{"-delivery-timeout", "never"}, nil, "SIGNPOST_DELIVERY_TIMEOUT"},
		{"max body", nil, map[string]string{"SIGNPOST_MAX_BODY_BYTES": "12"}, "SIGNPOST_MAX_BODY_BYTES"},
		{"max bundle entries", nil, map[string]string{"SIGNPOST_MAX_BUNDLE_ENTRIES": "0"}, "SIGNPOST_MAX_BUNDLE_ENTRIES"},
		{"public URL", nil, map[string]string{"SIGNPOST_PUBLIC_URL": "ftp://x"}, "SIGNPOST_PUBLIC_URL"},
		{"metrics address without port", nil, map[string]string{"SIGNPOST_METRICS_ADDR": "localhost"}, "SIGNPOST_METRICS_ADDR"},
		{"metrics address is the API's", []string{"-metrics-addr", "127.0.0.1:8080"}, nil, "SIGNPOST_METRICS_ADDR"},
		{"subscription endpoint over http", nil, map[string]string{"SIGNPOST_SUBSCRIPTION_ENDPOINTS": "http://hooks.example.org"}, "SIGNPOST_SUBSCRIPTION_ENDPOINTS"},
		{"subscription endpoint not a URL", nil, map[string]string{"SIGNPOST_SUBSCRIPTION_ENDPOINTS": "https://ok.example,hooks.example.org"}, "SIGNPOST_SUBSCRIPTION_ENDPOINTS"},
		{"subscription endpoint with a password", []string{"-subscription-endpoints", "https://u:hunter2@hooks.example.org"}, nil, "SIGNPOST_SUBSCRIPTION_ENDPOINTS"},
		{"demo history", nil, map[string]string{"SIGNPOST_DEMO_HISTORY": "sometimes"}, "SIGNPOST_DEMO_HISTORY"},
		{"demo history flag", []string{"-demo-history", "yes"}, nil, "SIGNPOST_DEMO_HISTORY"},
		{"stray argument", []string{"serve", "extra"}, nil, "extra"},
		{"unknown command", []string{"frobnicate"}, nil, "unknown command"},
		{"bench moved", []string{"bench", "-clients", "4"}, nil, "signpost-bench"},
		{"seedtasks moved", []string{"seedtasks"}, nil, "signpost-bench seedtasks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, &stdout, &stderr)
			if code != 2 {
				t.Errorf("exit code %d, want 2; stderr: %q", code, stderr.String())
			}
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "signpost: ") {
				t.Errorf("stderr is not one line starting \"signpost: \": %q", stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.says) {
				t.Errorf("stderr %q does not name %q", stderr.String(), tc.says)
			}
			for _, secret := range []string{"hunter2", "secret"} {
				if strings.Contains(stderr.String(), secret) {
					t.Errorf("stderr echoes a password: %q", stderr.String())
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: %q", stdout.String())
			}
		})
	}
}

// An unknown flag is a usage error too; the flag package adds the list
// of flags, so the last line, not the only one, is the verdict.
func TestRunUnknownFlag(t *testing.T) {
	for _, args := range [][]string{{"-no-such-flag"}, {"directory", "import", "-no-such-flag"}} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit code %d, want 2", args, code)
		}
		lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, "signpost: ") || !strings.Contains(last, "no-such-flag") {
			t.Errorf("%q: last line of stderr %q", args, last)
		}
	}
}

func TestRunVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"version"}, func(string) string { return "" }, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d; stderr %q", code, stderr.String())
	}
	if stdout.String() != "signpost "+version+"\n" || stderr.Len() != 0 {
		t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}

// Where rest-hook Subscriptions may send: loopback in development mode,
// nothing with an issuer unless listed, and what is listed (https unless
// loopback, prefixes matched by origin and whole path segments).
func TestOutboundEndpointsNamesDisagree(t *testing.T) {
	env := map[string]string{"SIGNPOST_OUTBOUND_ENDPOINTS": "http://127.0.0.1:9000", "SIGNPOST_SUBSCRIPTION_ENDPOINTS": "http://127.0.0.1:9001"}
	if _, err := loadConfig(nil, func(k string) string { return env[k] }, io.Discard); err == nil || !strings.Contains(err.Error(), "differ") {
		t.Fatalf("two different lists: %v, want a refusal", err)
	}
}

func TestSubscriptionEndpointsConfiguration(t *testing.T) {
	issuer := map[string]string{"SIGNPOST_OIDC_ISSUER": "https://idp.example", "SIGNPOST_OIDC_AUDIENCE": "https://gw.example/fhir"}
	with := func(base map[string]string, k, v string) map[string]string {
		env := map[string]string{k: v}
		for bk, bv := range base {
			env[bk] = bv
		}
		return env
	}
	const list = "https://hooks.example.org/signpost/, http://127.0.0.1:9000,https://record.example.nhs.uk"
	for _, tc := range []struct {
		name    string
		env     map[string]string
		allowed []string
		refused []string
	}{
		{"development mode", nil,
			[]string{"http://127.0.0.1:9000/hook", "https://localhost/h", "http://[::1]:8/h"},
			[]string{"https://hooks.example.org/signpost", "http://169.254.169.254/latest/meta-data", "http://10.0.0.5/", "ftp://127.0.0.1/h"}},
		{"development mode, none", map[string]string{"SIGNPOST_SUBSCRIPTION_ENDPOINTS": "none"},
			nil, []string{"http://127.0.0.1:9000/hook"}},
		{"issuer", issuer,
			nil, []string{"http://127.0.0.1:9000/hook", "https://hooks.example.org/signpost"}},
		{"issuer and a list", with(issuer, "SIGNPOST_SUBSCRIPTION_ENDPOINTS", list),
			[]string{"https://hooks.example.org/signpost", "https://hooks.example.org/signpost/practice/Y99999", "https://HOOKS.example.org:443/signpost/a",
				"http://127.0.0.1:9000/x", "https://record.example.nhs.uk/fhir/Subscription-hook"},
			[]string{"https://hooks.example.org/signpostx", "https://hooks.example.org/", "http://hooks.example.org/signpost", "https://hooks.example.org:8443/signpost",
				"https://hooks.example.org.evil.example/signpost", "https://hooks.example.org@evil.example/signpost", "http://127.0.0.1:9001/x",
				"http://localhost:9000/x", "https://record.example.nhs.uk.evil.example/", "https://hooks.example.org/signpost/../admin",
				"https://hooks.example.org/signpost/%2e%2e/admin", "not a url", ""}},
		{"the flag", with(issuer, "-subscription-endpoints", "https://hooks.example.org"),
			[]string{"https://hooks.example.org/anything"}, []string{"http://127.0.0.1:9000/x"}},
		{"the general name", with(issuer, "SIGNPOST_OUTBOUND_ENDPOINTS", "https://hooks.example.org/signpost"),
			[]string{"https://hooks.example.org/signpost/a"}, []string{"https://hooks.example.org/other", "http://127.0.0.1:9000/x"}},
		{"both names, the same list", with(with(issuer, "SIGNPOST_OUTBOUND_ENDPOINTS", "http://127.0.0.1:9000"), "SIGNPOST_SUBSCRIPTION_ENDPOINTS", "http://127.0.0.1:9000"),
			[]string{"http://127.0.0.1:9000/x"}, []string{"https://hooks.example.org/signpost"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			if v, ok := tc.env["-subscription-endpoints"]; ok {
				args = []string{"-subscription-endpoints", v}
			}
			c, err := loadConfig(args, func(k string) string { return tc.env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range tc.allowed {
				if !c.SubscriptionEndpoints.Allows(u) {
					t.Errorf("%q refused, want allowed (list %s)", u, c.SubscriptionEndpoints)
				}
			}
			for _, u := range tc.refused {
				if c.SubscriptionEndpoints.Allows(u) {
					t.Errorf("%q allowed, want refused (list %s)", u, c.SubscriptionEndpoints)
				}
			}
		})
	}
}
