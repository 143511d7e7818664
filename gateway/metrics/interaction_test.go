package metrics

import (
	"strings"
	"testing"
)

// The interaction label follows the FHIR URL grammar route serves, and
// never holds a path segment.
func TestInteraction(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		method, path, want string
	}{
		{"POST", "", "batch"},
		{"GET", "metadata", "metadata"},
		{"GET", "_history", "history"},
		{"GET", "Patient", "search"},
		{"HEAD", "Patient", "search"},
		{"POST", "Patient/_search", "search"},
		{"POST", "Patient", "create"},
		{"PUT", "Patient", "update"},
		{"DELETE", "Patient", "delete"},
		{"PATCH", "Patient", "patch"},
		{"GET", "Patient/1", "read"},
		{"PUT", "Patient/1", "update"},
		{"PATCH", "Patient/1", "patch"},
		{"DELETE", "Patient/1", "delete"},
		{"GET", "Patient/_history", "history"},
		{"GET", "Patient/1/_history", "history"},
		{"GET", "Patient/1/_history/2", "vread"},
		{"POST", "$validate-code", "operation"},
		{"GET", "ValueSet/$expand", "operation"},
		{"POST", "Task/1/$navigate", "operation"},
		{"OPTIONS", "Patient/1", "other"},
	} {
		var segs []string
		if c.path != "" {
			segs = strings.Split(c.path, "/")
		}
		if got := Interaction(c.method, segs); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.method, c.path, got, c.want)
		}
	}
}
