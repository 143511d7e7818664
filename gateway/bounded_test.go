package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/gateway"
)

// Bounded work per request: a body made of errors gets a short answer.

// emptyNames is a Patient with n empty name elements, each an error
// ("an object must have at least one member"): 3 bytes an error.
func emptyNames(n int) string {
	return `{"resourceType":"Patient","name":[` + strings.Repeat(`{},`, n-1) + `{}]}`
}

// maxOutcomeIssues is what an OperationOutcome carries at most: 100
// issues and one more saying there are more.
const maxOutcomeIssues = 101

// TestValidationIssuesAreBounded: 1.8 MB of empty names (600,000
// errors) is answered 400 with at most 101 issues, the last saying there
// are more, in a small body, and nothing is stored. How long it takes and
// how much memory it needs is BenchmarkHostileBody's to measure.
func TestValidationIssuesAreBounded(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		body := emptyNames(600_000)
		require.Greater(t, len(body), 1_800_000)
		for _, tt := range []struct{ name, method, path, body string }{
			{"create", "POST", "/Patient", body},
			{"update", "PUT", "/Patient/p1", strings.Replace(body, `"resourceType":"Patient",`, `"resourceType":"Patient","id":"p1",`, 1)},
			{"transaction entry", "POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Patient"},"resource":` + body + `}]}`},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := g.do(tt.method, tt.path, tt.body)
				require.Equal(t, http.StatusBadRequest, r.status)
				assert.Less(t, len(r.body), 32<<10, "a short answer")
				issues := r.json(t)["issue"].([]any)
				assert.LessOrEqual(t, len(issues), maxOutcomeIssues)
				assert.Greater(t, len(issues), 50, "a useful number of them, though")
				last := issues[len(issues)-1].(map[string]any)
				assert.Contains(t, last["diagnostics"], "more", "the last issue says there are more")
			})
		}
		r := g.do("GET", "/Patient", "")
		require.Equal(t, http.StatusOK, r.status)
		assert.Empty(t, r.json(t)["entry"], "nothing stored")
	})
}

// TestBatchOfErrorsIsBounded: a batch's entries share the bound, so 1,000
// entries of 100 errors each (390 KB) are not answered with 100,000
// issues (18 MB): past the first 100 issues, each failed entry shows its
// first issue and how many more it had.
func TestBatchOfErrorsIsBounded(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		entry := `{"request":{"method":"POST","url":"Patient"},"resource":` + emptyNames(100) + `}`
		body := `{"resourceType":"Bundle","type":"batch","entry":[` + strings.Repeat(entry+",", 999) + entry + `]}`
		r := g.do("POST", "", body)
		require.Equal(t, http.StatusOK, r.status)
		assert.Less(t, len(r.body), len(body), "the answer is no larger than the question")
		total := 0
		for i, resp := range responses(t, r.json(t)) {
			assert.Equal(t, "400 Bad Request", resp["status"], "entry %d", i)
			issues := resp["outcome"].(map[string]any)["issue"].([]any)
			total += len(issues)
			last := issues[len(issues)-1].(map[string]any)
			assert.Contains(t, last["diagnostics"], "more", "entry %d says it has more", i)
		}
		assert.LessOrEqual(t, total, maxOutcomeIssues+2*999)
	})
}

// BenchmarkHostileBody measures the answer to 1.8 MB of empty names:
// time and memory per request (-benchmem), and the answer's size.
func BenchmarkHostileBody(b *testing.B) {
	g := newGateway(b, gateway.Options{Store: stores[0].open(b)})
	body := emptyNames(600_000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var size int
	for b.Loop() {
		r := g.do("POST", "/Patient", body)
		if r.status != http.StatusBadRequest {
			b.Fatalf("status %d", r.status)
		}
		size = len(r.body)
	}
	b.ReportMetric(float64(size), "answer-bytes")
}
