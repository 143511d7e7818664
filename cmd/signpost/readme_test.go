package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readmeTour is one ```sh block of the README's tour and what the README
// says it gives (its "# gives: …" lines: text its output contains).
type readmeTour struct {
	script string
	gives  []string
}

// readmeTourBlocks reads the ```sh blocks of the README's "## A short
// tour" section.
func readmeTourBlocks(t *testing.T, readme string) []readmeTour {
	t.Helper()
	start := strings.Index(readme, "\n## A short tour\n")
	require.GreaterOrEqual(t, start, 0, "the README has a tour")
	section := readme[start+1:]
	if end := strings.Index(section[1:], "\n## "); end >= 0 {
		section = section[:end+1]
	}
	var out []readmeTour
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1) {
		b := readmeTour{script: m[1]}
		for _, line := range strings.Split(m[1], "\n") {
			if g, ok := strings.CutPrefix(strings.TrimSpace(line), "# gives: "); ok {
				b.gives = append(b.gives, g)
			}
		}
		out = append(out, b)
	}
	return out
}

// Every example of the README's tour, run as pasted (curl, in a shell,
// at the repository's root, one after the other so that $id carries
// over) against a fresh gateway started as `go run ./cmd/signpost` starts
// it — development mode, the demo content and history — gives what the
// README says; and every page the README tells the reader to open answers.
// The only change to the commands is the gateway's address: the test's
// gateway listens on a free port, not 8080.
func TestReadmeTour(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the gateway")
	}
	for _, tool := range []string{"sh", "curl", "sed", "grep"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("the README's tour needs %s: %v", tool, err)
			}
			t.Skipf("the README's tour needs %s", tool)
		}
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	require.NoError(t, err)
	readme := string(b)
	blocks := readmeTourBlocks(t, readme)
	require.GreaterOrEqual(t, len(blocks), 5, "submit, propose, commit, read the outcome, the inbox")
	for i, blk := range blocks {
		require.NotEmpty(t, blk.gives, "tour block %d says what it gives:\n%s", i+1, blk.script)
	}

	g := startDevGateway(t, nil)
	hostPort := strings.TrimPrefix(g.root, "http://")
	address := func(s string) string {
		s = strings.ReplaceAll(s, "localhost:8080", hostPort)
		return strings.ReplaceAll(s, "127.0.0.1:8080", hostPort)
	}
	var script strings.Builder
	script.WriteString("set -e\n")
	for i, blk := range blocks {
		// On a line of its own: an answer may not end with a newline.
		script.WriteString("printf '\\n@@@ block " + strconv.Itoa(i) + "\\n'\n")
		script.WriteString(address(blk.script))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", script.String())
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the tour failed:\n%s", out)
	parts := regexp.MustCompile(`\n@@@ block \d+\n`).Split(string(out), -1)
	require.Len(t, parts, len(blocks)+1, "%s", out)
	for i, blk := range blocks {
		for _, want := range blk.gives {
			assert.Contains(t, parts[i+1], want, "tour block %d:\n%s\ngave:\n%s", i+1, blk.script, parts[i+1])
		}
	}

	// The pages the README points at, in the browser.
	links := regexp.MustCompile(`<(http://127\.0\.0\.1:8080/[^>]*)>`).FindAllStringSubmatch(readme, -1)
	require.NotEmpty(t, links)
	for _, l := range links {
		path := strings.TrimPrefix(l[1], "http://127.0.0.1:8080")
		status, _, body := g.call("GET", path, "")
		assert.Equal(t, 200, status, "%s: %s", l[1], body)
	}
	// And the documents it links to exist.
	for _, m := range regexp.MustCompile(`\]\(((?:docs/)[^)#]+)\)`).FindAllStringSubmatch(readme, -1) {
		_, err := os.Stat(filepath.Join(repoRoot, m[1]))
		assert.NoError(t, err, "the README links to %s", m[1])
	}
}
