package fhir_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
)

// mutate every string leaf in turn into a number; each must produce an error.
func TestScratchMutations(t *testing.T) {
	files, _ := filepath.Glob("../../shared/fhir/r4-examples-4.0.1/*.json")
	uk, _ := filepath.Glob("../../shared/fhir/ukcore-examples/*.json")
	files = append(files, uk...)
	total, missed := 0, 0
	for _, f := range files {
		if filepath.Base(f) == "package.json" {
			continue
		}
		data, _ := os.ReadFile(f)
		r, _ := fhir.ParseResource(data)
		var leaves []func(restore bool)
		var walk func(v any)
		walk = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				for k, e := range x {
					if s, ok := e.(string); ok && k != "resourceType" {
						k, s, x := k, s, x
						leaves = append(leaves, func(restore bool) {
							if restore {
								x[k] = s
							} else {
								x[k] = map[string]any{"bad": true}
							}
						})
					} else {
						walk(e)
					}
				}
			case []any:
				for _, e := range x {
					walk(e)
				}
			}
		}
		walk(r.Object())
		for _, l := range leaves {
			l(false)
			total++
			if r.Validate(fhir.ValidateOptions{}) == nil {
				missed++
			}
			l(true)
		}
	}
	t.Logf("mutations %d, missed %d", total, missed)
}
