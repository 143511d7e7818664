package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every usage mistake is caught before anything starts, and told in one
// line on stderr with exit code 2.
func TestRunRefusesBadUsage(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	urlFile := write("database-url", "postgres://u:secret@db/signpost\n")
	patient := write("patient.json", `{"resourceType":"Patient"}`)
	missing := filepath.Join(dir, "nope")
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		// says is a fragment the message must contain.
		says string
	}{
		{"zero clients", []string{"-clients", "0"}, nil, "-clients"},
		{"negative duration", []string{"-duration", "-1s"}, nil, "-duration"},
		{"bad duration", []string{"-duration", "ten"}, nil, "-duration"},
		{"negative warm-up", []string{"-warmup", "-2s"}, nil, "-warmup"},
		{"target not http", []string{"-target", "ftp://gw/fhir"}, nil, "-target"},
		{"mysql URL", []string{"-database-url", "mysql://x"}, nil, "postgres://"},
		{"URL and URL file", nil, map[string]string{"DATABASE_URL": "postgres://x", "DATABASE_URL_FILE": urlFile}, "not both"},
		{"missing fixture", []string{"-fixture", filepath.Join(dir, "nope.json")}, nil, "-fixture"},
		{"fixture not a Task", []string{"-fixture", patient}, nil, "not a Task"},
		{"gateway binary missing", []string{"-gateway", missing}, nil, "-gateway"},
		{"gateway with a target", []string{"-gateway", patient, "-target", "http://127.0.0.1:1/fhir"}, nil, "-gateway"},
		{"unknown command", []string{"frobnicate"}, nil, "unknown command"},
		{"seedtasks without a database", []string{"seedtasks"}, nil, "DATABASE_URL"},
		{"unknown flag", []string{"-no-such-flag"}, nil, "no-such-flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, &stdout, &stderr)
			if code != 2 {
				t.Errorf("exit code %d, want 2; stderr: %q", code, stderr.String())
			}
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "signpost-bench: ") {
				t.Errorf("stderr is not one line starting \"signpost-bench: \": %q", stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.says) {
				t.Errorf("stderr %q does not name %q", stderr.String(), tc.says)
			}
			if strings.Contains(stderr.String(), "secret") {
				t.Errorf("stderr echoes a password: %q", stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: %q", stdout.String())
			}
		})
	}
}

// help lists both commands on stdout; -h shows the flags.
func TestHelp(t *testing.T) {
	env := func(string) string { return "" }
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"help"}, env, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "seedtasks") {
		t.Errorf("help: exit code %d, stdout %q", code, stdout.String())
	}
	for args, flags := range map[string][]string{"-h": {"-target", "-clients", "-gateway"}, "seedtasks -h": {"-tasks", "-practices"}} {
		stdout.Reset()
		stderr.Reset()
		if code := run(context.Background(), strings.Fields(args), env, &stdout, &stderr); code != 0 {
			t.Errorf("%s: exit code %d", args, code)
		}
		for _, f := range flags {
			if !strings.Contains(stderr.String(), f) {
				t.Errorf("%s does not show %s:\n%s", args, f, stderr.String())
			}
		}
	}
}
