package capability

import (
	"strings"
	"testing"
	"time"

	"github.com/signpost-fhir/signpost/fhir/interaction"
)

func TestOperationName(t *testing.T) {
	for code, want := range map[string]string{"delivery-status": "DeliveryStatus", "match": "Match", "dead-letters": "DeadLetters", "x2-y": "X2Y"} {
		if got := OperationName(code); got != want {
			t.Errorf("OperationName(%q) = %q, want %q", code, got, want)
		}
	}
}

// The statement lists the patch format the interaction engine parses.
func TestJSONPatchType(t *testing.T) {
	if JSONPatchType != interaction.JSONPatchType {
		t.Errorf("JSONPatchType %q, the engine parses %q", JSONPatchType, interaction.JSONPatchType)
	}
}

func TestOperationDefinitionsLevels(t *testing.T) {
	prefix := "https://example.org/OperationDefinition/"
	out, errs := OperationDefinitions(prefix, []Declared{
		{Name: "go", Level: TypeLevel, Type: "Task", Definition: prefix + "go", Idempotent: true},
		{Name: "go", Level: InstanceLevel, Type: "Task", Definition: prefix + "go"},
		{Name: "lookup", Level: TypeLevel, Type: "CodeSystem", Definition: "http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup"},
	}, testDate, "1.0")
	if len(errs) > 0 || len(out) != 1 {
		t.Fatalf("got %d definitions, errors %v", len(out), errs)
	}
	if got := string(out["go"]); !contains(got, `"affectsState":true`, `"type":true`, `"instance":true`, `"system":false`, `"name":"Go"`, `"resource":["Task"]`) {
		t.Errorf("OperationDefinition/go: %s", got)
	}
}

var testDate = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func contains(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
