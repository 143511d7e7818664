package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// -h, --help and help list every command with what it does, on stdout,
// and exit 0.
func TestHelpListsTheCommands(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}, {"help"}} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr); code != 0 {
			t.Fatalf("%q: exit code %d; stderr %q", args, code, stderr.String())
		}
		out := stdout.String()
		for _, c := range []string{"serve", "directory", "lexicon", "version", "help"} {
			if !strings.Contains(out, "\n  "+c+" ") {
				t.Errorf("%q: %s is not listed:\n%s", args, c, out)
			}
		}
		if !strings.Contains(out, "run the FHIR gateway") || strings.Contains(out, "invalid configuration") {
			t.Errorf("%q: overview:\n%s", args, out)
		}
		if stderr.Len() != 0 {
			t.Errorf("%q: stderr %q", args, stderr.String())
		}
	}
}

// help COMMAND shows that command's own flags, on stdout, exit 0; so does
// COMMAND -h (on stderr, as the flag package does).
func TestHelpShowsACommandsFlags(t *testing.T) {
	env := func(string) string { return "" }
	for cmd, flags := range map[string][]string{
		"serve":     {"-addr", "-oidc-issuer", "-care-record-conceptmap", "SIGNPOST_ADDR"},
		"directory": {"-target", "-batch", "FILE|URL"},
		"lexicon":   {"-corpus", "-base"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"help", cmd}, env, &stdout, &stderr); code != 0 {
			t.Fatalf("help %s: exit code %d; stderr %q", cmd, code, stderr.String())
		}
		for _, f := range flags {
			if !strings.Contains(stdout.String(), f) {
				t.Errorf("help %s does not show %s:\n%s", cmd, f, stdout.String())
			}
		}
		stdout.Reset()
		args := []string{cmd, "-h"}
		if code := run(context.Background(), args, env, &stdout, &stderr); code != 0 {
			t.Errorf("%q: exit code %d; stderr %q", args, code, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"help", "nope"}, env, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `"nope"`) {
		t.Errorf("help nope: exit code %d, stderr %q", code, stderr.String())
	}
	// A flag list beside -h is still serve's own help, not the overview.
	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), []string{"-addr", "127.0.0.1:1", "-h"}, env, &stdout, &stderr); code != 0 || !strings.Contains(stderr.String(), "-oidc-issuer") {
		t.Errorf("-addr … -h: exit code %d, stderr %q", code, stderr.String())
	}
}
