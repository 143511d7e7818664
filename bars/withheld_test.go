package bars

import (
	"context"
	"testing"

	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// TestReferralWithheldNeedsRefusal: a referral is withheld only when the
// patient did not agree to share their details; a Task that records
// consent, or none, withholds nothing, and no service is looked up
// (the Service has no host to read).
func TestReferralWithheldNeedsRefusal(t *testing.T) {
	s := New(nil, Config{})
	consent := func(v bool) map[string]any {
		return map[string]any{"input": []any{map[string]any{
			"type": map[string]any{"coding": []any{map[string]any{
				"system": "https://signpost.example/fhir/CodeSystem/" + snomed.NavigationInput, "code": mapping.InputShareConsent}}},
			"valueBoolean": v}}}
	}
	if c := ShareConsent(consent(false)); c == nil || *c {
		t.Fatalf("share-consent false reads as %v", c)
	}
	for name, task := range map[string]map[string]any{"no input": {}, "consent given": consent(true)} {
		withheld, err := s.ReferralWithheld(context.Background(), task, map[string]any{})
		if err != nil || withheld {
			t.Errorf("%s: withheld %v, %v", name, withheld, err)
		}
	}
}
